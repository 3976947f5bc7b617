import type { KccRedis } from '../connection.js';
import { readBoundedString, runReadScript } from '../read-script.js';
import { KccConnectionError } from '../errors.js';
import { MAX_NOT_BEFORE_SKEW_SECONDS, MAX_REVOCATION_ID_LENGTH, NOT_BEFORE_READ_SLACK_SECONDS, latestNotBefore } from './revocation-event.js';
import { type RevocationIndex, oldestLiveNotBefore, oldestLiveUpTo } from './revocation-index.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/** What {@link loadRevocationSnapshot} loaded, and the entries it refused (poison ones removed from Redis). */
export interface SnapshotLoad {
  /** Entries applied; one read twice while ranks shifted under the load counts twice. */
  readonly loaded: number;
  /** Entries refused, `oversized` included, and not-befores too far ahead left in Redis (see {@link loadRevocationSnapshot}). */
  readonly refused: number;
  /** Of those, entries removed unread as longer than any writer writes ({@link MAX_MEMBER_BYTES}, {@link MAX_CLIENT_NOT_BEFORE_BYTES}). */
  readonly oversized: number;
}

/** Members removed per purge call. */
const PURGE_CHUNK = 500;

// Removes entries a loader refused, each only if it still holds the value the loader saw (an honest
// write since then is kept). KEYS: sessions, subjects, client-not-before, sessions revoked up to a
// time (all in the namespace's hash tag: one slot). ARGV: client value to delete ('' for none),
// number of session pairs, number of subject pairs, then (member, score) pairs of sessions, then of
// subjects, then of sessions revoked up to a time.
const PURGE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local sessions, subjects = tonumber(ARGV[2]), tonumber(ARGV[3])
local removed = 0
for i = 4, #ARGV, 2 do
  local pair = (i - 4) / 2
  local key = KEYS[4]
  if pair < sessions then key = KEYS[1] elseif pair < sessions + subjects then key = KEYS[2] end
  local score = redis.call('ZSCORE', key, ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then removed = removed + redis.call('ZREM', key, ARGV[i]) end
end
return removed
`;

const validId = (id: string) => id.length > 0 && id.length <= MAX_REVOCATION_ID_LENGTH;

/**
 * The longest member of the stored sets a read hands to the client (bytes): a valid id has at most
 * {@link MAX_REVOCATION_ID_LENGTH} UTF-16 code units, and one unit is at most 3 bytes in UTF-8 (bytes
 * that are not UTF-8 read as U+FFFD, one unit for 1 to 3 bytes), so a longer member reads as a longer
 * id, which the loader refuses anyway. The scripts below remove such members unread.
 *
 * Why: `ZRANGE` hands members over whole, and a member is as long as a writer with the app's
 * credentials makes it (up to 512 MB). One longer than V8's longest string (0x1fffffe8 characters)
 * failed every load ("Cannot create a string longer than …"), so no instance could start, for good
 * (the sessions' expiry is the writer's to choose); a shorter one was pulled whole by every start
 * (found by an attack review). Inside the script the member is still copied once by the `ZRANGE` that
 * meets it; removed, it is not copied again. Nothing is lost: no honest writer stores such a member.
 */
export const MAX_MEMBER_BYTES = 3 * MAX_REVOCATION_ID_LENGTH;

/**
 * The longest client-wide not-before a read hands over (bytes): writers store the decimal digits of
 * epoch seconds (10 today; a safe integer has at most 16). A longer value is removed unread
 * ({@link readBoundedString}).
 */
export const MAX_CLIENT_NOT_BEFORE_BYTES = 64;

/**
 * Members a read of the sorted sets removes per call at most ({@link READ_RANK_RANGE},
 * {@link READ_AFTER_ENTRY}): past them it replies `more` and the client calls it again, so that no one
 * call runs long however many oversized members lie in its way (each removal copies the member once:
 * up to 1,000 × {@link MAX_MEMBER_BYTES} here, a few milliseconds of the server's time).
 */
export const MAX_REMOVED_PER_READ = 1_000;
/** The most members a read of the sorted sets reads past what it still needs while it meets oversized ones (see {@link LUA_READ_KEPT}). */
const READ_AHEAD = 1_024;

/**
 * Lua, shared by the reads of the sorted sets: `read_kept(key, first, width, longest)` reads the
 * members from rank `first` (from the highest score: `ZRANGE … REV WITHSCORES`) and removes (ZREM)
 * every one longer than `longest` bytes it meets, until it holds `width` members that are not (or
 * the set ends): `{flat member/score list, removed, more}`, the range of `width` from `first` as it
 * would have been without the removed members. Read-only (ARGV[1] 'r', see {@link runReadScript}) it
 * removes none and raises an error instead: such a member can be neither handed over nor read past by
 * rank. After {@link MAX_REMOVED_PER_READ} removals it stops with `{{}, removed, 1}`: the caller calls
 * it again (the same range), and the next call goes on from there.
 *
 * Each pass keeps the members read that pass and reads only what is still missing, from the rank after
 * the last kept (the removed members' places are taken by those after them): O(width + removed), where
 * reading the whole range again after each removal cost width × removed (an attack review: 8,000
 * members of 780 bytes planted below 5,000 honest ones made one call run 16 to 21 s, the server
 * answering every other client BUSY, the script unkillable once it had written). While it meets
 * oversized members it reads ahead of what it needs, twice as many as it last removed (at most
 * {@link READ_AHEAD}), so that a long run of them takes few reads; members read ahead are neither kept
 * nor handed over, and oversized ones among them are removed like the rest (past the range's end: the
 * ranges after it, which the server runs after it, line up with the set as they find it).
 */
const LUA_READ_KEPT = `
local function read_kept(key, first, width, longest)
  local kept, removed, ahead, from = {}, 0, 0, first
  while true do
    local wanted = math.max(width - #kept / 2, ahead)
    local page = redis.call('ZRANGE', key, from, from + wanted - 1, 'REV', 'WITHSCORES')
    local found = 0
    for i = 1, #page, 2 do
      if #kept == 2 * width then break end
      if #page[i] > longest then
        if ARGV[1] ~= 'w' then return redis.error_reply('ERR a stored revocation id longer than any client writes, which this user may not remove (its keys are read-only): not loaded') end
        if removed == ${MAX_REMOVED_PER_READ} then return {{}, removed, 1} end
        redis.call('ZREM', key, page[i])
        removed = removed + 1
        found = found + 1
      else
        kept[#kept + 1] = page[i]
        kept[#kept + 1] = page[i + 1]
      end
    end
    if found == 0 or #kept == 2 * width or #page < 2 * wanted then return {kept, removed, 0} end
    from = first + #kept / 2
    ahead = math.min(2 * found, ${READ_AHEAD})
  end
end
`;

/**
 * Lua: the members ranked ARGV[2] to ARGV[3] (from the highest score: `ZRANGE … REV WITHSCORES`) of the
 * sorted set KEYS[1], as `{flat member/score list, removed, more}`, every member among them longer
 * than ARGV[4] bytes ({@link MAX_MEMBER_BYTES}) removed (ZREM) and its place taken by the next
 * ({@link LUA_READ_KEPT}): the reply is the range as it would have been without them, so the ranges
 * read after it, which the server runs after the removal, line up with it, and the read by rank needs
 * no read again for it (a range run before it, sent again out of turn, is seen by the usual check).
 * Removed members have no valid score to check: the member alone makes them poison. `more` 1: it
 * stopped after {@link MAX_REMOVED_PER_READ} removals, handing over nothing; call it again.
 */
export const READ_RANK_RANGE = `${LUA_READ_KEPT}
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
return read_kept(KEYS[1], first, last - first + 1, tonumber(ARGV[4]))
`;

/**
 * Lua: up to ARGV[4] members of score ARGV[2] of the sorted set KEYS[1], from offset ARGV[3]
 * (`ZRANGEBYSCORE … LIMIT`), each longer than ARGV[5] bytes as false: the page keeps its length (the
 * caller pages by it), the member is not handed over. A read by rank removes it. Writes nothing.
 */
export const MEMBERS_OF_SCORE = `
local page = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2], 'LIMIT', ARGV[3], ARGV[4])
local longest = tonumber(ARGV[5])
for i = 1, #page do
  if #page[i] > longest then page[i] = false end
end
return page
`;

/**
 * Entries read per command when loading the stored sessions, and reads of one set in flight at once
 * (pipelined on the command connection). Redis runs the commands a client has sent back to back in
 * one turn of its event loop, and every other client's command waits for that turn: with a fleet
 * starting at once against a large state, each starting instance's turn adds to every logout's
 * write. A read of 2,000 entries took the server 2–2.6 ms on a 2-vCPU VM, so a starting instance's
 * turn is about 5 ms where eight reads of 5,000 (5–7 ms each) made it 40–55 ms, and an instance
 * alone loads about as fast (`bench/profile/fleet-start.ts`; docs/logout-sync.md, "A fleet starting
 * at once").
 */
export const SNAPSHOT_CHUNK = 2_000;
const SNAPSHOT_WINDOW = 2;
/**
 * Reads of a set by rank before it is read after entries ({@link readAfterEntries}), which no change
 * to the set fools but whose pages go one at a time: the last resort, for a set that keeps changing
 * under the ranges.
 */
const RANK_READS = 3;

/** How {@link loadRevocationSnapshot} reads: entries per command and commands in flight (tests make chunks small to cross many of them). */
export interface SnapshotReadOptions {
  readonly chunk?: number;
  readonly window?: number;
}

/**
 * Loads the compacted revocation state into `index`: sessions still remembered (their expiry capped
 * at `maxLifetimeMs` from now), sessions revoked up to a time and not-befores still relevant. Entries
 * no honest writer makes (an id longer than {@link MAX_REVOCATION_ID_LENGTH}, a score that is not a
 * number, an up-to time or a not-before that is not a whole number, a not-before later than
 * now + {@link MAX_NOT_BEFORE_SKEW_SECONDS} + {@link NOT_BEFORE_READ_SLACK_SECONDS}) are not applied,
 * and are removed from Redis. (An up-to time later than that is kept in Redis and held as the whole
 * session, for this instance's lifetime: it refuses more, never less.) Those no writer could make (a member
 * over {@link MAX_MEMBER_BYTES}, a client-wide not-before over {@link MAX_CLIENT_NOT_BEFORE_BYTES})
 * are removed by the reads themselves, never handed over (`oversized`).
 *
 * "Now", for the not-befores, is the later of this host's clock and the Redis server's (the write
 * script judges what it stores by the server's clock): one this host finds too far ahead is judged
 * again by the server's, measured with `TIME` then (only then: a start pays no round trip for it). A
 * host whose clock runs minutes behind (a VM resumed, a host before NTP's first step) took honest
 * not-befores for poison, refused them and removed them from Redis, so that instances started later
 * missed them too. Without a measurement (the server refuses `TIME`, or it failed or was slow), a
 * not-before this host finds too far ahead is refused but left in Redis: that judgement may be this
 * host's clock's fault. Either way it is warned, saying which clock judged.
 *
 * The sessions (the bulk: up to millions), the sessions revoked up to a time and the user-wide
 * not-befores are read in rank ranges, highest score first (see {@link readByRank}); the two session
 * sets several commands in flight, the table (which holds both) sized from their `ZCARD`s, each of
 * which goes out with its set's first range. A session found in both session sets is revoked whole
 * ({@link RevocationIndex.revokeSessionUpTo} keeps a whole revocation whole, in either order).
 */
export async function loadRevocationSnapshot(redis: KccRedis, index: RevocationIndex, maxLifetimeMs: number, read: SnapshotReadOptions = {}): Promise<SnapshotLoad> {
  const now = Date.now();
  // Judged by this host's clock while reading; what that finds too far ahead is judged again by the
  // server's (below): no TIME round trip before the reads, on every start.
  const hostLatest = latestNotBefore(now, NOT_BEFORE_READ_SLACK_SECONDS);
  const cap = now + maxLifetimeMs;
  const oldest = oldestLiveNotBefore(now, maxLifetimeMs);
  const chunk = read.chunk ?? SNAPSHOT_CHUNK;
  const window = read.window ?? SNAPSHOT_WINDOW;
  /**
   * Reads the sorted set `name` whole by rank ({@link readByRank}), again when ranks shifted under
   * the read, and after entries ({@link readAfterEntries}) when they did each of {@link RANK_READS} times. `apply` applies an
   * entry and says what it was (one applied by an abandoned read stays applied: revocations only
   * ever raise).
   */
  const readSet = async (name: string, what: string, sized: ((count: number) => void) | undefined, floor: number, apply: (member: string, score: string) => Entry): Promise<ReadSet> => {
    // Poison by member and score: a member may be read twice, and members that are not UTF-8 read as one text.
    // Oversized members are counted as the scripts remove them: once each, also across reads again.
    const result = { loaded: 0, poison: new Map<string, [string, string]>(), future: new Map<string, [string, string]>(), oversized: 0 };
    const removed = (count: number) => void (result.oversized += count);
    const each = (member: string, score: string) => {
      const entry = apply(member, score);
      if (entry === 'applied') result.loaded++;
      else if (entry === 'poison' || entry === 'future') result[entry].set(`${score} ${member}`, [member, score]);
    };
    let sizing = sized;
    for (let attempt = 1; ; attempt++) {
      const whole = await readByRank(redis, redis.key(name), chunk, window, sizing, floor, removed, (flat, from) => {
        for (let i = from; i + 1 < flat.length; i += 2) each(flat[i]!, flat[i + 1]!);
      });
      if (whole) return result;
      // The table is sized once: a read again counts the set again only to pipeline its ranges.
      sizing &&= () => undefined;
      result.loaded = 0;
      result.poison.clear();
      result.future.clear();
      const why = `the stored ${what} moved under the ranges being read (a range sent again after the server refused it for now, a large write between two reads, or entries removed above the read position)`;
      if (attempt < RANK_READS) {
        redis.config.logger.info(`${why}: reading them again by rank`);
        continue;
      }
      redis.config.logger.info(`${why}, ${RANK_READS} times: reading them all again, each page after the last entry read`);
      await readAfterEntries(redis, redis.key(name), chunk, floor, removed, each);
      return result;
    }
  };
  // Both session sets fill the index's one session table: sized for both, from their counts (each
  // `ZCARD` goes out with its set's first range), whichever answers first.
  const held = index.sessionCount;
  let counted = 0;
  const reserve = (count: number) => index.reserveSessions(held + (counted += count));
  // Up-to times down to the first older than any live token's: those below refuse nothing either (writers prune them).
  const oldestUpTo = oldestLiveUpTo(now, maxLifetimeMs);
  /** Up-to entries later than this host's clock allows: judged again by the server's. */
  const aheadUpTo: [sid: string, upTo: number][] = [];
  // The four parts are independent (each change to them is also in the log): read together.
  const [sessions, sessionsUpTo, subjects, storedClient] = await Promise.all([
    // Sessions down to the first expired one: the rest are expired too.
    readSet(REVOCATION_KEYS.sessions, 'revoked sessions', reserve, now, (sid, raw) => {
      const exp = Number(raw);
      if (!validId(sid) || !Number.isFinite(exp)) return 'poison';
      if (exp <= now) return 'expired';
      index.revokeSession(sid, exp < cap ? exp : cap);
      return 'applied';
    }),
    // Sessions revoked up to a time (T, epoch s), down to the first T older than any live token's
    // `iat`. One later than this host's clock allows is judged again by the server's (below). Over a
    // whole revocation this live index holds but that expired (a load after a gap), one takes its place.
    readSet(REVOCATION_KEYS.sessionsUpTo, 'sessions revoked up to a time', reserve, oldestUpTo - 1, (sid, raw) => {
      const upTo = Number(raw);
      if (!validId(sid) || !Number.isSafeInteger(upTo)) return 'poison';
      if (upTo < oldestUpTo) return 'expired';
      if (upTo > hostLatest) aheadUpTo.push([sid, upTo]);
      else index.revokeSessionUpTo(sid, upTo, { nowMs: now, untilMs: 0 });
      return 'applied';
    }),
    // Not-befores down to the first older than any live token (as RevocationIndex.prune drops them;
    // writers prune them only every 64th batch): those below revoke nothing either.
    readSet(REVOCATION_KEYS.subjects, 'user-wide not-befores', undefined, oldest - 1, (sub, raw) => {
      const nbf = Number(raw);
      if (!validId(sub) || !Number.isSafeInteger(nbf)) return 'poison';
      if (nbf > hostLatest) return 'future';
      if (nbf < oldest) return 'expired';
      index.revokeSubject(sub, nbf);
      return 'applied';
    }),
    // Longer than any writer stores (epoch seconds): removed unread.
    readBoundedString(redis, redis.key(REVOCATION_KEYS.clientNotBefore), MAX_CLIENT_NOT_BEFORE_BYTES, { removeOversized: true }),
  ]);
  let loaded = sessions.loaded + sessionsUpTo.loaded + subjects.loaded;
  let poisonClient = '';
  let futureClient = '';
  const stored = storedClient.value;
  if (stored !== null) {
    const nbf = Number(stored);
    if (!Number.isSafeInteger(nbf)) poisonClient = stored;
    else if (nbf > hostLatest) futureClient = stored;
    else {
      index.revokeAllBefore(nbf);
      loaded++;
    }
  }
  // Ahead of this host's clock: judged again by the server's, measured now (the later of the two
  // clocks decides, as for messages: a host running behind must not refuse an honest not-before).
  const futureSubjects = new Map(subjects.future);
  let serverNow: number | undefined;
  if (futureSubjects.size > 0 || futureClient !== '' || aheadUpTo.length > 0) {
    serverNow = await redis.serverClock.measuredNow();
    if (serverNow !== undefined) {
      const latest = latestNotBefore(serverNow, NOT_BEFORE_READ_SLACK_SECONDS);
      for (const [key, [sub, score]] of futureSubjects) {
        if (Number(score) > latest) continue;
        index.revokeSubject(sub, Number(score));
        futureSubjects.delete(key);
        loaded++;
      }
      if (futureClient !== '' && Number(futureClient) <= latest) {
        index.revokeAllBefore(Number(futureClient));
        futureClient = '';
        loaded++;
      }
    }
  }
  // An up-to time later than any honest writer writes only refuses more of one session, but would be
  // held for decades: held as the whole session for this instance's lifetime instead (an attack
  // review); so is one the server's clock could not judge (refusing more).
  const upToLatest = serverNow === undefined ? -Infinity : latestNotBefore(serverNow, NOT_BEFORE_READ_SLACK_SECONDS);
  for (const [sid, upTo] of aheadUpTo) {
    if (upTo <= upToLatest) index.revokeSessionUpTo(sid, upTo, { nowMs: now, untilMs: 0 });
    else index.revokeSession(sid, cap);
  }
  const oversized = sessions.oversized + sessionsUpTo.oversized + subjects.oversized + (storedClient.oversized === undefined ? 0 : 1);
  const future = futureSubjects.size + (futureClient === '' ? 0 : 1);
  if (future > 0) warnFuture(redis, future, serverNow === undefined ? undefined : now - serverNow);
  // Too far ahead of the server's clock is poison; of this host's alone, it may be the host's fault.
  const subjectPoison = serverNow === undefined ? subjects.poison : new Map([...subjects.poison, ...futureSubjects]);
  const clientPoison = poisonClient || (serverNow === undefined ? '' : futureClient);
  const removing = sessions.poison.size + sessionsUpTo.poison.size + subjectPoison.size + (clientPoison === '' ? 0 : 1);
  if (removing > 0) {
    const [sessionBytes, subjectBytes, upToBytes] = await Promise.all([
      storedBytes(redis, redis.key(REVOCATION_KEYS.sessions), sessions.poison),
      storedBytes(redis, redis.key(REVOCATION_KEYS.subjects), subjectPoison),
      storedBytes(redis, redis.key(REVOCATION_KEYS.sessionsUpTo), sessionsUpTo.poison),
    ]);
    await purge(redis, clientPoison, sessionBytes, subjectBytes, upToBytes);
  }
  const poison = sessions.poison.size + sessionsUpTo.poison.size + subjects.poison.size + (poisonClient === '' ? 0 : 1);
  return { loaded, refused: poison + future + oversized, oversized };
}

/**
 * Warns of `count` stored not-befores later than now + {@link MAX_NOT_BEFORE_SKEW_SECONDS} +
 * {@link NOT_BEFORE_READ_SLACK_SECONDS}, saying which clock judged them: the server's, measured
 * (`hostAheadMs`: this host's clock minus it), or this host's alone (undefined).
 */
function warnFuture(redis: KccRedis, count: number, hostAheadMs: number | undefined): void {
  const bound = MAX_NOT_BEFORE_SKEW_SECONDS + NOT_BEFORE_READ_SLACK_SECONDS;
  const entries = count === 1 ? 'not-before' : 'not-befores';
  if (hostAheadMs !== undefined) {
    const off = Math.abs(hostAheadMs) > NOT_BEFORE_READ_SLACK_SECONDS * 1000
      ? `; this host's clock is ${Math.round(Math.abs(hostAheadMs) / 1000)} s ${hostAheadMs > 0 ? 'ahead of' : 'behind'} it: check NTP`
      : '';
    redis.config.logger.warn(
      `${count} stored ${entries} more than ${bound} s ahead of the Redis server's clock (measured with TIME during the load${off}) refused and removed from Redis: ` +
        'no honest writer stores one (a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
    );
    return;
  }
  const why = redis.serverClock.uncorrected ? 'the server refuses TIME' : 'TIME failed or took too long';
  redis.config.logger.warn(
    `${count} stored ${entries} more than ${bound} s ahead of this host's clock refused here but left in Redis: this host's clock could not be compared with the Redis server's (${why}), ` +
      'and if it runs behind (check NTP), they are honest logouts that instances with a correct clock apply. A writer removes one that far ahead of its estimate of the server\'s clock',
  );
}

