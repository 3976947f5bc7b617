/**
 * The stored revocation state read by a new instance: chunked, pipelined reads that lose nothing
 * while other instances write and prune, and a format that instances of the previous release read
 * and write alike during a rolling deploy. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { type KccLogger, KccRedis, Revocations } from '../../../client/src/index.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { READ_RANK_RANGE, loadRevocationSnapshot } from '../../../client/src/revocation/revocation-snapshot.js';
import { closeAfterEach } from '../../support/closing.js';
import { beforeLaterReads, countEntryReads, interceptRankRanges } from '../../support/snapshot-reads.js';
import { commandCalls, connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 20 }, (_, i) => ({ app: `snap${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();
const LIFETIME_MS = 3_600_000;

async function namespace(logger?: KccLogger): Promise<{ user: string; raw: Redis; redis: KccRedis; sessions: string }> {
  const user = `snap${ns++}-prod`;
  const raw = await connectAs(server, user);
  const redis = await KccRedis.connect(kccOptions(server, user, logger && { logger }), ['subscriber']);
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

/** ZADD arguments for `count` new sessions above every stored one (expiries past now + the lifetime). */
function atTop(count: number, now: number): (string | number)[] {
  return Array.from({ length: count }, (_, i) => [now + LIFETIME_MS + i, `added-${i}`]).flat();
}

/** An index that, once ZCARD has answered, has `count` sessions added at the top on the loader's own connection, ahead of the ranges not sent yet. */
function growingIndex(redis: KccRedis, sessions: string, count: number, now: number): RevocationIndex {
  return new (class extends RevocationIndex {
    override reserveSessions(entries: number): void {
      super.reserveSessions(entries);
      void (redis.client as Redis).zadd(sessions, ...atTop(count, now));
    }
  })();
}

/**
 * Holds the first range of `sessions` from rank `start` until `others` other ranges of it have replied, runs
 * `meanwhile`, then refuses it for now (LOADING), as a server still loading its data does:
 * KccRedis.run sends it again 100 ms later, after the ranges behind it. Returns how many ranges
 * went out. The range script is loaded on the connection first: the first use of a script is one
 * EVAL that the others wait for (script-cache.ts), so a first range held there would hold them all.
 */
async function refuseRangeOnce(redis: KccRedis, sessions: string, start: number, others: number, meanwhile: () => Promise<unknown>): Promise<() => number> {
  await redis.script(READ_RANK_RANGE, [redis.key('script-load')], ['w', 0, 0, 1]);
  let held = false;
  let refuse: (error: Error) => void = () => undefined;
  const replies: Promise<unknown>[] = [];
  interceptRankRanges(redis, ([key, first], send) => {
    if (key !== sessions) return send();
    if (first === String(start) && !held) {
      held = true;
      return new Promise((_, reject) => (refuse = reject));
    }
    const reply = send();
    replies.push(reply);
    if (replies.length === others) void Promise.all(replies).then(meanwhile).then(() => refuse(new Error('LOADING Redis is loading the dataset in memory')));
    return reply;
  });
  return () => replies.length;
}

