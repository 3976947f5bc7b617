/**
 * The Redis node restarts without persistence while instances run: the ring and its log are gone.
 * Running instances write the ring back as soon as their connections are back (the log's tail finds
 * the log empty after its reconnect), not at their next periodic read. An instance that starts in the
 * moment before, on an empty namespace, creates a key of its own; of the two rings of generation 1,
 * every instance keeps the one written earlier, so the running instances never swap to a key no
 * identity provider has fetched, and the newcomer moves to theirs. Found by an audit (2026-12-03):
 * before, the running instances only noticed at their next periodic read (30 s by default), and the
 * higher digest won, so in about half the cases every instance switched to the newcomer's key at once.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, storedRing } from '../../support/stored-ring.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const KEK = 'redis-loss-test-key-encryption-key-0123456789abcdefghijklmnop';
/** Rounds of the race: without the rule, the newcomer's ring wins about half of them (a digest compare). */
const ROUNDS = 5;
const server = useTestRedis({ appEnvs: [{ app: 'lossback', env: 'prod' }, ...Array.from({ length: ROUNDS }, (_, i) => ({ app: `lossnew${i}`, env: 'prod' }))], persistence: 'none' });
const closeLater = closeAfterEach();

/** The periodic read an hour away: what happens here comes from the reconnect and the log. `url`: through a proxy. */
async function instance(user: string, url?: string): Promise<KeyRing> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user, url ? { url } : {})));
  return closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 3_600_000, lockTtlMs: 2_000 }));
}

describe('key ring: Redis restarts without its data while instances run', () => {
  it('the running instances write their ring back once they reconnect, without waiting for their periodic read', async () => {
    const user = 'lossback-prod';
    const a = await instance(user);
    const known = a.signingKey().kid;
    await server.restart();
    const raw = closeLater(await connectAs(server, user));
    await untilAsync(async () => (await storedRing(raw, user)) !== undefined, 'the ring written back', 20_000);
    expect(ringPayload((await storedRing(raw, user))!.value).keys.map((k) => k.kid)).toEqual([known]);
    expect(a.stats.restored).toBe(1);
    expect((await instance(user)).signingKey().kid).toBe(known);
  });

  it('an instance that starts before they have: every instance ends on the running instances\' key, which never leaves their JWKS; the newcomer\'s key stays published', { timeout: 240_000 }, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const user = `lossnew${round}-prod`;
      // The running instances reach Redis through a proxy, cut while Redis restarts and until the newcomer has written its own ring.
      const proxy = await TcpProxy.start(server.port);
      try {
        const a = await instance(user, proxy.url);
        const b = await instance(user, proxy.url);
        const known = a.signingKey().kid;
        let swapped = false;
        for (const ring of [a, b]) ring.on('change', (info) => (swapped ||= info.activeKid !== known || !info.publishedKids.includes(known)));
        proxy.cut();
        await server.restart();
        const c = await instance(user);
        const fresh = c.signingKey().kid;
        expect(fresh, `round ${round}: the newcomer, alone, created a key of its own`).not.toBe(known);
        // What the newcomer signed meanwhile: an identity provider may have fetched its key, or will verify this later.
        const signed = await c.signClientAssertion({ clientId: 'app', audience: 'https://idp.example/realms/r' });
        proxy.heal();
        await until(() => c.signingKey().kid === known, `round ${round}: the newcomer on the running instances' key`, 20_000);
        expect([swapped, a.signingKey().kid, b.signingKey().kid], `round ${round}`).toEqual([false, known, known]);
        // Every instance publishes the newcomer's key for the grace period, and none signs with it.
        await until(() => [a, b].every((ring) => ring.jwks().keys.some((k) => k.kid === fresh)), `round ${round}: the newcomer's key published by the running instances`, 20_000);
        for (const ring of [a, b, c]) {
          expect(ring.jwks().keys.map((k) => k.kid).sort(), `round ${round}`).toEqual([known, fresh].sort());
          await expect(jwtVerify(signed, createLocalJWKSet({ keys: [...ring.jwks().keys] }), { audience: 'https://idp.example/realms/r' }), `round ${round}`).resolves.toBeDefined();
        }
        expect(a.stats.restored + b.stats.restored, `round ${round}: one of them wrote it`).toBeGreaterThanOrEqual(1);
      } finally {
        await proxy.stop();
      }
    }
  });
});
