import type { KccRedis } from '../connection.js';
import { LUA_KEY_REPAIR } from '../lua-key-repair.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/**
 * The longest `sessionMaxLifetimeMs`: ten years, above any Keycloak session or offline-session
 * lifespan in practice. Past about 56 years the log's trim position (now − lifetime) would fall
 * before 1970 and Redis would refuse every write.
 */
export const MAX_SESSION_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;

/** A declaration lapses this long after its last renewal (ms). */
export const LIFETIME_DECLARATION_TTL_MS = 5 * 60_000;
/** A running instance renews its declaration this often (ms). */
export const LIFETIME_DECLARATION_INTERVAL_MS = 60_000;
/**
 * How far past the TTL a declaration's expiry may lie and still count (ms): the instances estimate
 * the server's time each on its own (server-clock.ts). A later one no running instance wrote.
 */
const DECLARATION_SLACK_MS = 60_000;
/** Declarations a write script reads at most: an honest app-env has one lifetime, two during a change. */
const MAX_DECLARATIONS_READ = 16;

/**
 * Lua: `longest_lifetime(key, now_ms, own_ms)`, the longest session lifetime (ms) an instance of the
 * app-env declared that is still current, or `own_ms` if that is longer. A declaration is current
 * from its renewal until its expiry, which lies at most the TTL (plus slack) ahead: one dated further
 * ahead, or that is not a whole number from 1 to {@link MAX_SESSION_LIFETIME_MS}, no instance wrote
 * and is ignored, so that a Redis writer with the app's credentials cannot stop pruning for good
 * (only for as long as it keeps declaring, as an instance configured for ten years would). A key of
 * another type counts as no declaration (the next {@link declareSessionLifetime} replaces it).
 */
export const LUA_LONGEST_LIFETIME = `local function longest_lifetime(key, now_ms, own_ms)
  local longest = own_ms
  local ok, members = pcall(redis.call, 'ZRANGEBYSCORE', key, '(' .. string.format('%.0f', now_ms), string.format('%.0f', now_ms + ${LIFETIME_DECLARATION_TTL_MS + DECLARATION_SLACK_MS}), 'LIMIT', 0, ${MAX_DECLARATIONS_READ})
  if not ok then return longest end
  for _, member in ipairs(members) do
    if string.match(member, '^[1-9]%d*$') then
      local ms = tonumber(member)
      if ms <= ${MAX_SESSION_LIFETIME_MS} and ms > longest then longest = ms end
    end
  end
  return longest
end
`;

// Declares (renews) one lifetime and returns the longest current one. KEYS: the declarations.
// ARGV: the server's time as this instance estimates it (ms; a script must not call TIME, see
// server-clock.ts), the lifetime (ms). Expired and forged (dated too far ahead) declarations are
// removed; a key of another type is replaced first (lua-key-repair.ts).
const DECLARE = `${LUA_KEY_REPAIR}${LUA_LONGEST_LIFETIME}
own_type(KEYS[1], 'zset')
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now + ${LIFETIME_DECLARATION_TTL_MS + DECLARATION_SLACK_MS}), '+inf')
redis.call('ZADD', KEYS[1], 'GT', string.format('%.0f', now + ${LIFETIME_DECLARATION_TTL_MS}), ARGV[2])
if redis.call('PTTL', KEYS[1]) < ${LIFETIME_DECLARATION_TTL_MS} then redis.call('PEXPIRE', KEYS[1], ${LIFETIME_DECLARATION_TTL_MS}) end
return longest_lifetime(KEYS[1], now, tonumber(ARGV[2]))
`;

/**
 * Says in Redis that an instance of this app-env remembers revocations for `lifetimeMs` (its
 * `sessionMaxLifetimeMs`), for {@link LIFETIME_DECLARATION_TTL_MS}; resolves with the longest
 * lifetime currently declared (this one included).
 *
 * Why: the shared state is pruned by whoever writes (user-wide not-befores older than the lifetime,
 * the client-wide not-before's expiry, the event log's trim, a revoked session's record). An
 * instance with a shorter lifetime than another (a rolling deploy that changes it, one instance
 * configured apart) would remove what the longer one still needs, and instances with the longer
 * lifetime that start later would not load it. Each write script keeps the state for the longest
 * declared lifetime instead ({@link LUA_LONGEST_LIFETIME}).
 */
export async function declareSessionLifetime(redis: KccRedis, lifetimeMs: number): Promise<number> {
  const now = await redis.serverClock.now();
  return redis.script<number>(DECLARE, [sessionLifetimesKey(redis)], [Math.round(now), Math.ceil(lifetimeMs)]);
}

/** The key of the app-env's declarations, for the write scripts' KEYS. */
export function sessionLifetimesKey(redis: KccRedis): string {
  return redis.key(REVOCATION_KEYS.lifetimes);
}