/** What a snapshot load made of one stored entry: `future`, a not-before too far ahead ({@link loadRevocationSnapshot}). */
type Entry = 'applied' | 'expired' | 'poison' | 'future';

/** One sorted set read whole: entries applied (one read twice while ranks shifted counts twice), the poison refused, the not-befores too far ahead, and the members removed unread as oversized. */
interface ReadSet {
  readonly loaded: number;
  readonly poison: ReadonlyMap<string, readonly [member: string, score: string]>;
  readonly future: ReadonlyMap<string, readonly [member: string, score: string]>;
  readonly oversized: number;
}

/** Members of one score read per command, and commands at most, when {@link storedBytes} looks for poison members among them. */
const SCORE_PAGE = 500;
const SCORE_PAGES = 20;
/** Scores looked through at once. */
const SCORE_LOOKUPS_IN_FLIGHT = 64;

/**
 * The poison entries of the sorted set `key` as stored, for the purge to find them: a member read as
 * text with U+FFFD in it may have bytes that are not UTF-8 (written raw, with the app's credentials),
 * which decode to other bytes. Such members are looked up among their score's members (read as bytes,
 * up to {@link SCORE_PAGES} pages of {@link SCORE_PAGE}): every one that reads as the poison text is
 * poison alike (the same text, the same score). One not found (removed meanwhile, or deeper in a larger
 * group of one score) stays for a later load to refuse.
 */
