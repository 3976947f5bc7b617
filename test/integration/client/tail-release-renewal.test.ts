/**
 * A log tail stopped while its connection is being renewed (IAM: before ElastiCache's 12-hour limit)
 * leaves nothing registered and counts no failure (a review of KccRedis.releaseDedicated). Its
 * renewal hook holds the tail and what its handler reaches (a key ring's, its private keys): kept
 * registered after the stop, it held them until the connection closed. Real redis-server behind a
 * TCP proxy, IAM tokens from the test harness, a fake clock for the connection's age.
 */
import { describe, expect, it } from 'vitest';
import { EventLog } from '../../../client/src/event-log.js';
import { until } from '../../support/events.js';
import { HOUR } from '../../support/fake-clock.js';
import { useIamHarness } from '../../support/iam-harness.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

type Internals = { renewHooks: Map<unknown, (next: unknown) => Promise<void>>; retiring: Set<unknown> };

describe('a log tail stopped during its connection renewal', () => {
  const iam = useIamHarness();

  it('stopped right after it moved to the new connection: its hook is not registered again', async () => {
    const redis = await iam.connect();
    const internals = redis as unknown as Internals;
    const tail = await new EventLog<number>(redis, { name: 'moved', maxAgeMs: 100 * HOUR }).tail(() => undefined);
    const [reader, hook] = [...internals.renewHooks][0]!;
    let stopping: Promise<void> | undefined;
    internals.renewHooks.set(reader, async (next) => {
      await hook(next);
      stopping = tail.stop(); // e.g. its key ring closed in the same tick
    });
    iam.clock.advance(11 * HOUR);
    await until(() => stopping !== undefined && internals.retiring.size === 0 && redis.stats.renewals === 2, 'both renewed, the old ones retired', 30_000);
    await stopping;
    expect(internals.renewHooks.size).toBe(0);
    await redis.close();
  });

  it('stopped while its successor connects, which then fails: no renewal failure counted for it', async () => {
    const front = await TcpProxy.start(iam.proxy.port);
    try {
      const redis = await iam.connect({ url: front.url, connectTimeoutMs: 1_500 });
      const tail = await new EventLog<number>(redis, { name: 'failing', maxAgeMs: 100 * HOUR }).tail(() => undefined);
      // The successors of the command connection and of the tail's are held until they time out.
      front.hold(2);
      iam.clock.advance(11 * HOUR);
      await until(() => front.heldCount === 2, 'both successors connecting', 30_000);
      await tail.stop();
      // Both renewals over (each successor is claimed until its renewal ends): the command connection's failed.
      await until(() => redis.stats.renewalFailures >= 1 && (redis as unknown as { claiming: Set<unknown> }).claiming.size === 0, 'both renewals over', 30_000);
      expect(redis.stats.renewalFailures).toBe(1);
      front.release();
      await redis.close();
    } finally {
      front.release();
      await front.stop();
    }
  });
});
