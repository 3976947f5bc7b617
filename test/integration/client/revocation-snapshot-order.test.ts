/**
 * The stored state's last-resort read (after ranks shifted under three reads by rank) starts each
 * page just after the last entry read, which a script finds among the members of its score by
 * comparing bytes, as Redis orders them. Two ways that could go wrong, each on a real server:
 * - Lua's `<` on strings follows the server's collation (Redis sets LC_COLLATE from its
 *   environment): under en_US.UTF-8, 'a' < 'B', where Redis keeps 'B' first. This file's server
 *   runs under en_US.UTF-8.
 * - A member that is not UTF-8, read as a string, comes back as other bytes (U+FFFD), and the page
 *   after it would start elsewhere among its score's members (found by review: 19 of 20 members
 *   present throughout skipped).
 */
import type { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { loadRevocationSnapshot } from '../../../client/src/revocation/revocation-snapshot.js';
import { closeAfterEach } from '../../support/closing.js';
import { compileLocale } from '../../support/locale.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { beforeLaterReads, countEntryReads, interceptRankRanges, shiftUpEachRange } from '../../support/snapshot-reads.js';

// Compiled before the server is even declared (its folder removed once the server has stopped).
const locale = await compileLocale('en_US');
afterAll(() => locale.remove());
const server = useTestRedis({ appEnvs: [{ app: 'order', env: 'prod' }], persistence: 'none', env: locale.env });
const user = 'order-prod';
const closeLater = closeAfterEach();
const LIFETIME_MS = 3_600_000;

async function setUp(): Promise<{ raw: Redis; redis: KccRedis; sessions: string; now: number }> {
  const raw = closeLater(await connectAs(server, user));
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
  const sessions = redis.key(REVOCATION_KEYS.sessions);
  await raw.del(sessions);
  const now = Date.now();
  // Above the groups: what shiftUpEachRange removes to send the load to the read after entries.
  await raw.zadd(sessions, ...Array.from({ length: 20 }, (_, i) => [now + 900_000 + i, `top-${i}`]).flat());
  return { raw, redis, sessions, now };
}

/** Of `members` (bytes), those `index` does not hold as revoked, as text. */
const missing = (members: readonly Buffer[], index: RevocationIndex) => members.filter((m) => !index.isRevoked({ sid: m.toString() })).map(String);

it('the server compares Lua strings by its locale, not by bytes (what the script must not rely on)', async () => {
  const raw = closeLater(await connectAs(server, user));
  // Redis keeps members of one score in byte order: 'B' (0x42) before 'a' (0x61).
  expect(await raw.eval("return tostring('a' < 'B')", 0)).toBe('true');
});

it('members of one expiry whose byte order is not the locale\'s, each a prefix of the next, the entry each page reads after removed meanwhile: none present throughout lost', async () => {
  const { raw, redis, sessions, now } = await setUp();
  // 252 sessions with one expiry: seven chains ('a', 'aa', 'aaa'…; 'B', 'Ba'…), upper and lower case,
  // digits, bytes above 0x7F. Any two neighbours in Redis's order are a prefix of each other or
  // differ in case, where en_US orders them otherwise. Pages of 100 end inside the group.
  const exp = now + 600_000;
  const ids = Array.from({ length: 252 }, (_, i) => Buffer.from(`${['a', 'B', 'b', 'Z', 'é', '0', '~'][i % 7]}${'a'.repeat(Math.floor(i / 7))}`));
  await raw.zadd(sessions, ...ids.flatMap((id) => [exp, id]));
  const below = Array.from({ length: 50 }, (_, i) => Buffer.from(`below-${i}`));
  await raw.zadd(sessions, ...below.flatMap((id, i) => [now + 60_000 + i, id]));
  shiftUpEachRange(redis, raw, sessions);
  // Before each page after the first, the entry it reads after is removed (bytes, as sent).
  const removed: Buffer[] = [];
  const pages = countEntryReads(redis, sessions);
  beforeLaterReads(redis, sessions, 'entry', async (after) => {
    removed.push(after as Buffer);
    await raw.zrem(sessions, after!);
  });
  const index = new RevocationIndex();
  await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
  expect(pages()).toBeGreaterThanOrEqual(3);
  expect(removed.filter((m) => ids.some((id) => id.equals(m))).length).toBeGreaterThanOrEqual(2);
  expect(missing([...ids, ...below].filter((id) => !removed.some((m) => m.equals(id))), index)).toEqual([]);
});

it('members that are not UTF-8 (written as raw bytes, with the app\'s credentials) move no page: the members after them are read', async () => {
  const { raw, redis, sessions, now } = await setUp();
  // One expiry: 150 members F5 xx (never UTF-8), then, below them in Redis's order, 100 honest ids
  // starting with F0 (a four-byte character), which sort above U+FFFD's EF BF BD: a page after an
  // F5 member decoded to U+FFFD would start below them all.
  const exp = now + 600_000;
  const junk = Array.from({ length: 150 }, (_, i) => Buffer.from([0xf5, i]));
  const honest = Array.from({ length: 100 }, (_, i) => Buffer.from(`😀-${i}`));
  await raw.zadd(sessions, ...[...junk, ...honest].flatMap((id) => [exp, id]));
  shiftUpEachRange(redis, raw, sessions);
  const after: Buffer[] = [];
  beforeLaterReads(redis, sessions, 'entry', async (member) => void after.push(member as Buffer));
  const index = new RevocationIndex();
  await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
  // The first page ended on an F5 member: sent back as it was stored.
  expect(after[0]?.[0]).toBe(0xf5);
  expect(missing(honest, index)).toEqual([]);
});

it('members that are not UTF-8 and read as the same text vouch for no range: ranks shifted by two under a read by rank are seen, the honest id between them loaded', async () => {
  const logged: string[] = [];
  const raw = closeLater(await connectAs(server, user));
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger: { info: (m) => void logged.push(m), warn: () => undefined } }), ['subscriber']));
  const sessions = redis.key(REVOCATION_KEYS.sessions);
  await raw.del(sessions);
  const now = Date.now();
  // Ranks 0-99: sessions above; then, with one expiry, F6 01 (rank 100: the first range's last),
  // an honest id starting with U+10FFFF (F4 8F BF BF), and F4 01, which reads as the same text as
  // F6 01 ('\uFFFD\u0001').
  await raw.zadd(sessions, ...Array.from({ length: 100 }, (_, i) => [now + 900_000 + i, `top-${i}`]).flat());
  const honest = Buffer.from('\u{10FFFF}-honest');
  await raw.zadd(sessions, now + 600_000, Buffer.from([0xf6, 0x01]), now + 600_000, honest, now + 600_000, Buffer.from([0xf4, 0x01]));
  // Before the first read's second range: the two top sessions removed, ranks up by two. The
  // range then begins with F4 01, past the honest id.
  let shifted = false;
  interceptRankRanges(redis, async (args, send) => {
    if (args[0] === sessions && String(args[1]) === '100' && !shifted) {
      shifted = true;
      await raw.zrem(sessions, 'top-99', 'top-98');
    }
    return send();
  });
  const index = new RevocationIndex();
  await loadRevocationSnapshot(redis, index, LIFETIME_MS, { chunk: 100, window: 8 });
  expect(shifted).toBe(true);
  expect(missing([honest], index)).toEqual([]);
  // Read again (and, F4 01 still closing the first range, again each time, then after entries).
  expect(logged.filter((m) => m.includes('reading them again by rank')).length).toBeGreaterThanOrEqual(1);
});