async function storedBytes(redis: KccRedis, key: string, poison: ReadonlyMap<string, readonly [string, string]>): Promise<[Buffer | string, string][]> {
  const entries: [Buffer | string, string][] = [];
  const undecoded = new Map<string, Set<string>>();
  for (const [member, score] of poison.values()) {
    if (!member.includes('\uFFFD')) entries.push([member, score]);
    else undecoded.set(score, (undecoded.get(score) ?? new Set()).add(member));
  }
  const lookUp = async ([score, members]: [string, Set<string>]) => {
    for (let page = 0; page < SCORE_PAGES; page++) {
      // Bytes (as stored); a member longer than any id (written since the ranges read) as null, not handed over.
      const stored = await runReadScript<(Buffer | null)[]>(redis, MEMBERS_OF_SCORE, [key], [score, page * SCORE_PAGE, SCORE_PAGE, MAX_MEMBER_BYTES], true);
      for (const bytes of stored) if (bytes !== null && members.has(bytes.toString())) entries.push([bytes, score]);
      if (stored.length < SCORE_PAGE) return;
    }
  };
  // Many scores at once (pipelined): poison planted under many scores costs no round trip each.
  const scores = [...undecoded];
  for (let i = 0; i < scores.length; i += SCORE_LOOKUPS_IN_FLIGHT) await Promise.all(scores.slice(i, i + SCORE_LOOKUPS_IN_FLIGHT).map(lookUp));
  return entries;
}