/** Which of `ids` the index does not hold as revoked. */
const missing = (ids: readonly string[], index: RevocationIndex) => ids.filter((id) => !index.isRevoked({ sid: id }));

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

  it('reads only the ranges ZCARD calls for: one for a set that fits one', async () => {
    const ranges = async (count: number, chunk: number): Promise<number> => {
      const { raw, redis, sessions } = await namespace();
      if (count > 0) await store(raw, sessions, 'r-', count, () => Date.now() + 600_000);
      const before = await commandCalls(raw, 'zrange');
      const index = new RevocationIndex();
      await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk, window: 8 });
      expect(index.sessionCount).toBe(count);
      return (await commandCalls(raw, 'zrange')) - before;
    };
    // Every test of this file runs on this server one after the other: no other ZRANGE meanwhile
    // but the one range each of the user-wide not-befores and the sessions revoked up to a time
    // (none stored).
    expect(await ranges(0, 100)).toBe(1 + 2);
    expect(await ranges(99, 100)).toBe(1 + 2);
    expect(await ranges(250, 100)).toBe(3 + 2);
    // Each range reads one entry past its end: a last range exactly full comes back one short.
    expect(await ranges(300, 100)).toBe(3 + 2);
    expect(await ranges(301, 100)).toBe(4 + 2);
  });

  it('pipelines the ranges the count calls for, up to the window: they are all sent before the first is handed over', async () => {
    const { raw, redis, sessions } = await namespace();
    await store(raw, sessions, 'r-', 2_000, () => Date.now() + 600_000);
    let sent = 0;
    interceptRankRanges(redis, ([key], send) => (key === sessions && sent++, send()));
    let sentAtFirstRange: number | undefined;
    class Watching extends RevocationIndex {
      override revokeSession(sid: string, exp: number): void {
        sentAtFirstRange ??= sent;
        super.revokeSession(sid, exp);
      }
    }
    const index = new Watching();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(index.sessionCount).toBe(2_000);
    expect(sentAtFirstRange).toBe(8);
    expect(sent).toBe(20);
  });

  it('keeps reading past the count while ranges come back full: every session present throughout is loaded when sessions are added during the load', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    const present = await store(raw, sessions, 'present-', 300, (i) => now + 60_000 + i);
    const before = await commandCalls(raw, 'zrange');
    // 80 added once ZCARD has answered (300): the set outgrows the count.
    const index = growingIndex(redis, sessions, 80, now);
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(missing(present, index)).toEqual([]);
    // Ranks 0-399 of 380: the three the count called for, then one more, which came back short (and
    // the one range each of the user-wide not-befores and the sessions revoked up to a time).
    // The sessions were not read again (by rank, or after entries: the script's ZRANGE counts too).
    expect((await commandCalls(raw, 'zrange')) - before).toBe(4 + 2);
  });

  it('a range read out of turn (sent again after the server refused it for now) while sessions were added: the shift is seen and the sessions are read again by rank, none present throughout lost', async () => {
    const logged: string[] = [];
    const { raw, redis, sessions } = await namespace({ info: (message) => void logged.push(message), warn: () => undefined });
    const now = Date.now();
    const present = await store(raw, sessions, 'present-', 400, (i) => now + 60_000 + i);
    // The second range (ranks 100-200) is refused once the others have run and 50 sessions were added at the top.
    const sent = await refuseRangeOnce(redis, sessions, 100, 3, () => (redis.client as Redis).zadd(sessions, ...atTop(50, now)));
    const index = new RevocationIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    // The three other ranges, then it, sent again; then the second read's five (450 sessions).
    expect(sent()).toBe(4 + 5);
    // Without the check, present-151 to present-199 (pushed past the late range's end) are lost.
    expect(missing(present, index)).toEqual([]);
    expect(logged.filter((m) => m.includes('reading them again by rank'))).toHaveLength(1);
  });

  it('the first range read late while the session at its end is raised: the raised score is seen and the sessions are read again by rank, none present throughout lost', async () => {
    const logged: string[] = [];
    const { raw, redis, sessions } = await namespace({ info: (message) => void logged.push(message), warn: () => undefined });
    const now = Date.now();
    // present-399 ranks 0, present-299 100: the first member of the second range, the first range's last.
    const present = await store(raw, sessions, 'present-', 400, (i) => now + 60_000 + i);
    const client = redis.client as Redis;
    // The first range is refused once the others have run, present-299 was revoked again (its expiry
    // raised: to the top) and one session was added above it.
    const sent = await refuseRangeOnce(redis, sessions, 0, 3, async () => {
      await client.zadd(sessions, 'GT', now + LIFETIME_MS, 'present-299');
      await client.zadd(sessions, now + LIFETIME_MS + 1, 'added-0');
    });
    const index = new RevocationIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(sent()).toBeGreaterThanOrEqual(4);
    // Without the score compared, present-300 (now just below the first range's end) is lost.
    expect(missing(present, index)).toEqual([]);
    expect(logged.filter((m) => m.includes('reading them again by rank'))).toHaveLength(1);
  });

  // Ranks only shifted down here, which loses nothing; but the check cannot tell a shift of more than
  // a range from a range read out of turn, so the sessions are read again (each counted once).
  it('more sessions than a range written between two reads: read again by rank, none present throughout lost, each counted once', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    const present = await store(raw, sessions, 'present-', 300, (i) => now + 60_000 + i);
    const index = growingIndex(redis, sessions, 250, now);
    const before = await commandCalls(raw, 'zrange');
    const { loaded } = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(missing(present, index)).toEqual([]);
    // The first read's three the count called for, the second's six (550), the subjects' one, the
    // up-to set's one.
    expect((await commandCalls(raw, 'zrange')) - before).toBe(3 + 6 + 2);
    // Counted once each, from the second reading: the 300 and the 250 added.
    expect(loaded).toBe(550);
  });

  it('stops at the first range that reaches the expired sessions: a writer pruning them meanwhile makes no read again', async () => {
    const logged: string[] = [];
    const { raw, redis, sessions } = await namespace({ info: (message) => void logged.push(message), warn: () => undefined });
    const now = Date.now();
    const live = await store(raw, sessions, 'live-', 300, (i) => now + 60_000 + i);
    await store(raw, sessions, 'expired-', 300, (i) => now - 60_000 - i);
    // The count calls for six ranges, all sent at once; once the fifth has replied (full), a writer
    // prunes the expired ones, then the sixth goes out. Read down to it, it would come back empty.
    let fifth: Promise<unknown> | undefined;
    let pruned: Promise<number> | undefined;
    interceptRankRanges(redis, (args, send) => {
      if (args[0] !== sessions) return send();
      if (String(args[1]) === '400') return (fifth = send());
      if (String(args[1]) !== '500') return send();
      pruned = fifth!.then(() => raw.zremrangebyscore(sessions, '-inf', String(now)));
      return pruned.then(send);
    });
    const index = new RevocationIndex();
    const { loaded } = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(await pruned).toBe(300);
    expect(missing(live, index)).toEqual([]);
    expect(loaded).toBe(300);
    expect(logged.filter((m) => m.includes('moved under the ranges'))).toEqual([]);
  });

  /** Adds 150 sessions at the top in each read by rank, once its first range has replied and before its second goes out (more than a range): every read by rank fails its check. Returns how many it added. */
  function addAboveEachRead(redis: KccRedis, raw: Redis, sessions: string, now: number): () => number {
    let added = 0;
    let first: Promise<unknown> | undefined;
    interceptRankRanges(redis, async (args, send) => {
      if (args[0] !== sessions) return send();
      if (String(args[1]) === '0') return (first = send());
      if (String(args[1]) === '100') {
        await first;
        const from = added;
        added += 150;
        await raw.zadd(sessions, ...Array.from({ length: 150 }, (_, i) => [now + LIFETIME_MS + from + i, `added-${from + i}`]).flat());
      }
      return send();
    });
    return () => added;
  }

  it('ranks shifted under each of three reads by rank: read page after page after the last entry read, none present throughout lost', async () => {
    const logged: string[] = [];
    const { raw, redis, sessions } = await namespace({ info: (message) => void logged.push(message), warn: () => undefined });
    const now = Date.now();
    const present = await store(raw, sessions, 'present-', 300, (i) => now + 60_000 + i);
    await store(raw, sessions, 'expired-', 300, (i) => now - 60_000 - i);
    const added = addAboveEachRead(redis, raw, sessions, now);
    const entryReads = countEntryReads(redis, sessions);
    const index = new RevocationIndex();
    const { loaded } = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(added()).toBe(3 * 150);
    expect(missing(present, index)).toEqual([]);
    expect(missing(Array.from({ length: added() }, (_, i) => `added-${i}`), index)).toEqual([]);
    // 750 in pages of 100: seven full, and an eighth that reaches the expired ones (the rest not read).
    expect(entryReads()).toBe(8);
    expect(loaded).toBe(750); // each counted once: pages do not overlap
    expect(logged.filter((m) => m.includes('reading them again by rank'))).toHaveLength(2);
    expect(logged.filter((m) => m.includes('3 times: reading them all again, each page after the last entry read'))).toHaveLength(1);
  });

  it('read after entries: members present throughout are read however the set changes between pages (removed above the read position, pruned at the bottom, added above and below)', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    // Groups of seven sessions with one expiry: pages of 100 end inside them.
    const present = await store(raw, sessions, 'present-', 700, (i) => now + 600_000 + Math.floor(i / 7));
    const removable = await store(raw, sessions, 'removable-', 400, (i) => now + 900_000 + i);
    const expiredSoon = await store(raw, sessions, 'pruned-', 200, (i) => now + 300_000 + i);
    addAboveEachRead(redis, raw, sessions, now);
    // Before each page after the first: the top 40 left of `removable-` removed (above the read
    // position once the read passed them), 20 pruned at the bottom, one added at the top, one below.
    let changes = 0;
    beforeLaterReads(redis, sessions, 'entry', async () => {
      const gone = removable.splice(-40, 40);
      if (gone.length > 0) await raw.zrem(sessions, ...gone);
      const pruned = expiredSoon.splice(0, 20);
      if (pruned.length > 0) await raw.zrem(sessions, ...pruned);
      await raw.zadd(sessions, now + 2 * LIFETIME_MS + changes, `late-top-${changes}`, now + 100_000 + changes, `late-low-${changes}`);
      changes++;
    });
    const index = new RevocationIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
    expect(changes).toBeGreaterThan(10);
    expect(missing(present, index)).toEqual([]);
  });

  it('read after entries: a set that keeps growing below the read position (a holder of the app\'s credentials) fails the load after a bounded number of pages', async () => {
    const { raw, redis, sessions } = await namespace();
    const now = Date.now();
    await store(raw, sessions, 'present-', 300, (i) => now + 600_000 + i);
    addAboveEachRead(redis, raw, sessions, now);
    // Before each page after the first, a page's worth more below everything read so far (for 200
    // pages at most: without a bound, the read then ends).
    let added = 0;
    beforeLaterReads(redis, sessions, 'entry', async () => {
      if (added >= 200 * 100) return;
      await raw.zadd(sessions, ...Array.from({ length: 100 }, (_, i) => [now + 500_000 - added - i, `below-${added + i}`]).flat());
      added += 100;
    });
    const entryReads = countEntryReads(redis, sessions);
    await expect(loadRevocationSnapshot(redis, new RevocationIndex(), LIFETIME_MS, { chunk: 100, window: 8 })).rejects.toThrow(/kept growing under the read \(more than 24 pages of 100\); not loaded/);
    // 750 stored when the read after entries began: 2 × 8 pages, and 8 more.
    expect(entryReads()).toBe(24);
  });
});

