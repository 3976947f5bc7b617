import type { RevocationEvent } from './revocation-event.js';
import { ALL, EPOCH_BASE_S, NOT_HELD, SessionTable } from './session-table.js';

/** The last second the session table can store (seconds since {@link EPOCH_BASE_S}): the end of 2159. */
const MAX_TIME_S = 0xffff_ffff;

/**
 * Seconds past a session's up-to time (T, the logout token's `iat`) during which its tokens are
 * still refused. Keycloak nodes' clocks differ a little: a token issued just before the logout by a
 * node whose clock runs ahead of the one that signed the logout token carries an `iat` after T, and
 * must still be refused. The cost: a token refreshed from the session's offline session within
 * these seconds after the logout is refused too (until its next refresh).
 */
export const SESSION_UP_TO_SLACK_SECONDS = 5;

/** The claims a revocation check needs from a token (or session). */
export interface RevocationClaims {
  /** Keycloak session id. */
  readonly sid?: string;
  /** Subject (user id). */
  readonly sub?: string;
  /** Issued-at, epoch seconds. */
  readonly iat?: number;
  /**
   * The token's `scope` (space-separated). A session revoked up to a time lets through only later
   * tokens whose scope holds `offline_access` (those Keycloak refreshes from the offline session
   * that the logout left alive); without it, every token of that session is refused.
   */
  readonly scope?: string;
}

/**
 * The oldest not-before (epoch s) that can still refuse a live token: tokens issued before an older
 * one are past `maxLifetimeMs`. Older ones are dropped ({@link RevocationIndex.prune}), not loaded
 * (revocation-snapshot.ts) and pruned from Redis by writers.
 */
export function oldestLiveNotBefore(nowMs: number, maxLifetimeMs: number): number {
  return Math.floor((nowMs - maxLifetimeMs) / 1000);
}

/**
 * The oldest up-to time (epoch s) of a session revoked up to a time that can still refuse a live
 * token: the tokens issued up to an older one (with {@link SESSION_UP_TO_SLACK_SECONDS}) are past
 * `maxLifetimeMs`. Older ones are dropped ({@link RevocationIndex.prune}), not loaded and not counted
 * (revocation-snapshot.ts, `kcc-redis status`), and pruned from Redis by writers.
 */
export function oldestLiveUpTo(nowMs: number, maxLifetimeMs: number): number {
  return oldestLiveNotBefore(nowMs, maxLifetimeMs) - SESSION_UP_TO_SLACK_SECONDS;
}

/**
 * What has been revoked, in memory, answered without a Redis round trip. Revoked sessions, the bulk
 * of it, are held as 127-bit digests in typed arrays ({@link SessionTable}): a million cost about
 * 30 MB. A session is revoked whole (every token of its `sid`) or up to a time (every token of its
 * `sid` but those the offline session sharing the `sid` issues later: {@link isRevoked}). Subjects with a
 * not-before are few (a user-wide logout), so they stay a `Map`.
 */
export class RevocationIndex {
  private readonly sessions = new SessionTable();
  private readonly subjects = new Map<string, number>();
  /** The client-wide not-before raised by value (revokeAllBefore): it only ever goes up. */
  private clientNotBefore = 0;
  /** The not-before Keycloak last pushed (a verified, realm-signed action): set as pushed, also lower. */
  private pushedNotBefore = 0;
  /** The larger of the two: what tokens are checked against. */
  private effectiveNotBefore = 0;

  /** Revoked sessions held (for diagnostics and tests). */
  get sessionCount(): number {
    return this.sessions.count;
  }

  get subjectCount(): number {
    return this.subjects.size;
  }

  /** The client-wide not-before in force, epoch seconds (0 when none): the raised one or the pushed one, whichever is later. */
  get notBefore(): number {
    return this.effectiveNotBefore;
  }

  /** The not-before Keycloak last pushed, epoch seconds (0 when none or cleared). */
  get pushed(): number {
    return this.pushedNotBefore;
  }

  /**
   * The user-wide and client-wide not-befores held (the client-wide one only when raised by value:
   * a pushed one is Keycloak's, relayed on its own), as revocations, to write back what Redis lost.
   * Sessions are held only as digests, so they cannot be.
   */
  *notBefores(): Generator<RevocationEvent> {
    for (const [sub, nbf] of this.subjects) yield { kind: 'subject', sub, nbf };
    if (this.clientNotBefore > 0) yield { kind: 'client', nbf: this.clientNotBefore };
  }

  /** Bytes held by the session table's arrays. */
  get sessionBytes(): number {
    return this.sessions.bytes;
  }

  /** Makes room for `count` revoked sessions in all, so that loading them does not grow the table step by step. */
  reserveSessions(count: number): void {
    this.sessions.reserve(count);
  }

  /**
   * Records a revoked session, every token of `sid`, until `expiresAtMs`. Idempotent; the later
   * expiry wins, and it replaces a revocation of `sid` up to a time. The table keeps times as
   * unsigned 32-bit seconds since {@link EPOCH_BASE_S} (November 2023 to the end of 2159): a record
   * that ended before that base is long over and not kept (stored, it wrapped to a date that no prune
   * reaches), and one past the end is held until the end.
   */
  revokeSession(sid: string, expiresAtMs: number): void {
    const expiresS = Math.ceil(expiresAtMs / 1000) - EPOCH_BASE_S;
    if (!(expiresS > 0)) return;
    this.sessions.add(sid, Math.min(expiresS, MAX_TIME_S));
  }

