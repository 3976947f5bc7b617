/**
 * The stored revocation state read by a new instance: chunked, pipelined reads that lose nothing
 * while other instances write and prune, and a format that instances of the previous release read
 * and write alike during a rolling deploy. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { loadRevocationSnapshot } from '../../../client/src/revocation/revocation-snapshot.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 10 }, (_, i) => ({ app: `snap${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();
const LIFETIME_MS = 3_600_000;

async function namespace(): Promise<{ user: string; raw: Redis; redis: KccRedis; sessions: string }> {
  const user = `snap${ns++}-prod`;
  const raw = await connectAs(server, user);
  const redis = await KccRedis.connect(kccOptions(server, user), ['subscriber']);
  closeLater(raw);
  closeLater(redis);
  return { user, raw, redis, sessions: redis.key(REVOCATION_KEYS.sessions) };
}

/** Stores `count` sessions named `${prefix}${i}` with expiry `exp(i)` (ms), in batches. */
async function store(raw: Redis, key: string, prefix: string, count: number, exp: (i: number) => number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (let i = 0; i < count; i += 1_000) {
    await raw.zadd(key, ...ids.slice(i, i + 1_000).flatMap((id, j) => [exp(i + j), id]));
  }
  return ids;
}

describe('loading the stored sessions (chunked, pipelined)', () => {
  it('loads every live session across many chunks, skips expired ones, caps expiries at this instance\'s lifetime', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    const live = await store(raw, sessions, 'live-', 2_345, (i) => now + 60_000 + i);
    const expired = await store(raw, sessions, 'gone-', 300, (i) => now - 1_000 - i);
    await raw.zadd(sessions, now + 100 * LIFETIME_MS, 'far-future');
    const index = new RevocationIndex();
    const { loaded, refused } = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100 });
    expect({ loaded, refused }).toEqual({ loaded: 2_346, refused: 0 });
    expect(index.sessionCount).toBe(2_346);
    for (const id of live) expect(index.isRevoked({ sid: id }), id).toBe(true);
    for (const id of expired) expect(index.isRevoked({ sid: id }), id).toBe(false);
    // Capped at now + lifetime: pruned once that has passed, though Redis said later.
    index.prune(Date.now() + LIFETIME_MS + 1_000, LIFETIME_MS);
    expect(index.isRevoked({ sid: 'far-future' })).toBe(false);
  });

  it('loses no session present throughout while others add, raise and prune during the load', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    // Expired members at the bottom (not pruned yet), live ones above.
    await store(raw, sessions, 'expired-', 1_000, (i) => now - 10_000 + i);
    const live = await store(raw, sessions, 'live-', 3_000, (i) => now + 60_000 + i);
    const chunk = 100;
    let mutated = false;
    // Once the first reads are in flight, on the loader's own connection (so the server runs these
    // between its pipelined reads, deterministically): prune every expired member (the bottom), add
    // new members at the top, and raise an unread member to the top (ZADD GT), as other instances do.
    class MutatingIndex extends RevocationIndex {
      override reserveSessions(count: number): void {
        super.reserveSessions(count);
        if (mutated) return;
        mutated = true;
        const client = redis.client as Redis;
        void client.zremrangebyscore(sessions, '-inf', String(now));
        void client.zadd(sessions, ...Array.from({ length: 500 }, (_, i) => [now + LIFETIME_MS + i, `new-${i}`]).flat());
        void client.zadd(sessions, 'GT', now + 2 * LIFETIME_MS, 'live-0');
      }
    }
    const index = new MutatingIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk });
    expect(mutated).toBe(true);
    const missed = live.slice(1).filter((id) => !index.isRevoked({ sid: id }));
    expect(missed).toEqual([]);
  });

  it('sizes the table once from ZCARD before reading (no step-by-step growth while loading)', async () => {
    const { raw, redis, sessions } = await namespace();
    await store(raw, sessions, 'r-', 20_000, () => Date.now() + 600_000);
    const index = new RevocationIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 1_000 });
    const reserved = new RevocationIndex();
    reserved.reserveSessions(20_000);
    expect(index.sessionCount).toBe(20_000);
    expect(index.sessionBytes).toBe(reserved.sessionBytes);
  });

  it('reads only the ranges ZCARD calls for (plus the short one that ends the load): one for a set that fits one', async () => {
    const ranges = async (count: number, chunk: number): Promise<number> => {
      const { raw, redis, sessions } = await namespace();
      if (count > 0) await store(raw, sessions, 'r-', count, () => Date.now() + 600_000);
      const before = zrangeCalls(await raw.info('commandstats'));
      const index = new RevocationIndex();
      await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk, window: 8 });
      expect(index.sessionCount).toBe(count);
      return zrangeCalls(await raw.info('commandstats')) - before;
    };
    // Every test of this file runs on this server one after the other: no other ZRANGE meanwhile.
    expect(await ranges(0, 100)).toBe(1);
    expect(await ranges(99, 100)).toBe(1);
    expect(await ranges(250, 100)).toBe(3);
    // A full last range: one more, which comes back empty.
    expect(await ranges(300, 100)).toBe(4);
  });
});

function zrangeCalls(commandstats: string): number {
  return Number(/cmdstat_zrange:calls=(\d+)/.exec(commandstats)?.[1] ?? 0);
}

describe('format during a rolling deploy (revoked-sessions:v1 unchanged: member = sid, score = expiry in ms)', () => {
  /** The previous release's reader, as it shipped: ZSCAN of the v1 key, member = sid, score = expiry (ms). */
  async function previousReleaseLoad(raw: Redis, key: string): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, flat] = await raw.zscan(key, cursor, 'COUNT', 1000);
      for (let i = 0; i + 1 < flat.length; i += 2) if (Number(flat[i + 1]) > Date.now()) out.set(flat[i]!, Number(flat[i + 1]));
      cursor = next;
    } while (cursor !== '0');
    return out;
  }

  it('an instance of the previous release reads what a new instance writes, and a new instance loads what the previous one wrote', async () => {
    const { user, raw, sessions } = await namespace();
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
    const writer = closeLater(await Revocations.start(redis, { sessionMaxLifetimeMs: LIFETIME_MS }));
    for (let i = 0; i < 30; i++) await writer.revokeSession(`new-release-${i}`);
    const seen = await previousReleaseLoad(raw, sessions);
    for (let i = 0; i < 30; i++) {
      const exp = seen.get(`new-release-${i}`);
      expect(exp, `new-release-${i}`).toBeGreaterThan(Date.now());
      expect(exp).toBeLessThanOrEqual(Date.now() + LIFETIME_MS);
    }
    // The previous release's write script stored ZADD GT <expiry ms> <sid> in the same key.
    await raw.zadd(sessions, 'GT', Date.now() + 60_000, 'old-release-1');
    const redis2 = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
    const reader = closeLater(await Revocations.start(redis2, { sessionMaxLifetimeMs: LIFETIME_MS }));
    expect(reader.check({ sid: 'old-release-1' })).toBe('revoked');
    expect(reader.check({ sid: 'new-release-29' })).toBe('revoked');
    expect(reader.stats.revokedSessions).toBe(31);
  });
});