/**
 * Removes the refused entries ({@link PURGE}): the client-wide not-before (`client`, '' for none) with
 * the first call, the pairs (as stored) {@link PURGE_CHUNK} a call, one script call each (its keys in
 * one slot).
 */
async function purge(redis: KccRedis, client: string, sessions: [Buffer | string, string][], subjects: [Buffer | string, string][], upTo: [Buffer | string, string][]): Promise<void> {
  const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore, REVOCATION_KEYS.sessionsUpTo].map((name) => redis.key(name));
  let first = true;
  while (first || sessions.length > 0 || subjects.length > 0 || upTo.length > 0) {
    const s = sessions.splice(0, PURGE_CHUNK);
    const t = subjects.splice(0, PURGE_CHUNK - s.length);
    const u = upTo.splice(0, PURGE_CHUNK - s.length - t.length);
    await redis.script(PURGE, keys, [first ? client : '', s.length, t.length, ...s.flat(), ...t.flat(), ...u.flat()]);
    first = false;
  }
}

/**
 * Lua: up to ARGV[4] entries of the sorted set KEYS[1], highest score first (members of one score in
 * descending byte order, as `ZRANGE … REV`), from the first entry after the one with score ARGV[2]
 * and member ARGV[3] (from the top when ARGV[2] is empty), that entry found in the set by its value,
 * not by a position: its score's members are counted above and binary-searched by member (bytes, as
 * Redis orders them: Lua's `<` on strings follows the server's locale), so the entry need not be in
 * the set any more. Every call O(log N × log of its score's members + ARGV[4] + its removals). As
 * `{flat member/score list, removed, more}`: members longer than ARGV[5] bytes ({@link MAX_MEMBER_BYTES})
 * among those entries are removed (the only write) and their places taken by the members after them
 * ({@link LUA_READ_KEPT}); `more` 1: it stopped after {@link MAX_REMOVED_PER_READ} removals, handing
 * over nothing, and is called again from the same entry. ARGV[1]: 'w' ({@link runReadScript}).
 */
