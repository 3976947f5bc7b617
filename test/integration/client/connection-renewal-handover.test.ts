import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccClosedError, type KccConnectionOptions } from '../../../client/src/index.js';
import { until } from '../../support/events.js';
import { HOUR } from '../../support/fake-clock.js';
import { useIamHarness } from '../../support/iam-harness.js';

type Outcome<T> = { v: T } | { e: unknown };

/** What `promise` came to, without throwing: `{ v }` or `{ e }`. */
function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then((v) => ({ v }), (e: unknown) => ({ e }));
}

/** `promise`'s outcome, failing the test when it is still pending after `timeoutMs` (a bound, not a timing assertion). */
async function settled<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the commands a replaced or closed connection still holds are settled (IAM stand-in, real redis-server)', () => {
  const iam = useIamHarness({ connectDefaults: { heartbeat: false, logger: { info: () => {}, warn: () => {} } } });
  const connect = (extra: Partial<KccConnectionOptions> = {}) => iam.connect(extra);

  it('a command waiting for the old command connection to reconnect runs when the renewal replaces that connection', async () => {
    const redis = await connect({ reconnectBaseDelayMs: 2_000, reconnectMaxDelayMs: 2_000 });
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    iam.proxy.dropAll();
    await until(() => old.status === 'reconnecting', 'the old connection waiting to reconnect');
    const key = redis.key('queued-before-renewal');
    const queued = outcome(redis.run((r) => r.set(key, '1')));
    iam.clock.advance(11 * HOUR); // past the renewal point (9 to 10.8 hours)
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    expect(await settled(queued, 'the command queued on the replaced connection')).toEqual({ v: 'OK' });
    expect(await redis.run((r) => r.get(key))).toBe('1');
    await until(() => old.status === 'end', 'the replaced connection to end');
  });

  it('a command still running on the old command connection (BLPOP 3 s) finishes there; the renewal does not cut it', async () => {
    const redis = await connect();
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    const blpop = outcome(redis.run((r) => r.blpop(redis.key('empty-list'), 3)));
    await until(() => old.commandQueue.length === 1, 'BLPOP sent');
    iam.clock.advance(11 * HOUR);
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    expect(redis.client).not.toBe(old);
    expect(await settled(blpop, 'BLPOP')).toEqual({ v: null });
    await until(() => old.status === 'end', 'the replaced connection to quit after it');
    expect(redis.stats.renewalFailures).toBe(0);
  });

  it('close() during a renewal that waits for a long command on the old connection ends that connection too', async () => {
    const redis = await connect();
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    const blpop = outcome(redis.run((r) => r.blpop(redis.key('empty-list'), 60)));
    await until(() => old.commandQueue.length === 1, 'BLPOP sent');
    iam.clock.advance(11 * HOUR);
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    // The renewal would wait minutes for BLPOP; close() cuts that wait short.
    await settled(redis.close(), 'close()');
    expect(await settled(blpop, 'BLPOP')).toMatchObject({ e: expect.any(Error) });
    await until(() => old.status === 'end' && iam.proxy.openConnections === 0, 'every connection closed');
  });

  it('close() while the command connection waits to reconnect settles the commands queued on it', async () => {
    const redis = await connect({ reconnectBaseDelayMs: 5_000, reconnectMaxDelayMs: 5_000 });
    await redis.run((r) => r.ping());
    const client = redis.client;
    iam.proxy.dropAll();
    await until(() => client.status === 'reconnecting', 'the connection waiting to reconnect');
    const queued = outcome(redis.run((r) => r.set(redis.key('queued-before-close'), '1')));
    await settled(redis.close(), 'close()');
    const result = await settled(queued, 'the command queued before close()');
    expect(result).toMatchObject({ e: expect.any(KccClosedError) });
    expect(String((result as { e: unknown }).e)).toMatch(/closed .*while .*waited for the connection to Redis to come up/);
    expect(client.status).toBe('end');
    // Nothing more waits on it: a later command on the old object is refused at once.
    expect(await settled(outcome(client.ping()), 'a command after close()')).toMatchObject({ e: expect.any(Error) });
  });
});
