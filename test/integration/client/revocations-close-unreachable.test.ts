/**
 * `Revocations.close()` while Redis is unreachable: an app shutting down during an outage (its
 * instances reported `stale`, the load balancer replaced them) must not hang in close(). The docs
 * bound what close waits for (revocations Redis has not confirmed: closeTimeoutMs; none here); a log
 * read still in flight must not keep it waiting until ioredis gives up on the command (20 reconnect
 * attempts, up to 5 s each).
 *
 * Found by test/integration/e2e/node-loss.test.ts (its teardown hung past the 60 s hook timeout).
 * Fixed in client/src/revocation/revocations.ts, close(): both waits on Redis are bounded.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'closing-prod';
const server = useTestRedis({ appEnvs: [{ app: 'closing', env: 'prod' }], persistence: 'none' });

describe('Revocations.close() while Redis is unreachable', () => {
  it('returns within a bound although a log poll is in flight', { timeout: 30_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    const redis = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url }), ['subscriber']);
    try {
      // A poll every 100 ms: one is in flight once the instance has gone stale behind the cut.
      const revocations = await Revocations.start(redis, { maxStalenessMs: 300 });
      await revocations.revokeSession('before-the-outage');
      proxy.cut();
      await until(() => revocations.stale, 'the instance stale behind the cut');
      const outcome = await Promise.race([
        revocations.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still closing after 10 s'), 10_000)),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      await redis.close();
      await proxy.stop();
    }
  });
});