export const READ_AFTER_ENTRY = `${LUA_READ_KEPT}
local key, count, longest = KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[5])
local start = 0
if ARGV[2] ~= '' then
  local score, member = ARGV[2], ARGV[3]
  local function sorts_before(a, b)
    for i = 1, math.min(#a, #b) do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then return x < y end
    end
    return #a < #b
  end
  local above = redis.call('ZCOUNT', key, '(' .. score, '+inf')
  local lo, hi = 0, redis.call('ZCOUNT', key, score, score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if sorts_before(redis.call('ZRANGE', key, above + mid, above + mid, 'REV')[1], member) then hi = mid else lo = mid + 1 end
  end
  start = above + lo
end
return read_kept(key, start, count, longest)
`;

/** Pages a read after an entry may take, beyond twice those the set's size at its start calls for: past them the set kept growing under the read. */
const ENTRY_READ_SLACK_PAGES = 8;

/**
 * Every member present throughout the read: pages of up to `chunk` entries from the highest score
 * down, each starting just after the last entry of the page before, found by its score and member
 * inside the script ({@link READ_AFTER_ENTRY}), until a page comes back short or reaches `floor`.
 * An entry is a value of the data, not a position, so no addition or removal (anywhere: above the
 * read position too), on whichever server process answers (a restart, a failover to a replica that
 * has the data, the key moved, an `ASK` redirection) moves a member present throughout past it
 * unread; only a raised score moves a member up past it, and a raise is in the event log. The pages
 * go one after the other, so this is the fallback of the reads by rank, not the first read. A set
 * that keeps growing under the read (a holder of the app's credentials adding below the read
 * position as fast as it goes) fails it after twice the pages its size at the start calls for, and
 * {@link ENTRY_READ_SLACK_PAGES} more: the load fails, as a start; a reload is tried at the next poll.
 */
