/**
 * Redis loses the ring (a restart without persistence) while the instance holding the newest
 * generation is cut off, and the first instance back is one that missed the last rotation: it
 * writes back the older generation it holds. Found by the history checker
 * (history-revocations.test.ts, KCC_HISTORY_SEED=100 KCC_HISTORY_STEPS=400, without persistence): a
 * failed login while both the signer and the verifier reported themselves current. Until the
 * instance holding the newer ring is back, the key that ring activated is in no other JWKS: the window
 * docs/signing-keys.md ("The ring is authenticated and never goes back") now names. What is promised,
 * and checked here: once it is back, it refuses the older ring (`rollback`), writes its own back, the
 * others adopt it, and its assertions verify everywhere.
 */
import { type JSONWebKeySet, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'reprostale', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'reprostale-prod';
/** activationDelayMs above refreshIntervalMs + 1 s: a key activated elsewhere is in every JWKS whose read is not overdue (docs/signing-keys.md). */
const RING: KeyRingOptions = { keyEncryptionKey: 'repro-key-encryption-key-0123456789abcdefghijklmnop', env: {}, algorithm: 'ES256', activationDelayMs: 7_000, refreshIntervalMs: 5_000, retireGraceMs: 600_000 };
const TIMING = { socketTimeoutMs: 1_500, connectTimeoutMs: 4_000, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100 };

async function instance(proxy: TcpProxy): Promise<KeyRing> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { ...TIMING, url: proxy.url, logger: { warn: () => {}, info: () => {} } }), ['reader']));
  return closeLater(await KeyRing.start(redis, RING));
}

describe('key ring after Redis lost its data, an instance that missed a rotation writes back first', () => {
  it('the older generation written back is refused by the instance holding the newer one once it is back, which writes its own: its assertions then verify with every JWKS', { timeout: 60_000 }, async () => {
    const proxyA = await TcpProxy.start(server.port);
    const proxyC = await TcpProxy.start(server.port);
    closeLater({ close: () => Promise.all([proxyA.stop(), proxyC.stop()]) });
    const a = await instance(proxyA);
    const c = await instance(proxyC);

    proxyC.cut(); // C misses the rotation
    const { kid: next } = await a.rotate();
    await until(() => a.signingKey().kid === next, 'the next key active on A', 15_000);

    proxyA.cut(); // A cannot reach Redis for a while
    await server.kill();
    await server.restart(); // without its data: the ring is gone
    const restoredByC = nextEvent<[{ generation: number }]>(c, 'restored');
    proxyC.heal();
    const [{ generation: older }] = await restoredByC; // C wrote back the generation it holds, without the next key
    expect(older).toBeLessThan(a.health().generation);
    const assertion = await a.signClientAssertion({ clientId: 'shop', audience: 'https://sso.example.test/realms/main' });
    expect(decodeProtectedHeader(assertion).kid).toBe(next);

    const restoredByA = nextEvent<[{ generation: number; replaced: string }]>(a, 'restored', 30_000);
    proxyA.heal();
    expect((await restoredByA)[0]).toMatchObject({ generation: a.health().generation, replaced: 'rollback' });
    await until(() => c.health().generation === a.health().generation, 'C adopting the newer ring', 30_000);
    const jwks = (await c.currentJwks()) as JSONWebKeySet;
    expect(jwks.keys.map((k) => k.kid)).toContain(next);
    await jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: 'shop', audience: 'https://sso.example.test/realms/main' });
  });
});
