import type { KccRedis } from '../connection.js';
import { KccConnectionError } from '../errors.js';
import { MAX_NOT_BEFORE_SKEW_SECONDS, MAX_REVOCATION_ID_LENGTH, NOT_BEFORE_READ_SLACK_SECONDS, latestNotBefore } from './revocation-event.js';
import { type RevocationIndex, oldestLiveNotBefore } from './revocation-index.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/** What {@link loadRevocationSnapshot} loaded, and the poison entries it refused (and removed from Redis). */
export interface SnapshotLoad {
  /** Entries applied; one read twice while ranks shifted under the load counts twice. */
  readonly loaded: number;
  readonly refused: number;
}

/** Members removed per purge call. */
const PURGE_CHUNK = 500;

// Removes entries a loader refused, each only if it still holds the value the loader saw (an honest
// write since then is kept). KEYS: sessions, subjects, client-not-before.
// ARGV: client value to delete ('' for none), number of session pairs, then (member, score) pairs of
// sessions, then of subjects.
const PURGE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local sessions = tonumber(ARGV[2])
local removed = 0
for i = 3, #ARGV, 2 do
  local key = KEYS[2]
  if (i - 3) / 2 < sessions then key = KEYS[1] end
  local score = redis.call('ZSCORE', key, ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then removed = removed + redis.call('ZREM', key, ARGV[i]) end
end
return removed
`;

const validId = (id: string) => id.length > 0 && id.length <= MAX_REVOCATION_ID_LENGTH;

/** Entries read per command when loading the stored sessions. */
export const SNAPSHOT_CHUNK = 5_000;
/** Chunk reads in flight at once (pipelined on the command connection). */
const SNAPSHOT_WINDOW = 8;
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
 * at `maxLifetimeMs` from now), not-befores still relevant. Entries no honest writer makes (an id
 * longer than {@link MAX_REVOCATION_ID_LENGTH}, a score that is not a number, a not-before later than
 * now + {@link MAX_NOT_BEFORE_SKEW_SECONDS} + {@link NOT_BEFORE_READ_SLACK_SECONDS}) are not applied,
 * and are removed from Redis.
 *
 * The sessions (the bulk: up to millions) and the user-wide not-befores are read in rank ranges,
 * highest score first (see {@link readByRank}); the sessions several commands in flight, the table
 * sized once from `ZCARD`, which goes out with the first range.
 */
export async function loadRevocationSnapshot(redis: KccRedis, index: RevocationIndex, maxLifetimeMs: number, read: SnapshotReadOptions = {}): Promise<SnapshotLoad> {
  const now = Date.now();
  const latest = latestNotBefore(now, NOT_BEFORE_READ_SLACK_SECONDS);
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
    const result = { loaded: 0, poison: new Map<string, [string, string]>() };
    const each = (member: string, score: string) => {
      const entry = apply(member, score);
      if (entry === 'applied') result.loaded++;
      else if (entry === 'poison') result.poison.set(`${score} ${member}`, [member, score]);
    };
    let sizing = sized;
    for (let attempt = 1; ; attempt++) {
      const whole = await readByRank(redis, redis.key(name), chunk, window, sizing, floor, (flat, from) => {
        for (let i = from; i + 1 < flat.length; i += 2) each(flat[i]!, flat[i + 1]!);
      });
      if (whole) return result;
      // The table is sized once: a read again counts the set again only to pipeline its ranges.
      sizing &&= () => undefined;
      result.loaded = 0;
      result.poison.clear();
      const why = `the stored ${what} moved under the ranges being read (a range sent again after the server refused it for now, a large write between two reads, or entries removed above the read position)`;
      if (attempt < RANK_READS) {
        redis.config.logger.info(`${why}: reading them again by rank`);
        continue;
      }
      redis.config.logger.info(`${why}, ${RANK_READS} times: reading them all again, each page after the last entry read`);
      await readAfterEntries(redis, redis.key(name), chunk, floor, each);
      return result;
    }
  };
  // The three parts are independent (each change to them is also in the log): read together.
  const [sessions, subjects, stored] = await Promise.all([
    // Sessions down to the first expired one: the rest are expired too.
    readSet(REVOCATION_KEYS.sessions, 'revoked sessions', (count) => index.reserveSessions(index.sessionCount + count), now, (sid, raw) => {
      const exp = Number(raw);
      if (!validId(sid) || !Number.isFinite(exp)) return 'poison';
      if (exp <= now) return 'expired';
      index.revokeSession(sid, exp < cap ? exp : cap);
      return 'applied';
    }),
    // Not-befores down to the first older than any live token (as RevocationIndex.prune drops them;
    // writers prune them only every 64th batch): those below revoke nothing either.
    readSet(REVOCATION_KEYS.subjects, 'user-wide not-befores', undefined, oldest - 1, (sub, raw) => {
      const nbf = Number(raw);
      if (!validId(sub) || !Number.isSafeInteger(nbf) || nbf > latest) return 'poison';
      if (nbf < oldest) return 'expired';
      index.revokeSubject(sub, nbf);
      return 'applied';
    }),
    redis.run((r) => r.get(redis.key(REVOCATION_KEYS.clientNotBefore))),
  ]);
  let loaded = sessions.loaded + subjects.loaded;
  let poisonClient = '';
  if (stored !== null) {
    const nbf = Number(stored);
    if (!Number.isSafeInteger(nbf) || nbf > latest) poisonClient = stored;
    else {
      index.revokeAllBefore(nbf);
      loaded++;
    }
  }
  const refused = sessions.poison.size + subjects.poison.size + (poisonClient === '' ? 0 : 1);
  if (refused > 0) {
    const [sessionBytes, subjectBytes] = await Promise.all([
      storedBytes(redis, redis.key(REVOCATION_KEYS.sessions), sessions.poison),
      storedBytes(redis, redis.key(REVOCATION_KEYS.subjects), subjects.poison),
    ]);
    await purge(redis, poisonClient, sessionBytes, subjectBytes);
  }
  return { loaded, refused };
}

/** What a snapshot load made of one stored entry. */
type Entry = 'applied' | 'expired' | 'poison';

/** One sorted set read whole: entries applied (one read twice while ranks shifted counts twice) and the poison refused. */
interface ReadSet {
  readonly loaded: number;
  readonly poison: ReadonlyMap<string, readonly [member: string, score: string]>;
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
      const stored = await redis.run((r) => r.zrangebyscoreBuffer(key, score, score, 'LIMIT', page * SCORE_PAGE, SCORE_PAGE));
      for (const bytes of stored) if (members.has(bytes.toString())) entries.push([bytes, score]);
      if (stored.length < SCORE_PAGE) return;
    }
  };
  // Many scores at once (pipelined): poison planted under many scores costs no round trip each.
  const scores = [...undecoded];
  for (let i = 0; i < scores.length; i += SCORE_LOOKUPS_IN_FLIGHT) await Promise.all(scores.slice(i, i + SCORE_LOOKUPS_IN_FLIGHT).map(lookUp));
  return entries;
}

async function purge(redis: KccRedis, client: string, sessions: [Buffer | string, string][], subjects: [Buffer | string, string][]): Promise<void> {
  const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore].map((name) => redis.key(name));
  let first = true;
  while (first || sessions.length > 0 || subjects.length > 0) {
    const s = sessions.splice(0, PURGE_CHUNK);
    const t = subjects.splice(0, PURGE_CHUNK - s.length);
    await redis.script(PURGE, keys, [first ? client : '', s.length, ...s.flat(), ...t.flat()]);
    first = false;
  }
}

/**
 * Lua: up to ARGV[3] entries of the sorted set KEYS[1], highest score first (members of one score in
 * descending byte order, as `ZRANGE … REV`), from the first entry after the one with score ARGV[1]
 * and member ARGV[2] (from the top when ARGV[1] is empty), that entry found in the set by its value,
 * not by a position: its score's members are counted above and binary-searched by member (bytes, as
 * Redis orders them: Lua's `<` on strings follows the server's locale), so the entry need not be in
 * the set any more. Read-only; every call O(log N × log of its score's members + ARGV[3]).
 */
export const READ_AFTER_ENTRY = `
local key, count = KEYS[1], tonumber(ARGV[3])
local start = 0
if ARGV[1] ~= '' then
  local score, member = ARGV[1], ARGV[2]
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
return redis.call('ZRANGE', key, start, start + count - 1, 'REV', 'WITHSCORES')
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
async function readAfterEntries(redis: KccRedis, key: string, chunk: number, floor: number, each: (member: string, score: string) => void): Promise<void> {
  const pages = 2 * Math.ceil((await redis.run((r) => r.zcard(key))) / chunk) + ENTRY_READ_SLACK_PAGES;
  let after: [Buffer | string, Buffer | string] = ['', ''];
  for (let page = 0; page < pages; page++) {
    // Bytes, not strings: the entry is sent back as stored (a member that is not UTF-8 decodes to
    // other bytes, and the next page would start elsewhere in its score's members). EVAL each time:
    // the script's text costs nothing next to a page, and no NOSCRIPT round trip can happen.
    const flat = (await redis.run((r) => r.callBuffer('EVAL', READ_AFTER_ENTRY, 1, key, after[0], after[1], chunk))) as Buffer[];
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
 * under the reader. Writers of both sets add members (anywhere: a session at or near the top,
 * with an expiry of now + the session lifetime; a user-wide not-before at its time) or raise a
 * score (`ZADD GT`: the member moves up); pruning removes the lowest scores, at the bottom (other
 * removals: below). Counted from the top, an addition or a raise shifts the unread members down by
 * one or not at all (read twice: harmless), a removal at the bottom shifts nothing unread. So every member present
 * throughout the load is read, as long as each range is read after the one before it; a member
 * added or raised during it was also appended to the event log, which the instance reads from a
 * position taken before the load (Revocations.begin).
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
 * not-befores later than its estimate of the server's time + 90 s) and a holder of the app's
 * credentials (docs/security-model.md).
 */
async function readByRank(redis: KccRedis, key: string, chunk: number, window: number, sized: ((count: number) => void) | undefined, floor: number, each: (flat: readonly string[], from: number) => void): Promise<boolean> {
  // Each read is awaited in turn, later; one that fails while an earlier one is awaited (or once the
  // load has failed or stopped) must not be an unhandled rejection, which ends the process.
  const range = (start: number) => handled(redis.run((r) => r.zrange(key, start, String(start + chunk), 'REV', 'WITHSCORES')));
  const card = sized && handled(redis.run((r) => r.zcard(key)));
  const inFlight: Promise<string[]>[] = [range(0)];
  let next = chunk;
  const count = card ? await card : 0;
  sized?.(count);
  for (; inFlight.length < window && next < count; next += chunk) inFlight.push(range(next));
  let previous: readonly string[] | undefined;
  while (inFlight.length > 0) {
    const flat = await inFlight.shift()!;
    // After an empty range, any member is one the check cannot vouch for.
    if (previous !== undefined && flat.length > 0 && !holdsEntry(previous, flat[0]!, flat[1]!)) return false;
    // Empty after a full one (a short one ended the read): at least a range's worth of the set went
    // between the two reads, from above the read position (then the lowest members moved up past it
    // unread) or at the bottom.
    if (previous !== undefined && flat.length === 0) return false;
    // The entry read twice where nothing shifted: the last of the range before.
    each(flat, previous !== undefined && flat.length > 0 && flat[0] === previous[previous.length - 2] ? 2 : 0);
    previous = flat;
    // A short range ends the set; one that reaches `floor` ends what is wanted of it (writers prune
    // there, and removals read below would only make the next range fail its check needlessly).
    if (flat.length < 2 * (chunk + 1) || Number(flat[flat.length - 1]) <= floor) return true;
    // Past the count, a range is read only after the last one came back full (the set grew meanwhile, or ends there).
    if (next < count || inFlight.length === 0) {
      inFlight.push(range(next));
      next += chunk;
    }
  }
  return true;
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
