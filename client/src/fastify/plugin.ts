import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { KccRedis } from '../connection.js';
import { KccConfigError, KccNotReadyError } from '../errors.js';
import { KeyRing } from '../keyring/key-ring.js';
import { type ResolvedKeyRingOptions, resolveKeyRingOptions } from '../keyring/key-ring-options.js';
import { defaultLogger } from '../logger.js';
import { KccMetrics } from '../metrics/kcc-metrics.js';
import { createBackchannelLogoutHandler } from '../revocation/backchannel-logout.js';
import { createKeycloakAdminHandlers } from '../revocation/keycloak-admin.js';
import { type KeycloakPushVerifier, createKeycloakPushVerifier } from '../revocation/keycloak-admin-action.js';
import { resolveRealmKeys } from '../revocation/realm-keys.js';
import { type ReplayGuard, RedisReplayGuard } from '../revocation/replay-guard.js';
import type { KeycloakAdminSink } from '../revocation/revocation-sink.js';
import { FORM_CONTENT_TYPE, TEXT_CONTENT_TYPE } from '../revocation/revocation-endpoint.js';
import { REVOCATION_DEFAULTS, Revocations } from '../revocation/revocations.js';
import type { KccFastify, KccHealth } from './decoration.js';
import { mountHealthRoute } from './health-route.js';
import { mountJwksRoute } from './jwks-route.js';
import { type MountedEndpoint, mountLogoutRoutes } from './logout-routes.js';
import { type KccFastifyOptions, PLUGIN_NAME, resolveKccFastifyOptions } from './plugin-options.js';

/** Starts the key ring and the revocation index in parallel; if one fails, closes the other. */
async function startBoth(redis: KccRedis, ringOptions: ResolvedKeyRingOptions, options: KccFastifyOptions, keycloakPushes: KeycloakPushVerifier): Promise<[KeyRing, Revocations]> {
  const [ring, revocations] = await Promise.allSettled([
    KeyRing.startResolved(redis, ringOptions),
    Revocations.start(redis, { ...options.revocations, keycloakPushes: options.revocations?.keycloakPushes ?? keycloakPushes }),
  ]);
  if (ring.status === 'fulfilled' && revocations.status === 'fulfilled') return [ring.value, revocations.value];
  await Promise.all([ring.status === 'fulfilled' && ring.value.close(), revocations.status === 'fulfilled' && revocations.value.close()]);
  throw ring.status === 'rejected' ? ring.reason : (revocations as PromiseRejectedResult).reason;
}

