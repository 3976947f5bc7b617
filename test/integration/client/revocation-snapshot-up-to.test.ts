/**
 * The stored sessions revoked up to a time (revoked-sessions-up-to:v1: session id → T, epoch s) read
 * by a new instance: applied as "tokens of that sid issued at or before T are refused", a session
 * also revoked whole stays whole, entries whose T is past any live token are not loaded, poison is
 * refused, counted and removed from Redis (unless an honest write changed it meanwhile), members
 * longer than any id are removed unread. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { RevocationIndex, SESSION_UP_TO_SLACK_SECONDS, oldestLiveNotBefore } from '../../../client/src/revocation/revocation-index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { MAX_MEMBER_BYTES, READ_RANK_RANGE, loadRevocationSnapshot } from '../../../client/src/revocation/revocation-snapshot.js';
import { closeAfterEach } from '../../support/closing.js';
import { interceptRankRanges } from '../../support/snapshot-reads.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 16 }, (_, i) => ({ app: `upto${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();
const LIFETIME_MS = 3_600_000;
/** 2100-01-01 (epoch s). */
const YEAR_2100 = 4_102_444_800;

const nowS = () => Math.floor(Date.now() / 1000);

async function namespace(): Promise<{ raw: Redis; redis: KccRedis; sessions: string; upTo: string; subjects: string }> {
  const user = `upto${ns++}-prod`;
  const raw = closeLater(await connectAs(server, user));
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
  return { raw, redis, sessions: redis.key(REVOCATION_KEYS.sessions), upTo: redis.key(REVOCATION_KEYS.sessionsUpTo), subjects: redis.key(REVOCATION_KEYS.subjects) };
}

/** Whether `index` refuses a token of `sid` issued at `iat` and refreshed from an offline session (only such a one may pass an up-to revocation). */
const refuses = (index: RevocationIndex, sid: string, iat: number) => index.isRevoked({ sid, iat, scope: 'openid offline_access' });