describe('loading the stored user-wide not-befores (by rank, one range at a time)', () => {
  it('members removed above the read position until the next range comes back empty: seen, read again, the lowest not lost', async () => {
    const logged: string[] = [];
    const { raw, redis } = await namespace({ info: (message) => void logged.push(message), warn: () => undefined });
    const subjects = redis.key(REVOCATION_KEYS.subjects);
    const nbf = Math.floor(Date.now() / 1000) - 100;
    // 22 with distinct not-befores: ranges of 10 read ranks 0-10, 10-20, 20-30; user-21 is the lowest.
    await raw.zadd(subjects, ...Array.from({ length: 22 }, (_, i) => [nbf - i, `user-${i}`]).flat());
    // Once the second range has replied, two members above the read position go (a purge of poison,
    // or a holder of the app's credentials): user-21 moves up
    // to rank 19, read by neither range, and the third range comes back empty.
    let ranges = 0;
    interceptRankRanges(redis, async (args, send) => {
      const reply = await send();
      if (args[0] === subjects && ++ranges === 2) await raw.zrem(subjects, 'user-0', 'user-1');
      return reply;
    });
    const index = new RevocationIndex();
    await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 10 });
    expect(index.isRevoked({ sub: 'user-21', sid: 's', iat: nbf - 60 })).toBe(true);
    expect(logged.filter((m) => m.includes('user-wide not-befores moved under the ranges'))).toHaveLength(1);
  });

  it('stops at the first range that reaches not-befores older than any live token, and applies none of those', async () => {
    const { raw, redis } = await namespace();
    const subjects = redis.key(REVOCATION_KEYS.subjects);
    const now = Math.floor(Date.now() / 1000);
    const oldest = now - LIFETIME_MS / 1000;
    // 30 in force, 200 older than the lifetime below them (a mass logout a writer has not pruned yet:
    // writers prune every 64th batch).
    await raw.zadd(subjects, ...Array.from({ length: 30 }, (_, i) => [now - 100 - i, `user-${i}`]).flat());
    await raw.zadd(subjects, ...Array.from({ length: 200 }, (_, i) => [oldest - 600 - i, `stale-${i}`]).flat());
    let ranges = 0;
    interceptRankRanges(redis, (args, send) => {
      if (args[0] === subjects) ranges++;
      return send();
    });
    const index = new RevocationIndex();
    const { loaded } = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 10 });
    // Ranks 0-10, 10-20 and 20-30, which reaches the first stale one (23 ranges read them all).
    expect(ranges).toBe(3);
    expect(index.subjectCount).toBe(30);
    expect(loaded).toBe(30);
    expect(index.isRevoked({ sub: 'user-29', iat: now - 200 })).toBe(true);
  });
});

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
      // Dated by the write script from its estimate of the server's clock, which may run a little
      // ahead of this host's (a full run under load saw 1 ms).
      expect(exp).toBeLessThanOrEqual(Date.now() + LIFETIME_MS + 1_000);
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