async function readAfterEntries(redis: KccRedis, key: string, chunk: number, floor: number, removed: (count: number) => void, each: (member: string, score: string) => void): Promise<void> {
  const pages = 2 * Math.ceil((await redis.run((r) => r.zcard(key))) / chunk) + ENTRY_READ_SLACK_PAGES;
  let after: [Buffer | string, Buffer | string] = ['', ''];
  for (let page = 0; page < pages; page++) {
    // Bytes, not strings: the entry is sent back as stored (a member that is not UTF-8 decodes to
    // other bytes, and the next page would start elsewhere in its score's members). EVAL each time:
    // the script's text costs nothing next to a page, and no NOSCRIPT round trip can happen.
    const flat = await readRemoving(key, removed, () => runReadScript<[Buffer[], number, number]>(redis, READ_AFTER_ENTRY, [key], [after[0], after[1], chunk, MAX_MEMBER_BYTES], true));
    for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i]!.toString(), flat[i + 1]!.toString());
    if (flat.length < 2 * chunk || Number(flat[flat.length - 1]!.toString()) <= floor) return;
    after = [flat[flat.length - 1]!, flat[flat.length - 2]!];
  }
  throw new KccConnectionError(`reading ${key}: it kept growing under the read (more than ${pages} pages of ${chunk}); not loaded`);
}

