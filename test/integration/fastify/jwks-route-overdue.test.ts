/**
 * The plugin's JWKS route while the key ring's periodic read is overdue and the catch-up cannot reach
 * Redis (a thaw with Redis still out of reach, an outage): the set held here may lack a key another
 * instance activated at once, so it goes out with `Cache-Control: no-cache` (a cache asks again before
 * each use) instead of the usual public max-age, and with the max-age again once Redis answers. Real
 * redis-server behind a TCP proxy the test cuts.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { KEY_RING, appWith, connectionTo, pluginOptions, useRedisAndRealm } from './support.js';

const JWKS = '/.well-known/jwks.json';
/** Read every 200 ms: overdue 1.2 s after the last read. */
const RING = { ...KEY_RING, refreshIntervalMs: 200 };

const kids = (body: string): string[] => (JSON.parse(body) as { keys: { kid: string }[] }).keys.map((key) => key.kid);

describe('Fastify plugin: the JWKS while the key ring cannot be read', () => {
  const { server, realm } = useRedisAndRealm();
  const closeLater = closeAfterEach();

  it('no-cache while the read stays overdue (the set may lack a key activated elsewhere), the max-age again once Redis answers', async () => {
    const proxy = await TcpProxy.start(server.port);
    let app: FastifyInstance | undefined;
    try {
      const connection = { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 };
      app = await appWith(pluginOptions(server, realm, { connection, keyRing: RING }));
      const other = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(connectionTo(server))), RING));
      const held = app.kcc.keyRing.signingKey().kid;
      const current = await app.inject({ method: 'GET', url: JWKS });
      expect([current.headers['cache-control'], kids(current.body)]).toEqual(['public, max-age=60', [held]]);

      proxy.cut();
      const rotated = await other.rotate({ immediate: true });
      const ring = app.kcc.keyRing;
      await until(() => ring.health().readOverdue, 'the ring read overdue', 20_000);
      // The catch-up runs out (Redis cut off): the set held here, not to be kept by a cache.
      const overdue = await app.inject({ method: 'GET', url: JWKS });
      expect([overdue.statusCode, overdue.headers['cache-control'], kids(overdue.body)]).toEqual([200, 'no-cache', [held]]);
      const revalidated = await app.inject({ method: 'GET', url: JWKS, headers: { 'if-none-match': overdue.headers.etag as string } });
      expect([revalidated.statusCode, revalidated.headers['cache-control']]).toEqual([304, 'no-cache']);

      proxy.heal();
      await until(() => !ring.health().readOverdue, 'the ring read again', 20_000);
      const again = await app.inject({ method: 'GET', url: JWKS });
      expect([again.headers['cache-control'], kids(again.body)]).toEqual(['public, max-age=60', [rotated.kid]]);
    } finally {
      await app?.close();
      await proxy.stop();
    }
  });

  // A review of 554dad6: a read counted as done once Redis answered, before the ring it brought was
  // opened and adopted (which may wait for the key-encryption keys: here another instance rotated under
  // a key this one must fetch first, 1.5 s away). In between, the read was not overdue, so the route
  // skipped the catch-up and served the set held before with the max-age, and assertions were signed
  // with a key an emergency rotation had removed.
  it('a read counts once the ring it brought is adopted: no moment serves the old set as current', async () => {
    const proxy = await TcpProxy.start(server.port);
    const [first, second] = [KEY_RING.keyEncryptionKey!, 'overdue-adopt-key-encryption-key-two-0123456789abcdef']; // the app-env's ring is under the first
    let secondAvailable = false;
    const slowProvider = async () => {
      if (!secondAvailable) return { kek: first };
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // a slow Secrets Manager read
      return { kek: second, previous: [first] };
    };
    const ringOptions = { env: {}, algorithm: 'ES256', refreshIntervalMs: 500, activationDelayMs: 3_600_000 } as const;
    let app: FastifyInstance | undefined;
    try {
      const connection = { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 };
      app = await appWith(pluginOptions(server, realm, { connection, keyRing: { ...ringOptions, keyEncryptionKeyProvider: slowProvider } }));
      const ring = app.kcc.keyRing;
      const held = ring.signingKey().kid;
      proxy.cut();
      const other = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(connectionTo(server))), { ...ringOptions, keyEncryptionKeyProvider: async () => ({ kek: second, previous: [first] }) }));
      const rotated = (await other.rotate({ immediate: true })).kid;
      secondAvailable = true;
      await until(() => ring.health().readOverdue, 'the ring read overdue', 20_000);
      proxy.heal();
      await until(() => !ring.health().readOverdue, 'the ring read again', 20_000);
      const response = await app.inject({ method: 'GET', url: JWKS });
      const served = { cacheControl: response.headers['cache-control'], kids: kids(response.body), signs: (await ring.currentSigningKey()).kid };
      expect(served, `held before: ${held}`).toEqual({ cacheControl: 'public, max-age=60', kids: [rotated], signs: rotated });
    } finally {
      await app?.close();
      await proxy.stop();
    }
  });
});