async function kccPlugin(fastify: FastifyInstance, options: KccFastifyOptions): Promise<void> {
  if (fastify.hasDecorator('kcc')) {
    throw new KccConfigError(`${PLUGIN_NAME} registration`, [`already registered on this Fastify instance (fastify.kcc exists): register the plugin once`]);
  }
  // Everything that can be checked without Redis is checked before connecting.
  const resolved = resolveKccFastifyOptions(options);
  const logger = options.logger ?? defaultLogger;
  const realmKeys = resolveRealmKeys({ issuer: options.issuer, ...options.realmKeys, logger });
  // The handlers are built (and their options checked) before connecting; they reach Redis through these.
  let revocations: Revocations | undefined;
  let replays: RedisReplayGuard | undefined;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new KccNotReadyError(`${PLUGIN_NAME}: revocations are not started`);
    return value;
  };
  const sink: KeycloakAdminSink = {
    revokeSession: (sid) => started(revocations).revokeSession(sid),
    revokeSubject: (sub, notBefore) => started(revocations).revokeSubject(sub, notBefore),
    revokeAllBefore: (notBefore) => started(revocations).revokeAllBefore(notBefore),
    applyKeycloakPush: (push) => started(revocations).applyKeycloakPush(push),
  };
  // Every instance verifies the pushes others relay with the realm's keys, admin routes mounted or not.
  const keycloakPushes = createKeycloakPushVerifier({ issuer: options.issuer, clientId: options.clientId, jwks: realmKeys.getKey, algorithms: realmKeys.algorithms });
  const replayGuard: ReplayGuard = { firstUse: (id, ttlMs) => started(replays).firstUse(id, ttlMs) };
  const common = { issuer: options.issuer, clientId: options.clientId, sink, replayGuard, jwks: realmKeys.getKey, algorithms: realmKeys.algorithms, logger };
  const endpoints: MountedEndpoint[] = [];
  if (resolved.backchannelLogoutPath) {
    endpoints.push({ path: resolved.backchannelLogoutPath, mediaType: FORM_CONTENT_TYPE, handler: createBackchannelLogoutHandler({ ...options.backchannelLogout, ...common }) });
  }
  if (resolved.adminPaths) {
    const { maxBodyBytes, clockToleranceMs } = options.keycloakAdmin ?? {};
    const admin = createKeycloakAdminHandlers({ enabled: true, maxBodyBytes, clockToleranceMs, ...common });
    endpoints.push({ path: resolved.adminPaths.logout, mediaType: TEXT_CONTENT_TYPE, handler: admin.logout });
    endpoints.push({ path: resolved.adminPaths.pushNotBefore, mediaType: TEXT_CONTENT_TYPE, handler: admin.pushNotBefore });
  }

  // One connect with the subscriber (revocations) and reader (key-ring log tail) prewarmed: the three
  // TLS handshakes run in parallel, and the starts below begin once commands can be sent. The key
  // ring's options are resolved meanwhile: its key-encryption key may come from Secrets Manager, a
  // request that need not wait for Redis.
  const ownsRedis = options.redis === undefined;
  const redisLogger = options.redis?.config.logger ?? options.connection?.logger ?? logger;
  const connecting = options.redis ? Promise.resolve(options.redis) : KccRedis.connect({ ...options.connection, logger: redisLogger }, ['subscriber', 'reader']);
  const [connected, ringOptions] = await Promise.allSettled([connecting, resolveKeyRingOptions(options.keyRing ?? {}, redisLogger)]);
  if (connected.status === 'rejected') throw connected.reason;
  const redis = connected.value;
  if (ringOptions.status === 'rejected') {
    if (ownsRedis) await redis.close().catch(() => undefined);
    throw ringOptions.reason;
  }
  let keyRing: KeyRing | undefined;
  let metrics: KccMetrics | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    closed = true;
    metrics?.close();
    await Promise.all([keyRing?.close(), revocations?.close()]);
    if (ownsRedis) await redis.close();
  };
  try {
    [keyRing, revocations] = await startBoth(redis, ringOptions.value, options, keycloakPushes);
    replays = new RedisReplayGuard(redis);
    if (options.metrics !== false) metrics = await KccMetrics.start({ redis, keyRing, revocations }, { meterProvider: options.metrics?.meterProvider });
    if (resolved.jwksPath) mountJwksRoute(fastify, resolved.jwksPath, keyRing, resolved.jwksMaxAgeSeconds);
    await mountLogoutRoutes(fastify, endpoints);
    // `health` is defined below, once the ring and the index are known to exist; the route calls it per request.
    if (resolved.healthPath) mountHealthRoute(fastify, resolved.healthPath, () => health(), options.revocations?.failOpen ?? REVOCATION_DEFAULTS.failOpen);
  } catch (error) {
    // The start's error is the one to report, not one from closing after it.
    await close().catch(() => undefined);
    throw error;
  }
  const ring = keyRing;
  const index = revocations;
  const health = (): KccHealth => {
    const ringHealth = ring.health();
    const revocationStatus = closed ? 'closed' : index.stale ? 'stale' : 'current';
    return {
      status: closed ? 'closed' : ringHealth.status === 'ready' && revocationStatus === 'current' ? 'ok' : 'degraded',
      keyRing: ringHealth,
      revocations: { status: revocationStatus, stalenessSeconds: Math.round(index.stalenessMs) / 1000, revokedSessions: index.stats.revokedSessions },
      connection: { ...redis.stats },
    };
  };
  const kcc: KccFastify = {
    redis,
    keyRing: ring,
    revocations: index,
    clientAuth: ring.clientAuth(),
    check: (claims) => index.check(claims),
    rejects: (claims) => index.rejects(claims),
    health,
  };
  fastify.decorate('kcc', kcc);
  // Closes only what the plugin created: the ring and the index always, the connection unless it was passed in.
  fastify.addHook('onClose', close);
}

/**
 * The kcc-redis Fastify plugin: connects (one TLS handshake's time), starts the shared signing-key
 * ring and the cluster-wide revocation index in parallel, mounts `GET` JWKS and `POST` back-channel
 * logout (and, when enabled, Keycloak's `k_logout` / `k_push_not_before` and a `GET` health
 * summary), reports OpenTelemetry metrics when a MeterProvider is there, and decorates the
 * instance with `fastify.kcc`. Register it once per instance; `onClose` closes what it opened.
 *
 * @example
 * import Fastify from 'fastify';
 * import { fastifyKcc, requireNotRevoked } from '@kcc-redis/client/fastify';
 *
 * const app = Fastify();
 * await app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop', clientId: 'shop' });
 * app.get('/orders', { preHandler: requireNotRevoked((request) => request.user) }, listOrders);
 * const config = await oidc.discovery(new URL(issuer), 'shop', undefined, app.kcc.clientAuth);
 */
export const fastifyKcc = fp(kccPlugin, { name: PLUGIN_NAME, fastify: '5.x' });
