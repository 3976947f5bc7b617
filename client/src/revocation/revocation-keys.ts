/**
 * Where revocations live in an app-env's namespace (names passed to `redis.key()` / `redis.channel()`).
 * Every key shares the namespace's hash tag, so the write script never crosses cluster slots.
 *
 * The compacted state's format version is part of its keys' names (`:v1`): a later format goes into
 * keys of its own, which a new release can write beside these while instances of the previous one
 * still read them (a rolling deploy). Log entries and messages carry their version inside
 * (`RevocationBatch.v`, the envelope's `v`).
 */
export const REVOCATION_KEYS = {
  /** Sorted set: revoked session id → when the record may be forgotten (ms). */
  sessions: 'revoked-sessions:v1',
  /**
   * Sorted set: session id → the latest `iat` (epoch s) of its tokens that are revoked, for sessions
   * revoked only up to a time (a back-channel logout that leaves Keycloak's offline session alive).
   * A session in `sessions` is revoked whole and is not kept here: the write script keeps the two
   * apart, and a reader that finds one in both takes the whole (the stricter).
   */
  sessionsUpTo: 'revoked-sessions-up-to:v1',
  /** Sorted set: subject → not-before (epoch s). */
  subjects: 'subject-not-before:v1',
  /** String: the client-wide not-before (epoch s), expiring after the longest session lifetime. */
  clientNotBefore: 'client-not-before:v1',
  /** String: the newest Keycloak not-before push, the realm-signed action itself (JSON, format in the name). */
  keycloakPush: 'keycloak-push:v1',
  /**
   * Sorted set: the session lifetimes (ms) the running instances declared → when each declaration
   * lapses (server time, ms); writers keep the state for the longest (session-lifetimes.ts).
   */
  lifetimes: 'session-lifetimes:v1',
  /** Stream: every batch written, trimmed by age. */
  log: 'revocation-events',
  /** Pub/sub channel: every batch written (the fast path). */
  channel: 'revocations',
  /** Prefix of the replay records of logout tokens and admin actions. */
  replay: 'jti:',
} as const;

/**
 * Lua: `stored_seconds(raw)`, the client-wide not-before as stored (a GET's reply: false when
 * absent) → 0 when absent, the number when it is plain decimal digits (as the write script stores
 * it), else nil: Lua's `tonumber` also reads `nan` (which compares false with everything, so it was
 * neither replaced nor found missing), `inf`, hex and exponents, which no writer stores.
 */
export const LUA_STORED_SECONDS = `
local function stored_seconds(raw)
  if not raw then return 0 end
  if string.match(raw, '^[0-9]+$') then return tonumber(raw) end
  return nil
end
`;