describe('loading the sessions revoked up to a time', () => {
  it('applies each entry: tokens of its sid issued at or before T are refused, later ones (past the slack) pass, across many ranges; a far-future T is held whole for the lifetime', async () => {
    const { raw, redis, upTo } = await namespace();
    const now = nowS();
    // 250 with distinct times: ranges of 100 (three of them, and a read past the count).
    const ids = Array.from({ length: 250 }, (_, i) => `offline-${i}`);
    const at = (i: number) => now - 100 - i;
    await raw.zadd(upTo, ...ids.flatMap((sid, i) => [at(i), sid]));
    // No "future" judgement: a T far ahead refuses more tokens of this one session only.
    await raw.zadd(upTo, YEAR_2100, 'far-future');
    const index = new RevocationIndex();
    const load = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100 });
    expect(load).toEqual({ loaded: 251, refused: 0, oversized: 0 });
    const wrong = ids.filter((sid, i) => !refuses(index, sid, at(i)) || !refuses(index, sid, at(i) - 600) || refuses(index, sid, at(i) + SESSION_UP_TO_SLACK_SECONDS + 1));
    expect(wrong).toEqual([]);
    // Up to a time, not whole, and only that session.
    expect(refuses(index, 'far-future', now)).toBe(true);
    // Held as the whole session, for this instance's lifetime (not until 2100: an attack review).
    expect(refuses(index, 'far-future', YEAR_2100 + SESSION_UP_TO_SLACK_SECONDS + 1)).toBe(true);
    index.prune(Date.now() + LIFETIME_MS + 1_000, LIFETIME_MS);
    expect(refuses(index, 'far-future', now)).toBe(false);
    expect(refuses(index, 'not-stored', at(0) - 10)).toBe(false);
    // Nothing refused, nothing removed.
    expect(await raw.zcard(upTo)).toBe(251);
  });

  it('loaded into a live index (a reload after a gap) over a whole revocation it holds that expired, not pruned yet, an up-to entry takes its place (a review: it was ignored, and the prune then dropped the logout)', async () => {
    const { raw, redis, upTo } = await namespace();
    const t = nowS() - 30;
    await raw.zadd(upTo, t, 'browser');
    const index = new RevocationIndex();
    index.revokeSession('browser', Date.now() - 5_000);
    await loadRevocationSnapshot(redis, index, LIFETIME_MS);
    index.prune(Date.now(), LIFETIME_MS);
    expect([refuses(index, 'browser', t - 60), refuses(index, 'browser', t + 60)]).toEqual([true, false]);
  });

  it('fills the one session table with the sessions: sized once for both sets from their counts, the up-to ranges the count calls for pipelined', async () => {
    const { raw, redis, sessions, upTo } = await namespace();
    const t = nowS() - 100;
    const exp = Date.now() + 600_000;
    for (let i = 0; i < 10_000; i += 1_000) {
      await raw.zadd(sessions, ...Array.from({ length: 1_000 }, (_, j) => [exp + i + j, `whole-${i + j}`]).flat());
      await raw.zadd(upTo, ...Array.from({ length: 1_000 }, (_, j) => [t - Math.floor((i + j) / 10), `up-to-${i + j}`]).flat());
    }
    let sent = 0;
    interceptRankRanges(redis, ([key], send) => (key === upTo && sent++, send()));
    let sentAtFirstRange: number | undefined;
    class Watching extends RevocationIndex {
      override revokeSessionUpTo(...args: Parameters<RevocationIndex['revokeSessionUpTo']>): void {
        sentAtFirstRange ??= sent;
        super.revokeSessionUpTo(...args);
      }
    }
    const index = new Watching();
    expect(await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 1_000, window: 8 })).toEqual({ loaded: 20_000, refused: 0, oversized: 0 });
    const reserved = new RevocationIndex();
    reserved.reserveSessions(20_000);
    expect(index.sessionCount).toBe(20_000);
    expect(index.sessionBytes).toBe(reserved.sessionBytes);
    expect(sentAtFirstRange).toBe(8);
    expect(sent).toBe(10);
  });

  for (const first of ['up-to', 'whole'] as const) {
    it(`a session in both sets is revoked whole (the ${first === 'up-to' ? 'up-to set' : 'sessions'} read first)`, async () => {
      const { raw, redis, sessions, upTo } = await namespace();
      const now = nowS();
      const t = now - 100;
      await raw.zadd(sessions, Date.now() + 600_000, 'both', Date.now() + 600_000, 'whole-only');
      await raw.zadd(upTo, t, 'both', t, 'up-to-only');
      // One set's range is held until the other's has been handed over. The range script is loaded
      // on the connection first: the first use of a script is one EVAL that the others wait for.
      await redis.script(READ_RANK_RANGE, [redis.key('script-load')], ['w', 0, 0, 1]);
      const [earlier, later] = first === 'up-to' ? [upTo, sessions] : [sessions, upTo];
      let done: () => void = () => undefined;
      const earlierRead = new Promise<void>((resolve) => (done = resolve));
      const order: string[] = [];
      interceptRankRanges(redis, async ([key], send) => {
        if (key === later) await earlierRead;
        const reply = await send();
        if (key === earlier || key === later) order.push(key);
        // Handed over once this reply's promise settles: let the loader apply it first.
        if (key === earlier) setImmediate(done);
        return reply;
      });
      const index = new RevocationIndex();
      const load = await loadRevocationSnapshot(redis, index, LIFETIME_MS);
      expect(order).toEqual([earlier, later]);
      expect(load).toMatchObject({ refused: 0 });
      // Whole: a token issued long after T is refused too.
      expect(refuses(index, 'both', t + 60)).toBe(true);
      expect(refuses(index, 'whole-only', t + 60)).toBe(true);
      // The control: up to T only.
      expect(refuses(index, 'up-to-only', t)).toBe(true);
      expect(refuses(index, 'up-to-only', t + 60)).toBe(false);
    });
  }

  it('stops at the first range that reaches entries past any live token (T older than the lifetime and the slack), and applies none of those', async () => {
    const { raw, redis, upTo } = await namespace();
    const now = nowS();
    // The loader reads the clock once, first thing: it is given this one (a busy machine may take
    // seconds to get there), so 'within-slack' is older than its oldest but within the slack, and
    // 'past-slack' past it.
    const loaderNow = Date.now();
    const oldest = oldestLiveNotBefore(loaderNow, LIFETIME_MS);
    // 29 in force, one within the slack (its tokens may still be alive on a node whose clock runs
    // ahead), one past it, then 200 far past it (not pruned yet: writers prune every 64th batch).
    await raw.zadd(upTo, ...Array.from({ length: 29 }, (_, i) => [now - 100 - i, `live-${i}`]).flat());
    await raw.zadd(upTo, oldest - 2, 'within-slack', oldest - SESSION_UP_TO_SLACK_SECONDS - 1, 'past-slack');
    await raw.zadd(upTo, ...Array.from({ length: 200 }, (_, i) => [oldest - 600 - i, `stale-${i}`]).flat());
    let ranges = 0;
    interceptRankRanges(redis, (args, send) => {
      if (args[0] === upTo) ranges++;
      return send();
    });
    const index = new RevocationIndex();
    // One range in flight at a time (more are sent ahead of the replies, as the count calls for them).
    vi.spyOn(Date, 'now').mockReturnValueOnce(loaderNow);
    const load = await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 10, window: 1 });
    vi.restoreAllMocks();
    // Ranks 0-10, 10-20 and 20-30, which reaches the first past the slack (24 ranges read them all).
    expect(ranges).toBe(3);
    expect(load).toEqual({ loaded: 30, refused: 0, oversized: 0 });
    expect(refuses(index, 'live-28', now - 128)).toBe(true);
    expect(refuses(index, 'within-slack', oldest - 10)).toBe(true);
    expect(refuses(index, 'past-slack', oldest - 10)).toBe(false);
    expect(refuses(index, 'stale-0', oldest - 700)).toBe(false);
    // Expired, not poison: left for the writers' prune.
    expect(await raw.zcard(upTo)).toBe(231);
  });

  it('poison (a score of inf or -inf, a fraction, an empty id, an id longer than any) is refused, counted and removed from Redis; the rest loads; a second load refuses nothing', async () => {
    const { raw, redis, upTo } = await namespace();
    const t = nowS() - 100;
    const long = 'x'.repeat(257);
    await raw.zadd(upTo, 'inf', 'infinite', '-inf', 'minus-infinite', t + 0.5, 'fraction', t, '', t, long);
    const honest = Array.from({ length: 10 }, (_, i) => `honest-${i}`);
    await raw.zadd(upTo, ...honest.flatMap((sid) => [t, sid]));
    const index = new RevocationIndex();
    expect(await loadRevocationSnapshot(redis, index, LIFETIME_MS)).toEqual({ loaded: 10, refused: 5, oversized: 0 });
    expect(honest.filter((sid) => !refuses(index, sid, t))).toEqual([]);
    for (const sid of ['infinite', 'minus-infinite', 'fraction', '', long]) expect(refuses(index, sid, t), sid).toBe(false);
    expect((await raw.zrange(upTo, 0, -1)).sort()).toEqual([...honest].sort());
    expect(await loadRevocationSnapshot(redis, new RevocationIndex(), LIFETIME_MS)).toEqual({ loaded: 10, refused: 0, oversized: 0 });
  });

  it('poison of all three sets, more than one purge call holds: every poison entry is removed from its own set, nothing else', async () => {
    const { raw, redis, sessions, upTo, subjects } = await namespace();
    const t = nowS() - 100;
    const exp = Date.now() + 600_000;
    // 100 + 50 + 600 pairs: two calls of at most 500, the up-to pairs split between them.
    await raw.zadd(sessions, ...Array.from({ length: 100 }, (_, i) => [exp, `${'s'.repeat(257)}-${i}`]).flat(), exp, 'honest-session');
    await raw.zadd(subjects, ...Array.from({ length: 50 }, (_, i) => [t + 0.25, `user-${i}`]).flat(), t, 'honest-user');
    await raw.zadd(upTo, ...Array.from({ length: 600 }, (_, i) => [t - i + 0.5, `bad-${i}`]).flat(), t, 'honest-up-to');
    // Members the purge must not touch though they share names with poison of another set.
    await raw.zadd(sessions, exp, 'bad-0', exp, 'user-0');
    await raw.zadd(upTo, t, 'user-1');
    const index = new RevocationIndex();
    expect(await loadRevocationSnapshot(redis, index, LIFETIME_MS)).toEqual({ loaded: 6, refused: 750, oversized: 0 });
    expect((await raw.zrange(sessions, 0, -1)).sort()).toEqual(['bad-0', 'honest-session', 'user-0']);
    expect(await raw.zrange(subjects, 0, -1)).toEqual(['honest-user']);
    expect((await raw.zrange(upTo, 0, -1)).sort()).toEqual(['honest-up-to', 'user-1']);
  });

  it('a poison entry changed by an honest write between the read and the purge is kept; one unchanged is removed', async () => {
    const { raw, redis, upTo } = await namespace();
    const t = nowS() - 100;
    await raw.zadd(upTo, t + 0.5, 'rewritten', t + 0.5, 'left', t, 'honest');
    // Once the range is handed over (the poison read with it), on the loader's own connection: the
    // server runs it before the purge, which goes out after every read.
    const client = redis.client as Redis;
    let written: Promise<unknown> | undefined;
    class Writing extends RevocationIndex {
      override revokeSessionUpTo(sid: string, issuedUpTo: number): void {
        super.revokeSessionUpTo(sid, issuedUpTo);
        written ??= client.zadd(upTo, 'GT', t + 30, 'rewritten');
      }
    }
    const index = new Writing();
    expect(await loadRevocationSnapshot(redis, index, LIFETIME_MS)).toEqual({ loaded: 1, refused: 2, oversized: 0 });
    expect(await written).toBe(0);
    expect(await raw.zscore(upTo, 'rewritten')).toBe(String(t + 30));
    expect(await raw.zscore(upTo, 'left')).toBeNull();
    // The next load applies it.
    const next = new RevocationIndex();
    expect(await loadRevocationSnapshot(redis, next, LIFETIME_MS)).toEqual({ loaded: 2, refused: 0, oversized: 0 });
    expect(refuses(next, 'rewritten', t + 30)).toBe(true);
  });

  it('members longer than any id, on and around range boundaries: removed unread and counted; every honest entry loads', async () => {
    const { raw, redis, upTo } = await namespace();
    const t = nowS() - 100;
    // 300 honest entries (one second apart, highest first) and, between them, 50 members one byte
    // over the bound: every 6th second, so that they fall on range starts, ends and the entry past each end.
    const honest = Array.from({ length: 300 }, (_, i) => `honest-${i}`);
    await raw.zadd(upTo, ...honest.flatMap((sid, i) => [t - i, sid]));
    const junk = Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.from(`junk-${i}-`), Buffer.alloc(MAX_MEMBER_BYTES, 'j')]).subarray(0, MAX_MEMBER_BYTES + 1));
    await raw.zadd(upTo, ...junk.flatMap((member, i) => [t - i * 6, member]));
    // One exactly at the bound: read, and refused as any id over 256 characters (then purged).
    await raw.zadd(upTo, t + 1, Buffer.alloc(MAX_MEMBER_BYTES, 'k'));
    const index = new RevocationIndex();
    expect(await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 20 })).toEqual({ loaded: 300, refused: 51, oversized: 50 });
    expect(honest.filter((sid, i) => !refuses(index, sid, t - i))).toEqual([]);
    expect((await raw.zrange(upTo, 0, -1)).sort()).toEqual([...honest].sort());
  });
});