/**
 * Reads the sorted set `key` in rank ranges of `chunk`, from the highest score down, until a range
 * comes back short or ends at or below `floor` (what lies below is not wanted). Ranges are handed to
 * `each` in order, with the index of the first entry not handed over before. With `sized`, `ZCARD`
 * and the first range go out together; `sized` gets the
 * count, and the ranges it calls for are sent up to `window` in flight, one more as each reply comes
 * back: up to a range costs two commands, a large set waits one round trip for the count before the
 * rest of the window goes out. Past the count (entries added during the load), or without `sized`
 * (a set expected to be small: one command), the next range is read once the last came back full,
 * one at a time.
 *
 * Why ranks, and why from the top: a rank is the data's own order, so a range reads the same
 * entries whichever server process answers it (a restart, a failover, the key moved to another node,
 * even an `ASK` redirection during an online resharding, which nothing in the client sees), where a
 * `ZSCAN` cursor holds only in the process that returned it. Ranks do shift while the set changes
 * under the reader. Writers of the three sets add members (anywhere: a session at or near the top,
 * with an expiry of now + the session lifetime; a session revoked up to a time, and a user-wide
 * not-before, at its time) or raise a score (`ZADD GT`: the member moves up); pruning removes the
 * lowest scores, at the bottom (other removals: below). Counted from the top, an addition or a
 * raise shifts the unread members down by one or not at all (read twice: harmless), a removal at
 * the bottom shifts nothing unread. So every member present throughout the load is read, as long
 * as each range is read after the one before it; a member added or raised during it was also
 * appended to the event log, which the instance reads from a position taken before the load
 * (Revocations.begin).
 *
 * A range can be read out of turn, though: `KccRedis.run` sends a command again when the server
 * refused it for now (LOADING, a slot moving), and by then the ranges after it have run; members
 * added in between push members of its span past its end, where the next range, read earlier, did
 * not find them. So each range reads one entry past its end, and the next range must begin with a
 * member it holds, with the same score: a member whose score did not change kept its place among
 * every other member present throughout (only raised members move past others, up, and they are in
 * the log), so whichever of the two ranges was read first, the members between the start of the one
 * range and it were in that range, and those after it are in the next. It does begin so when ranks
 * only shifted down between two reads in turn, by up to a range. When it does not (a range read late, or its
 * boundary member raised meanwhile; a write of more than a range's members between two reads; a
 * removal above the read position), or when a range comes back empty after a full one (a range's
 * worth removed between the two: from above the read position, the lowest members moved up past it
 * unread), this returns false and the caller reads the set again. Removals above the read position
 * are purges of poison entries (a loader's, see {@link loadRevocationSnapshot}; a writer's of
 * not-befores later than its estimate of the server's time + 90 s), a session revoked whole that
 * was revoked up to a time (the write script takes it out of that set: it is in the log, and in the
 * sessions' set) and a holder of the app's credentials (docs/security-model.md).
 */
