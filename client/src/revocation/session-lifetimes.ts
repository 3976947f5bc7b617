import type { KccRedis } from '../connection.js';
import { LUA_KEY_REPAIR } from '../lua-key-repair.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/**
 * The longest `sessionMaxLifetimeMs`: ten years, above any Keycloak session or offline-session
 * lifespan in practice. Past about 56 years the log's trim position (now − lifetime) would fall
 * before 1970 and Redis would refuse every write.
 */
export const MAX_SESSION_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;

/** A declaration lapses this long after its last renewal (ms), by the clock of the instance that made it. */
export const LIFETIME_DECLARATION_TTL_MS = 5 * 60_000;
/** A running instance renews its declaration this often (ms). */
export const LIFETIME_DECLARATION_INTERVAL_MS = 60_000;
/**
 * How far apart two instances' estimates of the server's time may be without either losing sight of
 * the other's declarations (ms). Each instance dates its declaration, and judges the others', by its
 * own estimate (server-clock.ts: the server's `TIME` corrects it to within a round trip; a server
 * that refuses `TIME` leaves each host's own clock). A reader counts a declaration while the
 * declaration's lapse time lies between an hour behind the reader's now and an hour and the TTL ahead
 * of it ({@link currentDeclarationWindow}): a writer up to an hour ahead of the declarer still sees a
 * renewed declaration, one up to an hour behind still sees one dated by a clock ahead, and one dated
 * further ahead, which no instance writes, is not counted (and is removed).
 */
export const DECLARATION_CLOCK_TOLERANCE_MS = 3_600_000;
/**
 * Declarations a write script reads: an honest app-env has one lifetime, two during a change. When
 * more are current, they are not all read, and the longest possible lifetime applies: crowding the set
 * (a Redis writer with the app's credentials) keeps the state longer, never prunes it sooner.
 */
export const MAX_DECLARATIONS_READ = 16;
/**
 * Members of the current window a reader looks at: malformed ones among them count for nothing; more
 * than this many counts as crowded (the set is not read further).
 */
export const DECLARATION_MEMBERS_READ = 64;

/** A declared lifetime as instances write it: whole milliseconds from 1 to {@link MAX_SESSION_LIFETIME_MS}. */
export function isDeclaredLifetime(member: string): boolean {
  return /^[1-9]\d{0,11}$/.test(member) && Number(member) <= MAX_SESSION_LIFETIME_MS;
}

/** The window of lapse times (ms, exclusive from, inclusive to) a reader at `nowMs` counts as current. */
export function currentDeclarationWindow(nowMs: number): { readonly from: number; readonly to: number } {
  return { from: nowMs - DECLARATION_CLOCK_TOLERANCE_MS, to: nowMs + LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS };
}

/**
 * Lua: `longest_lifetime(key, now_ms, own_ms)`, the longest session lifetime (ms) declared by an
 * instance of the app-env ({@link currentDeclarationWindow}), or `own_ms` if that is longer, and how
 * many lifetimes are declared; the longest possible ({@link MAX_SESSION_LIFETIME_MS}) when more than
 * {@link MAX_DECLARATIONS_READ} are current, or more than {@link DECLARATION_MEMBERS_READ} members of
 * any kind. A member that is not a lifetime ({@link isDeclaredLifetime}) counts for nothing. A key
 * of another type counts as no declaration (the next {@link declareSessionLifetime} replaces it).
 */
export const LUA_LONGEST_LIFETIME = `local function is_lifetime(member)
  return string.match(member, '^[1-9]%d*$') ~= nil and #member <= 12 and tonumber(member) <= ${MAX_SESSION_LIFETIME_MS}
end
local function longest_lifetime(key, now_ms, own_ms)
  local ok, members = pcall(redis.call, 'ZRANGEBYSCORE', key, '(' .. string.format('%.0f', now_ms - ${DECLARATION_CLOCK_TOLERANCE_MS}), string.format('%.0f', now_ms + ${LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS}), 'LIMIT', 0, ${DECLARATION_MEMBERS_READ + 1})
  if not ok then return own_ms, 0 end
  if #members > ${DECLARATION_MEMBERS_READ} then return math.max(own_ms, ${MAX_SESSION_LIFETIME_MS}), #members end
  local longest, count = own_ms, 0
  for _, member in ipairs(members) do
    if is_lifetime(member) then
      count = count + 1
      local ms = tonumber(member)
      if ms > longest then longest = ms end
    end
  end
  if count > ${MAX_DECLARATIONS_READ} then return math.max(own_ms, ${MAX_SESSION_LIFETIME_MS}), count end
  return longest, count
end
`;

/** Members a declaration looks at for ones that are not lifetimes, lowest lapse time first. */
const MALFORMED_SWEEP = 64;

// Declares (renews) one lifetime and returns the longest current one. KEYS: the declarations.
// ARGV: the server's time as this instance estimates it (ms; a script must not call TIME, see
// server-clock.ts), the lifetime (ms). Declarations outside the window of current ones, and members
// that are not lifetimes, are removed; a key of another type is replaced first (lua-key-repair.ts).
const DECLARE = `${LUA_KEY_REPAIR}${LUA_LONGEST_LIFETIME}
own_type(KEYS[1], 'zset')
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - ${DECLARATION_CLOCK_TOLERANCE_MS}))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now + ${LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS}), '+inf')
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, ${MALFORMED_SWEEP - 1})) do
  if not is_lifetime(member) then redis.call('ZREM', KEYS[1], member) end
end
redis.call('ZADD', KEYS[1], 'GT', string.format('%.0f', now + ${LIFETIME_DECLARATION_TTL_MS}), ARGV[2])
local keep = ${LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS}
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
local longest, current = longest_lifetime(KEYS[1], now, tonumber(ARGV[2]))
return { longest, current }
`;

/** What {@link declareSessionLifetime} found. */
export interface DeclaredLifetimes {
  /** The longest lifetime writers keep the state for now (ms): this instance's own at least. */
  readonly longestMs: number;
  /** Current declarations, this one's included (more than {@link DECLARATION_MEMBERS_READ}: members of any kind): more than {@link MAX_DECLARATIONS_READ} means the set was crowded. */
  readonly count: number;
}

/**
 * Says in Redis that an instance of this app-env remembers revocations for `lifetimeMs` (its
 * `sessionMaxLifetimeMs`), for {@link LIFETIME_DECLARATION_TTL_MS}; resolves with the longest
 * lifetime writers now keep the state for, and how many declarations are current.
 *
 * Why: the shared state is pruned by whoever writes (user-wide not-befores older than the lifetime,
 * the client-wide not-before's expiry, the event log's trim, a revoked session's record). An
 * instance with a shorter lifetime than another (a rolling deploy that changes it, one instance
 * configured apart) would remove what the longer one still needs, and instances with the longer
 * lifetime that start later would not load it. Each write script keeps the state for the longest
 * declared lifetime instead ({@link LUA_LONGEST_LIFETIME}).
 */
export async function declareSessionLifetime(redis: KccRedis, lifetimeMs: number): Promise<DeclaredLifetimes> {
  const now = await redis.serverClock.now();
  const [longestMs, count] = await redis.script<[number, number]>(DECLARE, [sessionLifetimesKey(redis)], [Math.round(now), Math.ceil(lifetimeMs)]);
  return { longestMs, count };
}

/** The key of the app-env's declarations, for the write scripts' KEYS. */
export function sessionLifetimesKey(redis: KccRedis): string {
  return redis.key(REVOCATION_KEYS.lifetimes);
}
