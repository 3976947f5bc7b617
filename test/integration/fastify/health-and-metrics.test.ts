/**
 * The plugin's opt-in health route (200 while the instance serves correctly, 503 when it does not,
 * a JSON summary with no secret, never cached) and its OpenTelemetry metrics (on a given
 * MeterProvider, or off), against the real redis-server.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { KccHealthSummary } from '../../../client/src/fastify/index.js';
import { ATTRIBUTES } from '../../../client/src/metrics/instruments.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { InMemoryMetrics } from '../../support/metric-reader.js';
import { connectAs } from '../../support/redis.js';
import { secretsIn } from '../../support/secret-scan.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { KEY_RING, USER, appWith, connectionTo, pluginOptions, useRedisAndRealm } from './support.js';

const HEALTH = '/.well-known/kcc-health';

describe('Fastify plugin: health route and metrics, against the real redis-server', () => {
  const { server, realm } = useRedisAndRealm();

  /** An app whose connection runs through a proxy the test can cut. */
  async function behindProxy(overrides: Parameters<typeof pluginOptions>[2] = {}): Promise<{ app: FastifyInstance; proxy: TcpProxy }> {
    const proxy = await TcpProxy.start(server.port);
    const connection = { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 };
    const app = await appWith(pluginOptions(server, realm, { connection, routes: { health: true }, ...overrides }));
    return { app, proxy };
  }

  describe('GET /.well-known/kcc-health', () => {
    it('is not mounted unless asked', async () => {
      const app = await appWith(pluginOptions(server, realm, { metrics: false }));
      try {
        expect((await app.inject({ method: 'GET', url: HEALTH })).statusCode).toBe(404);
      } finally {
        await app.close();
      }
    });

    it('200 with the summary (states and the generation only), JSON, no-store; at a path of your own too; HEAD answers the headers', async () => {
      const app = await appWith(pluginOptions(server, realm, { routes: { health: '/internal/health' } }));
      try {
        const response = await app.inject({ method: 'GET', url: '/internal/health' });
        expect(response.statusCode).toBe(200);
        expect(response.headers['cache-control']).toBe('no-store');
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
        const body = response.json<KccHealthSummary>();
        expect(body).toEqual({
          status: 'ok',
          serving: true,
          keyRing: { status: 'ready', generation: app.kcc.keyRing.health().generation },
          revocations: { status: 'current', stalenessSeconds: expect.any(Number), failOpen: false },
        });
        expect(body.revocations.stalenessSeconds).toBeGreaterThanOrEqual(0);
        const head = await app.inject({ method: 'HEAD', url: '/internal/health' });
        expect([head.statusCode, head.headers['cache-control'], head.body]).toEqual([200, 'no-store', '']);
        expect((await app.inject({ method: 'GET', url: HEALTH })).statusCode).toBe(404);
      } finally {
        await app.close();
      }
    });

    it('holds no secret and no key id: not the password, the key-encryption key, a kid, or a revoked id', async () => {
      const app = await appWith(pluginOptions(server, realm, { routes: { health: true } }));
      try {
        await app.kcc.revocations.revokeSession('a-revoked-session-id');
        const body = (await app.inject({ method: 'GET', url: HEALTH })).body;
        const secrets = [server.users.get(USER)!.password, KEY_RING.keyEncryptionKey!, ...app.kcc.keyRing.jwks().keys.map((key) => key.kid!), 'a-revoked-session-id'];
        expect(secretsIn(body, secrets)).toEqual([]);
        expect(Object.keys(JSON.parse(body) as object).sort()).toEqual(['keyRing', 'revocations', 'serving', 'status']);
      } finally {
        await app.close();
      }
    });

    it('fail-closed and cut off from Redis past maxStalenessMs: 503 (serving false, revocations stale), no-store; 200 again once caught up', async () => {
      const { app, proxy } = await behindProxy({ revocations: { maxStalenessMs: 300 } });
      try {
        expect((await app.inject({ method: 'GET', url: HEALTH })).statusCode).toBe(200);
        const stale = nextEvent(app.kcc.revocations, 'stale');
        proxy.cut();
        await stale;
        const refused = await app.inject({ method: 'GET', url: HEALTH });
        expect(refused.statusCode).toBe(503);
        expect(refused.headers['cache-control']).toBe('no-store');
        const body = refused.json<KccHealthSummary>();
        expect(body).toMatchObject({ status: 'degraded', serving: false, revocations: { status: 'stale', failOpen: false } });
        expect(body.revocations.stalenessSeconds).toBeGreaterThan(0.3);
        const fresh = nextEvent(app.kcc.revocations, 'fresh');
        proxy.heal();
        await fresh;
        // Not asserted on the very next request: maxStalenessMs is short here, and on a busy machine the
        // request may come over 300 ms after the read that made the state fresh.
        await untilAsync(async () => {
          const back = await app.inject({ method: 'GET', url: HEALTH });
          return back.statusCode === 200 && back.json<KccHealthSummary>().status === 'ok';
        }, 'health 200 and ok again once caught up');
      } finally {
        await app.close();
        await proxy.stop();
      }
    });

    it('fail-open and stale: 200, status degraded (requests still pass, so the instance still serves)', async () => {
      const { app, proxy } = await behindProxy({ revocations: { maxStalenessMs: 300, failOpen: true } });
      try {
        const stale = nextEvent(app.kcc.revocations, 'stale');
        proxy.cut();
        await stale;
        const response = await app.inject({ method: 'GET', url: HEALTH });
        expect(response.statusCode).toBe(200);
        expect(response.json<KccHealthSummary>()).toMatchObject({ status: 'degraded', serving: true, revocations: { status: 'stale', failOpen: true } });
      } finally {
        await app.close();
        await proxy.stop();
      }
    });

    it('a ring in Redis this instance refuses (unknown key-encryption key): 200, status degraded, key ring degraded (the ring held here still signs)', async () => {
      const app = await appWith(pluginOptions(server, realm, { routes: { health: true }, keyRing: { ...KEY_RING, refreshIntervalMs: 50 } }));
      const raw: Redis = await connectAs(server, USER);
      const good = (await storedRing(raw, USER))!.value;
      try {
        const foreign = await sealedWith('another-key-encryption-key-0123456789abcdefghijklmnop', { ...ringPayload(good), generation: ringPayload(good).generation + 1 });
        await writeStoredRing(raw, USER, foreign);
        await until(() => app.kcc.keyRing.health().status === 'degraded', 'the ring refused');
        const response = await app.inject({ method: 'GET', url: HEALTH });
        expect(response.statusCode).toBe(200);
        expect(response.json<KccHealthSummary>()).toMatchObject({ status: 'degraded', serving: true, keyRing: { status: 'degraded' } });
      } finally {
        await writeStoredRing(raw, USER, good);
        raw.disconnect();
        await app.close();
      }
    });
  });

  describe('metrics', () => {
    it('on the given MeterProvider: the connection, ring and revocations of the plugin, attributed with the app-env; none after close', async () => {
      const sdk = new InMemoryMetrics();
      const app = await appWith(pluginOptions(server, realm, { metrics: { meterProvider: sdk.meterProvider } }));
      try {
        await app.kcc.revocations.revokeSession('plugin-metrics-session');
        const collected = await sdk.collect();
        const point = (name: string) => collected.get(name)?.points[0];
        expect(point('kcc_redis.revocation.applied')).toEqual({ attributes: { [ATTRIBUTES.appEnv]: 'shop-prod' }, value: 1 });
        expect(point('kcc_redis.key_ring.generation')?.value).toBe(app.kcc.keyRing.health().generation);
        expect(point('kcc_redis.connection.reconnects')?.value).toBe(0);
        expect(point('kcc_redis.revocation.stale')?.value).toBe(0);
      } finally {
        await app.close();
        await sdk.shutdown();
      }
    });

    it('onClose stops observing: a provider first collected after close sees no series', async () => {
      const sdk = new InMemoryMetrics();
      const app = await appWith(pluginOptions(server, realm, { metrics: { meterProvider: sdk.meterProvider } }));
      await app.close();
      try {
        expect([...(await sdk.collect()).keys()]).toEqual([]);
      } finally {
        await sdk.shutdown();
      }
    });

    it('metrics: false reports nothing, even with a global MeterProvider registered', async () => {
      const { metrics } = await import('@opentelemetry/api');
      const sdk = new InMemoryMetrics();
      expect(metrics.setGlobalMeterProvider(sdk.meterProvider)).toBe(true);
      try {
        const off = await appWith(pluginOptions(server, realm, { metrics: false }));
        expect([...(await sdk.collect()).keys()]).toEqual([]);
        await off.close();
        // The default: the global MeterProvider.
        const on = await appWith(pluginOptions(server, realm));
        expect((await sdk.collect()).get('kcc_redis.revocation.applied')?.points[0]?.value).toBe(0);
        await on.close();
      } finally {
        metrics.disable();
        await sdk.shutdown();
      }
    });
  });
});