  /**
   * Revokes the tokens of `sid` issued (`iat`) up to `issuedUpTo` (epoch s; with
   * {@link SESSION_UP_TO_SLACK_SECONDS}), and those that cannot come from an offline session
   * ({@link isRevoked}); the others pass. The later time wins; a revocation of the whole `sid` stays
   * whole. A time at or before {@link EPOCH_BASE_S} (or not a number) is dropped: no token issued
   * that long ago is alive. One past the end of the table's range cannot be stored, and storing
   * less would let tokens through, so it is held as the whole `sid` until that end: refusing more is
   * the safe side.
   *
   * `whole` (a revocation that arrives now, not one loaded with the stored state): over the whole
   * `sid` held until `whole.nowMs` or earlier (expired, not pruned yet) this one takes its place; over
   * one still in force, that one is held until `whole.untilMs` at least, as the write script extends
   * it in Redis (the tokens issued up to `issuedUpTo` live that long).
   */
  revokeSessionUpTo(sid: string, issuedUpTo: number, whole?: { readonly nowMs: number; readonly untilMs: number }): void {
    const upToS = Math.ceil(issuedUpTo) - EPOCH_BASE_S;
    if (!(upToS > 0)) return;
    if (upToS > MAX_TIME_S) return this.sessions.add(sid, MAX_TIME_S);
    const held = whole && { nowS: Math.floor(whole.nowMs / 1000) - EPOCH_BASE_S, untilS: Math.min(Math.ceil(whole.untilMs / 1000) - EPOCH_BASE_S, MAX_TIME_S) };
    this.sessions.addUpTo(sid, upToS, held);
  }

  /** Tokens of `sub` issued before `notBefore` (epoch s) are revoked. The later not-before wins. */
  revokeSubject(sub: string, notBefore: number): void {
    const current = this.subjects.get(sub);
    if (current === undefined || notBefore > current) this.subjects.set(sub, notBefore);
  }

  /** Every token issued before `notBefore` (epoch s) is revoked. The later not-before wins. */
  revokeAllBefore(notBefore: number): void {
    if (notBefore > this.clientNotBefore) this.clientNotBefore = notBefore;
    this.effectiveNotBefore = Math.max(this.clientNotBefore, this.pushedNotBefore);
  }

  /**
   * Sets the not-before Keycloak pushed, also lower (its "Clear" pushes 0). Only for a value from a
   * realm-signed action verified in this process (a not-before raised by value stays in force), or to
   * raise it for a push not verified yet, held as KeycloakPushRelay's UnverifiedPushes says.
   */
  setPushedNotBefore(verifiedNotBefore: number): void {
    this.pushedNotBefore = verifiedNotBefore;
    this.effectiveNotBefore = Math.max(this.clientNotBefore, this.pushedNotBefore);
  }

  /**
   * Whether the token or session is revoked. A token without `iat` cannot prove it was issued after
   * a not-before or a session's up-to time, so it counts as revoked once any of them applies to it.
   */
  isRevoked(claims: RevocationClaims): boolean {
    if (typeof claims !== 'object' || claims === null) notClaims(claims);
    const iat = claims.iat;
    // A sid that is not a string names no session any revocation names (their ids are strings): a
    // token's JSON may carry null or another type there, and digesting it threw a TypeError.
    if (typeof claims.sid === 'string') {
      const upTo = this.sessions.issuedUpTo(claims.sid);
      if (upTo !== NOT_HELD) {
        if (upTo === ALL || iat === undefined) return true;
        // Written so that an `iat` that is not a number is refused too.
        if (!(iat - EPOCH_BASE_S > upTo + SESSION_UP_TO_SLACK_SECONDS)) return true;
        // Keycloak sends the logout tokens before it removes the online session: a token refreshed
        // from it meanwhile (a slow client endpoint makes that seconds) has a later iat. Only one
        // from the offline session may pass (an attack review of the first version).
        if (!hasOfflineAccess(claims.scope)) return true;
      }
    }
    if (this.effectiveNotBefore > 0 && (iat === undefined || iat < this.effectiveNotBefore)) return true;
    if (claims.sub !== undefined) {
      const notBefore = this.subjects.get(claims.sub);
      if (notBefore !== undefined && (iat === undefined || iat < notBefore)) return true;
    }
    return false;
  }

  /**
   * Drops sessions whose record expired, sessions revoked up to a time once every token issued up to
   * it (with {@link SESSION_UP_TO_SLACK_SECONDS}) is older than `maxLifetimeMs`, and not-befores older
   * than `maxLifetimeMs` (no token that old is alive).
   */
  prune(nowMs: number, maxLifetimeMs: number): void {
    this.sessions.prune(Math.floor(nowMs / 1000) - EPOCH_BASE_S, Math.ceil(maxLifetimeMs / 1000) + SESSION_UP_TO_SLACK_SECONDS);
    const oldest = oldestLiveNotBefore(nowMs, maxLifetimeMs);
    for (const [sub, notBefore] of this.subjects) if (notBefore < oldest) this.subjects.delete(sub);
  }
}

/**
 * Throws for claims that are not an object. Kept out of {@link RevocationIndex.isRevoked}: written
 * there (a template string), it made the check about a third slower on ids that come back, 36–50
 * M/s against 72–84 (`bench/profile/is-revoked-rates.ts`, in turn with the version before).
 */
function notClaims(claims: unknown): never {
  throw new TypeError(`revocation check: claims must be the verified token's claims object ({ sid, sub, iat, scope }), got ${claims === null ? 'null' : typeof claims}`);
}

/** Whether the space-separated `scope` holds `offline_access`. */
function hasOfflineAccess(scope: unknown): boolean {
  return typeof scope === 'string' && scope.split(' ').includes('offline_access');
}
