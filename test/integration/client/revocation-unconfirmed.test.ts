/**
 * `stats.unconfirmed` and `kcc_redis.revocation.unconfirmed.count`: the revocations applied here
 * that Redis has not confirmed, including those whose first write is still waiting for an answer.
 *
 * Found by a lifecycle review: during an outage a first write waits through the connection's 20
 * reconnects before it fails, and only then counts in `stats.unwritten` (the review saw 22 reconnects
 * and 4.8 s of outage with unwritten at 0), so the alarm on `unwritten.count` stayed quiet exactly
 * while a shutdown could lose that logout.
 */
import { describe, expect, it } from 'vitest';
import { KccMetrics, KccRedis, type KccConnectionOptions, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { InMemoryMetrics } from '../../support/metric-reader.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'unconfirmed', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'unconfirmed-prod';
const QUIET = { warn: () => undefined, info: () => undefined };
const claims = (sid: string) => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 60 });

async function start(extra: KccConnectionOptions = {}): Promise<{ redis: KccRedis; revocations: Revocations }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { logger: QUIET, ...extra }), ['subscriber']));
  return { redis, revocations: closeLater(await Revocations.start(redis)) };
}

describe('revocations Redis has not confirmed', () => {
  it('count from the moment they are applied, while the first write still waits, in stats and in the metric', { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    const sdk = new InMemoryMetrics();
    try {
      const { redis, revocations: a } = await start({ url: proxy.url });
      const { revocations: b } = await start();
      const metrics = await KccMetrics.start({ redis, revocations: a }, { meterProvider: sdk.meterProvider });
      expect(a.stats).toMatchObject({ unwritten: 0, unconfirmed: 0 });

      proxy.cut();
      // Default backoff: the write waits through the reconnects for far longer than this test looks.
      const write = a.revokeSession('sid-pending').then(
        () => 'written',
        () => 'failed',
      );
      expect(a.stats).toMatchObject({ unwritten: 0, unconfirmed: 1 });
      expect(await sdk.value('kcc_redis.revocation.unconfirmed.count')).toBe(1);
      expect(await sdk.value('kcc_redis.revocation.unwritten.count')).toBe(0);

      proxy.heal();
      expect(await write).toBe('written');
      expect(a.stats).toMatchObject({ unwritten: 0, unconfirmed: 0 });
      expect(await sdk.value('kcc_redis.revocation.unconfirmed.count')).toBe(0);
      await until(() => b.check(claims('sid-pending')) === 'revoked', 'the revocation on b');
      metrics.close();
    } finally {
      await sdk.shutdown();
      await proxy.stop();
    }
  });
});
