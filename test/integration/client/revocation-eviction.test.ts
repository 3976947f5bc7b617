/**
 * Another tenant of the cache fills its memory. Under `volatile-lru`, ElastiCache's default
 * eviction policy, the server then evicts keys that have an expiry, any tenant's (an attack review
 * reproduced it: app-env A's "log out everyone" evicted by tenant B's own writes, so a new instance of
 * A let a token from before it in). The revocation state is stored without an expiry, so it is not
 * among them; what is evicted (heartbeats, locks, replay records) costs no revocation.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { asAdmin, connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }, { app: 'evil', env: 'prod' }], persistence: 'none' });

describe('revocations when another tenant fills the memory (volatile-lru, the ElastiCache default)', () => {
  it('a "log out everyone" outlives the evictions: a new instance still refuses a token from before it', async () => {
    await asAdmin(server, async (admin) => {
      await admin.config('SET', 'maxmemory', '40mb');
      await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    });
    const first = await KccRedis.connect(kccOptions(server, 'shop-prod'), ['subscriber']);
    const revocations = await Revocations.start(first, {});
    const cutOff = Math.floor(Date.now() / 1000);
    await revocations.revokeAllBefore(cutOff);
    await revocations.close();
    await first.close();

    // Tenant B writes only its own keys, without an expiry, until the server refuses (OOM).
    const tenant = await connectAs(server, 'evil-prod');
    const value = 'x'.repeat(100_000);
    let refused = false;
    for (let i = 0; i < 2_000 && !refused; i++) await tenant.set(`evil-prod:fill:${i}`, value).catch(() => (refused = true));
    tenant.disconnect();
    expect(refused).toBe(true);
    const evicted = await asAdmin(server, async (admin) => Number(/evicted_keys:(\d+)/.exec(await admin.info('stats'))?.[1]));
    expect(evicted).toBeGreaterThan(0); // keys with an expiry went (the instance's heartbeat, at least)

    await asAdmin(server, async (admin) => admin.config('SET', 'maxmemory', '0'));
    const later = await KccRedis.connect(kccOptions(server, 'shop-prod'), ['subscriber']);
    try {
      expect(await asAdmin(server, (admin) => admin.get(later.key(REVOCATION_KEYS.clientNotBefore)))).toBe(String(cutOff));
      const fresh = await Revocations.start(later, {});
      expect(fresh.check({ sub: 'u', sid: 's', iat: cutOff - 10 })).toBe('revoked');
      await fresh.close();
    } finally {
      await later.close();
    }
  });
});
