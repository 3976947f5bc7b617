import type { ConnectionStats, KccRedis } from '../connection.js';
import type { ClientAuthFunction } from '../keyring/client-assertion.js';
import type { KeyRing, KeyRingHealth } from '../keyring/key-ring.js';
import type { LogoutRejectionReason } from '../revocation/backchannel-logout.js';
import type { AdminRejectionReason } from '../revocation/keycloak-admin.js';
import type { EndpointHandler, EndpointStats } from '../revocation/revocation-endpoint.js';
import type { RevocationClaims } from '../revocation/revocation-index.js';
import type { RevocationCheck, Revocations } from '../revocation/revocations.js';

/** What {@link KccFastify.health} reports, for a readiness endpoint. */
export interface KccHealth {
  /**
   * `ok`: a good key ring is loaded and the revocation state is current; `degraded`: the ring in
   * Redis was refused or has not been read for too long (the ring held here signs), or the
   * revocation state is stale; `closed`: after `onClose`.
   */
  readonly status: 'ok' | 'degraded' | 'closed';
  readonly keyRing: KeyRingHealth;
  readonly revocations: {
    /** `stale`: cut off from Redis longer than `maxStalenessMs` (fail-closed checks then answer 503). */
    readonly status: 'current' | 'stale' | 'closed';
    /** Seconds since the revocation state was last known current (millisecond precision): `stale` once above `maxStalenessMs`. */
    readonly stalenessSeconds: number;
    readonly revokedSessions: number;
  };
  readonly connection: ConnectionStats;
}

/**
 * The plugin's decoration, `fastify.kcc`: one per Fastify instance (a second registration throws).
 * Named `kcc` after the package (kcc-redis) so it collides neither with `@fastify/redis`'s
 * `fastify.redis` nor with a JWT plugin's decorations, and fixed so that the module augmentation
 * below types it exactly.
 */
export interface KccFastify {
  /** The connection in use (the plugin's own, or the one passed as `redis`). */
  readonly redis: KccRedis;
  /** The shared signing-key ring: `currentJwks()`, `jwks()`, `signingKey()`, `signClientAssertion()`, `rotate()`. */
  readonly keyRing: KeyRing;
  /** Cluster-wide logout: `revokeSession(sid)`, `revokeSubject(sub, notBefore)`, `revokeAllBefore(notBefore)`. */
  readonly revocations: Revocations;
  /** An openid-client v6 `ClientAuth` (`private_key_jwt`) that signs with the ring's key active at each call. */
  readonly clientAuth: ClientAuthFunction;
  /** `revoked`, `active`, or `stale`; from memory, O(1). */
  check(claims: RevocationClaims): RevocationCheck;
  /** Whether to refuse these claims: revoked, or stale under fail-closed (the default). */
  rejects(claims: RevocationClaims): boolean;
  /** Key ring, revocation and connection state, for a readiness endpoint. */
  health(): KccHealth;
  /**
   * The logout routes' counts (each handler's `stats`: `accepted`, `rejected` by reason,
   * `unavailable`, `unavailableInCooldown`), copied at the call; a route not mounted is `undefined`.
   * Keycloak does not send a logout again: alarm on `unavailable` (the realm JWKS or Redis failed)
   * and on rejections that repeat for one reason (`unknown_kid`, `bad_aud`, …: an option is wrong),
   * per instance (docs/logout-sync.md).
   *
   * @example
   * setInterval(() => {
   *   const { backchannelLogout, keycloakAdmin } = app.kcc.logoutStats();
   *   report('logout.unavailable', (backchannelLogout?.unavailable ?? 0) + (keycloakAdmin?.logout.unavailable ?? 0));
   * }, 60_000).unref();
   */
  logoutStats(): {
    /** `POST routes.backchannelLogout`; undefined with `routes.backchannelLogout: false`. */
    readonly backchannelLogout: EndpointStats<LogoutRejectionReason> | undefined;
    /** `k_logout` and `k_push_not_before`; undefined unless `keycloakAdmin.enabled`. */
    readonly keycloakAdmin: { readonly logout: EndpointStats<AdminRejectionReason>; readonly pushNotBefore: EndpointStats<AdminRejectionReason> } | undefined;
  };
  /**
   * Starts draining this instance for a shutdown (docs/shutdown.md): the health route
   * (`routes.health`) answers 503 with `status: 'draining'` from now on, so a load balancer or a
   * readiness probe sends traffic elsewhere, while every route (logouts included) goes on serving and
   * nothing closes. Call it on SIGTERM, keep serving a few seconds, then `app.close()`. Once only;
   * there is no undrain.
   *
   * @example
   * process.once('SIGTERM', async () => {
   *   app.kcc.drain();
   *   await new Promise((resolve) => setTimeout(resolve, 10_000)); // endpoints and targets catch up
   *   await app.close();
   * });
   */
  drain(): void;
}

/** A copy of a handler's counts, as {@link KccFastify.logoutStats} hands it out. @internal */
export function statsCopy<Reason extends string>(handler: EndpointHandler<string> | undefined): EndpointStats<Reason> | undefined {
  if (handler === undefined) return undefined;
  const stats = handler.stats as EndpointStats<Reason>;
  return { ...stats, rejected: { ...stats.rejected } };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** kcc-redis: shared signing keys and cluster-wide logout (`@kcc-redis/client/fastify`). */
    kcc: KccFastify;
  }
}
