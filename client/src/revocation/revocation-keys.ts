/**
 * Where revocations live in an app-env's namespace (names passed to `redis.key()` / `redis.channel()`).
 * Every key shares the namespace's hash tag, so the write script never crosses cluster slots.
 */
export const REVOCATION_KEYS = {
  /** Sorted set: revoked session id → when the record may be forgotten (ms). */
  sessions: 'revoked-sessions',
  /** Sorted set: subject → not-before (epoch s). */
  subjects: 'subject-not-before',
  /** String: the client-wide not-before (epoch s), expiring after the longest session lifetime. */
  clientNotBefore: 'client-not-before',
  /** Stream: every batch written, trimmed by age. */
  log: 'revocation-events',
  /** Pub/sub channel: every batch written (the fast path). */
  channel: 'revocations',
  /** Prefix of the replay records of logout tokens and admin actions. */
  replay: 'jti:',
} as const;