async function readByRank(
  redis: KccRedis,
  key: string,
  chunk: number,
  window: number,
  sized: ((count: number) => void) | undefined,
  floor: number,
  removed: (count: number) => void,
  each: (flat: readonly string[], from: number) => void,
): Promise<boolean> {
  // Each read is awaited in turn, later; one that fails while an earlier one is awaited (or once the
  // load has failed or stopped) must not be an unhandled rejection, which ends the process. A range
  // is read by a script that removes members longer than any id first (READ_RANK_RANGE).
  //
  // One whose script stopped at MAX_REMOVED_PER_READ is called again (readRemoving), after the ranges
  // sent with it: what that later call removes lay above those ranges, and above every range after
  // it, so that each range sent after the call begins that many ranks higher (`moved`: what each range's
  // later calls removed, by its start). So those calls go one at a time, and no range is sent while
  // one is unanswered: each is sent knowing how far the ones before moved the ranks. (Removals below
  // the range's start make it begin higher than needed: its first entries are read twice.) The check of
  // each range's first entry still vouches for every range, as ever.
  const moved: [start: number, count: number][] = [];
  const shift = (start: number) => moved.reduce((sum, [at, count]) => (at < start ? sum + count : sum), 0);
  let later: Promise<unknown> = Promise.resolve();
  const call = (start: number) => {
    const from = Math.max(0, start - shift(start));
    return runReadScript<[string[], number, number]>(redis, READ_RANK_RANGE, [key], [from, from + chunk, MAX_MEMBER_BYTES]);
  };
  const range = (start: number) =>
    handled(
      (async () => {
        for (let pending = later; ; pending = later) {
          await pending;
          if (pending === later) break;
        }
        let first = true;
        return readRemoving(key, removed, () => {
          if (first) {
            first = false;
            return call(start);
          }
          const again = later.then(async () => {
            const reply = await call(start);
            moved.push([start, reply[1]]);
            return reply;
          });
          later = again.catch(() => undefined);
          return again;
        });
      })(),
    );
  const card = sized && handled(redis.run((r) => r.zcard(key)));
  const inFlight: Promise<string[]>[] = [range(0)];
  let next = chunk;
  const count = card ? await card : 0;
  sized?.(count);
  for (; inFlight.length < window && next < count; next += chunk) inFlight.push(range(next));
  // Ranges still in flight go on removing what they meet, call after call: their removals are this
  // load's to count, and must not move ranks under a read again.
  const drained = async (whole: boolean) => {
    await Promise.allSettled(inFlight);
    return whole;
  };
  let previous: readonly string[] | undefined;
  while (inFlight.length > 0) {
    const flat = await inFlight.shift()!;
    // After an empty range, any member is one the check cannot vouch for.
    if (previous !== undefined && flat.length > 0 && !holdsEntry(previous, flat[0]!, flat[1]!)) return drained(false);
    // Empty after a full one (a short one ended the read): at least a range's worth of the set went
    // between the two reads, from above the read position (then the lowest members moved up past it
    // unread) or at the bottom.
    if (previous !== undefined && flat.length === 0) return drained(false);
    // The entry read twice where nothing shifted: the last of the range before.
    each(flat, previous !== undefined && flat.length > 0 && flat[0] === previous[previous.length - 2] ? 2 : 0);
    previous = flat;
    // A short range ends the set; one that reaches `floor` ends what is wanted of it (writers prune
    // there, and removals read below would only make the next range fail its check needlessly).
    if (flat.length < 2 * (chunk + 1) || Number(flat[flat.length - 1]) <= floor) return drained(true);
    // Past the count, a range is read only after the last one came back full (the set grew meanwhile, or ends there).
    if (next < count || inFlight.length === 0) {
      inFlight.push(range(next));
      next += chunk;
    }
  }
  return drained(true);
}

/** Calls of one read of a sorted set at most (each removing up to {@link MAX_REMOVED_PER_READ} members) before the load gives up. */
const MAX_READ_CALLS = 1_000;

/**
 * Runs one read of the sorted set `key` (`call`: {@link READ_RANK_RANGE} or {@link READ_AFTER_ENTRY})
 * again while it replies `more` (it stopped after {@link MAX_REMOVED_PER_READ} removals), and resolves
 * with its last page. `removed` gets each call's removals. Past
 * {@link MAX_READ_CALLS} calls (a million members longer than any id, or a writer adding them as fast
 * as they go) the load fails.
 */
async function readRemoving<T>(key: string, removed: (count: number) => void, call: () => Promise<[T[], number, number?]>): Promise<T[]> {
  for (let n = 1; n <= MAX_READ_CALLS; n++) {
    const [flat, count, more] = await call();
    removed(count);
    if (more !== 1) return flat;
  }
  throw new KccConnectionError(`reading ${key}: it kept holding members longer than any id (over ${MAX_READ_CALLS * MAX_REMOVED_PER_READ} removed in one read); not loaded`);
}

/**
 * Whether `flat` (member, score pairs) holds `member` with `score`, looked for from the end, where it
 * is when ranks shifted little. Never for a member with U+FFFD in it: read as text, members whose bytes
 * are not UTF-8 (raw bytes, with the app's credentials) can come out the same, and vouch for each other.
 */
function holdsEntry(flat: readonly string[], member: string, score: string): boolean {
  if (member.includes('\uFFFD')) return false;
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i] === member) return flat[i + 1] === score;
  return false;
}

/** `promise`, with a handler attached so that its rejection is reported only where it is awaited. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}
