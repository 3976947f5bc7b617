import type { VerifiedKeycloakPush } from './keycloak-admin-action.js';

/**
 * Where the logout endpoints send what they accepted: the revocation index and its Redis store
 * (`Revocations` implements it). Every method resolves once the change is durable in Redis and
 * applied on this instance, and rejects when it is not (Redis down): the endpoints then answer
 * 503. Keycloak does not send the request again, so a sink that applied it keeps writing it
 * (`Revocations` does: `stats.unwritten`).
 *
 * @example
 * // A recording fake for tests:
 * const sink: RevocationSink = {
 *   revokeSession: async (sid) => { sessions.push(sid); },
 *   revokeSubject: async (sub, notBefore) => { subjects.push({ sub, notBefore }); },
 *   revokeAllBefore: async (notBefore) => { clientWide.push(notBefore); },
 * };
 */
export interface RevocationSink {
  /**
   * Revoke one session (Keycloak `sid`): every token of it, or with `issuedUpTo` only those issued
   * up to that time. Resolves once written durably to Redis and applied locally. A sink that ignores
   * the options refuses more, never less.
   */
  revokeSession(sid: string, options?: RevokeSessionOptions): Promise<void>;
  /** Revoke every token of `sub` issued before `notBefore` (epoch seconds). */
  revokeSubject(sub: string, notBefore: number): Promise<void>;
  /** Revoke every token of this client issued before `notBefore` (epoch seconds). */
  revokeAllBefore(notBefore: number): Promise<void>;
}

/** How far {@link RevocationSink.revokeSession} revokes a session. */
export interface RevokeSessionOptions {
  /**
   * Let through the tokens Keycloak refreshes from the session's offline session after this time
   * (epoch seconds, after November 2023 and at most now + `MAX_NOT_BEFORE_SKEW_SECONDS`, 60 s):
   * every token of the session is refused but those whose `iat` is more
   * than `SESSION_UP_TO_SLACK_SECONDS` (5 s: Keycloak's nodes' clocks differ) after it and whose
   * `scope` holds `offline_access`. Keycloak keeps the offline session that shares the `sid` when a
   * logout ends the browser session. The back-channel logout handler passes the logout token's
   * `iat`, unless the token says `revoke_offline_access` or `keepOfflineSessions` is off. Without
   * it, every token of the session is refused.
   */
  readonly issuedUpTo?: number;
}

/**
 * What Keycloak's admin endpoints need besides a {@link RevocationSink}: a place for the not-before
 * pushes they verified (`Revocations` implements it).
 */
export interface KeycloakAdminSink extends RevocationSink {
  /**
   * Set the client-wide not-before to what Keycloak pushed, also lower; store and relay the
   * realm-signed action. Resolves once it is durable in Redis and applied on this instance.
   */
  applyKeycloakPush(push: VerifiedKeycloakPush): Promise<void>;
}
