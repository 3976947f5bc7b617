/**
 * A node that vanishes: its host fails, no reset reaches the client, and the endpoint's name moves
 * on to a healthy node (ElastiCache's failover updates the primary endpoint's DNS record). Every
 * connection open to the old node then hangs: without a bound, each command waits until the kernel
 * gives up on the socket (about 15 minutes on Linux), and a listening connection is never told.
 * AWS's advice for clients is a client-side timeout on every command ("Configure a client-side
 * timeout (Valkey and Redis OSS)",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/BestPractices.Clients.Redis.ClientTimeout.html).
 *
 * Found on 2026-12-04 with this test's set-up before `socketTimeoutMs` existed: for the 92 s it
 * watched, the instance answered `'stale'` to every check from the 7th second on (with the default
 * fail-closed policy, every request it served was refused), its logout never resolved (and the
 * other instances never heard of it), and it reconnected nothing.
 *
 * Here a TCP proxy plays the endpoint: `vanish()` makes every connection open through it drop every
 * byte for good while new connections pass to the (same, healthy) server.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { EventLog } from '@kcc-redis/client/primitives';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'vanish', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'vanish-prod';

describe('a Redis node that vanishes without a reset (a host failure; the endpoint moves on)', () => {
  it('every connection notices within socketTimeoutMs and reconnects: the logout in flight is written, checks never go stale, messages and the log tail flow again', { timeout: 120_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (message: string) => void warnings.push(message), error: (message: string) => void warnings.push(message) };
    try {
      // X: the instance under test, through the endpoint that vanishes (default socketTimeoutMs and maxStalenessMs).
      const xRedis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, instanceId: 'x', logger }), ['subscriber', 'reader']));
      const x = closeLater(await Revocations.start(xRedis));
      const heard: string[] = [];
      await xRedis.subscribe(xRedis.channel('probe'), (message) => void heard.push(message));
      const tailed: number[] = [];
      const xTail = await new EventLog<number>(xRedis, { name: 'probe-log', maxAgeMs: 60_000 }).tail((event) => void tailed.push(event.data));
      closeLater({ close: () => xTail.stop() });
      // Y: another instance, connected directly.
      const yRedis = closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId: 'y' })));
      const y = closeLater(await Revocations.start(yRedis));
      const yLog = new EventLog<number>(yRedis, { name: 'probe-log', maxAgeMs: 60_000 });

      // Whatever X answers from now on, for a session nobody revoked.
      const answers = new Set<string>();
      const sampler = setInterval(() => answers.add(x.check({ sid: 'never-revoked' })), 100);
      try {
        proxy.vanish();
        // A logout X takes while its node vanishes: written once X's command connection is back.
        // Y hears it by pub/sub (or its log tail) a moment after X's call resolves, never before.
        await x.revokeSession('taken-during-the-loss');
        await until(() => y.check({ sid: 'taken-during-the-loss' }) === 'revoked', 'the logout taken during the loss, on Y', 30_000);

        // Each of X's three connections was closed for want of a reply, and said so.
        await until(() => ['commands', 'subscriber', 'reader'].every((role) => warnings.some((w) => w.startsWith(`the ${role} connection`))), 'a socket timeout on each of the three connections', 60_000);
        expect(xRedis.stats.socketTimeouts).toBeGreaterThanOrEqual(3);
        expect(warnings.find((w) => w.startsWith('the commands connection'))).toMatch(/got no reply within 10000 ms \(socketTimeoutMs\): closed it, reconnecting/);
        expect(warnings.find((w) => w.startsWith('the reader connection'))).toMatch(/got no reply within 15000 ms \(socketTimeoutMs\)/);

        // The subscriber hears messages again, and the reader reads the log again.
        await until(() => xRedis.subscriberReady, 'the subscriber connection back', 30_000);
        await until(() => {
          void yRedis.publish(yRedis.channel('probe'), 'after');
          return heard.includes('after');
        }, 'a message published after the loss, heard by X', 30_000);
        await yLog.append('probe', 7);
        await until(() => tailed.includes(7), 'an entry appended after the loss, read by X\'s tail', 30_000);

        // A logout taken elsewhere after the loss reaches X.
        await y.revokeSession('taken-after-the-loss');
        await until(() => x.check({ sid: 'taken-after-the-loss' }) === 'revoked', 'the later logout on X', 30_000);
      } finally {
        clearInterval(sampler);
      }
      // maxStalenessMs is 30 s; X was back in contact long before.
      expect([...answers]).toEqual(['active']);
    } finally {
      await proxy.stop();
    }
  });
});
