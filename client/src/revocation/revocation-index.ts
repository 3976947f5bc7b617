import type { RevocationEvent } from './revocation-event.js';
import { EPOCH_BASE_S, SessionTable } from './session-table.js';

const MAX_EXPIRY_S = 0xffff_ffff;

/** The claims a revocation check needs from a token (or session). */
export interface RevocationClaims {
  /** Keycloak session id. */
  readonly sid?: string;
  /** Subject (user id). */
  readonly sub?: string;
  /** Issued-at, epoch seconds. */
  readonly iat?: number;
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
 * What has been revoked, in memory, answered without a Redis round trip. Revoked sessions, the bulk
 * of it, are held as 128-bit digests in typed arrays ({@link SessionTable}): a million cost about
 * 30 MB. Subjects with a not-before are few (a user-wide logout), so they stay a `Map`.
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
   * Records a revoked session until `expiresAtMs`. Idempotent; the later expiry wins. The table
   * keeps expiries as unsigned 32-bit seconds since {@link EPOCH_BASE_S} (November 2023 to the end of 2159): a
   * record that ended before that base is long over and not kept (stored, it wrapped to a date that
   * no prune reaches), and one past the end is held until the end.
   */
  revokeSession(sid: string, expiresAtMs: number): void {
    const expiresS = Math.ceil(expiresAtMs / 1000) - EPOCH_BASE_S;
    if (!(expiresS > 0)) return;
    this.sessions.add(sid, Math.min(expiresS, MAX_EXPIRY_S));
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
   * a not-before, so it counts as revoked once any not-before applies to it.
   */
  isRevoked(claims: RevocationClaims): boolean {
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return true;
    const iat = claims.iat;
    if (this.effectiveNotBefore > 0 && (iat === undefined || iat < this.effectiveNotBefore)) return true;
    if (claims.sub !== undefined) {
      const notBefore = this.subjects.get(claims.sub);
      if (notBefore !== undefined && (iat === undefined || iat < notBefore)) return true;
    }
    return false;
  }

  /** Drops sessions whose record expired and not-befores older than `maxLifetimeMs` (no token that old is alive). */
  prune(nowMs: number, maxLifetimeMs: number): void {
    this.sessions.prune(Math.floor(nowMs / 1000) - EPOCH_BASE_S);
    const oldest = oldestLiveNotBefore(nowMs, maxLifetimeMs);
    for (const [sub, notBefore] of this.subjects) if (notBefore < oldest) this.subjects.delete(sub);
  }
}
