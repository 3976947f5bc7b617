import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { KccRedis } from '../connection.js';
import { KccClosedError, KccConfigError, KccNotReadyError } from '../errors.js';
import { OptionProblems } from '../option-checks.js';
import { isPlainObject } from '../plain-object.js';
import { KeyRing } from '../keyring/key-ring.js';
import { type ResolvedKeyRingOptions, planKeyRingOptions } from '../keyring/key-ring-options.js';
import { connectTimeoutOf } from '../resolve-options.js';
import { defaultLogger, kccLogger } from '../logger.js';
import { errorLine } from '../redis-error-redaction.js';
import { KccMetrics } from '../metrics/kcc-metrics.js';
import { createBackchannelLogoutHandler } from '../revocation/backchannel-logout.js';
import { createKeycloakAdminHandlers } from '../revocation/keycloak-admin.js';
import { type KeycloakPushVerifier, createKeycloakPushVerifier } from '../revocation/keycloak-admin-action.js';
import { realmKeysFrom } from '../revocation/realm-keys.js';
import { type ReplayGuard, RedisReplayGuard } from '../revocation/replay-guard.js';
import type { KeycloakAdminSink } from '../revocation/revocation-sink.js';
import { FORM_CONTENT_TYPE, TEXT_CONTENT_TYPE } from '../revocation/revocation-endpoint.js';
import { REVOCATION_DEFAULTS, Revocations, resolveRevocationOptions } from '../revocation/revocations.js';
import { type KccFastify, type KccHealth, statsCopy } from './decoration.js';
import { mountHealthRoute } from './health-route.js';
import { mountJwksRoute } from './jwks-route.js';
import { type MountedEndpoint, mountLogoutRoutes } from './logout-routes.js';
import { type KccFastifyOptions, PLUGIN_NAME, checkKccFastifyOptions } from './plugin-options.js';

/** Starts the key ring and the revocation index in parallel; if one fails, closes the other. */
async function startBoth(
  redis: KccRedis,
  ringOptions: ResolvedKeyRingOptions,
  options: KccFastifyOptions,
  keycloakPushes: KeycloakPushVerifier,
  signal: AbortSignal,
): Promise<[KeyRing, Revocations]> {
  const [ring, revocations] = await Promise.allSettled([
    KeyRing.startResolved(redis, ringOptions, undefined, signal),
    underOption('revocations.', Revocations.startUnlessAborted(redis, { ...options.revocations, keycloakPushes: options.revocations?.keycloakPushes ?? keycloakPushes }, signal)),
  ]);
  if (ring.status === 'fulfilled' && revocations.status === 'fulfilled') return [ring.value, revocations.value];
  await Promise.all([ring.status === 'fulfilled' && ring.value.close(), revocations.status === 'fulfilled' && revocations.value.close()]);
  throw ring.status === 'rejected' ? ring.reason : (revocations as PromiseRejectedResult).reason;
}

async function kccPlugin(fastify: FastifyInstance, options: KccFastifyOptions): Promise<void> {
  if (fastify.hasDecorator('kcc')) {
    // keycloak-connector's Fastify adapter decorates fastify.kcc too (its own object, no keyRing).
    const ours = typeof (fastify as unknown as { kcc?: { keyRing?: unknown } }).kcc?.keyRing === 'object';
    throw new KccConfigError(`${PLUGIN_NAME} registration`, [
      ours
        ? 'already registered on this Fastify instance (fastify.kcc exists): register the plugin once'
        : 'fastify.kcc exists and is not this plugin\'s (keycloak-connector\'s Fastify adapter decorates it too): the two cannot share a Fastify instance; with keycloak-connector, use its adapter with this package\'s providers (@kcc-redis/client/keycloak-connector)',
    ]);
  }
  // Everything that can be checked without Redis is checked before connecting, and every problem
  // (the plugin's options, its realm keys', its logout routes') is thrown in one KccConfigError.
  const problems = new OptionProblems();
  const resolved = checkKccFastifyOptions(options, problems);
  const logger = options.logger ? kccLogger(options.logger) : defaultLogger;
  const realmKeys = nested(problems, 'realmKeys.', (within) => realmKeysFrom({ issuer: options.issuer, ...options.realmKeys, logger }, within));
  // The handlers are built (and their options checked) before connecting; they reach Redis through these.
  let revocations: Revocations | undefined;
  let replays: RedisReplayGuard | undefined;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new KccNotReadyError(`${PLUGIN_NAME}: revocations are not started`);
    return value;
  };
  const sink: KeycloakAdminSink = {
    revokeSession: (sid, options) => started(revocations).revokeSession(sid, options),
    revokeSubject: (sub, notBefore) => started(revocations).revokeSubject(sub, notBefore),
    revokeAllBefore: (notBefore) => started(revocations).revokeAllBefore(notBefore),
    applyKeycloakPush: (push) => started(revocations).applyKeycloakPush(push),
  };
  // With realm-key problems, the handlers are still built for their own problems (the key getter is then never called).
  const keys = realmKeys ?? { getKey: () => Promise.reject(new KccNotReadyError('no realm keys')), algorithms: undefined };
  // Every instance verifies the pushes others relay with the realm's keys, admin routes mounted or not.
  const keycloakPushes = nested(problems, '', () =>
    createKeycloakPushVerifier({ issuer: options.issuer, clientId: options.clientId, jwks: keys.getKey, algorithms: keys.algorithms }),
  );
  const replayGuard: ReplayGuard = { firstUse: (id, ttlMs) => started(replays).firstUse(id, ttlMs) };
  const common = { issuer: options.issuer, clientId: options.clientId, sink, replayGuard, jwks: keys.getKey, algorithms: keys.algorithms, logger };
  const endpoints: MountedEndpoint[] = [];
  if (options.routes?.backchannelLogout !== false) {
    // Only the options the plugin takes (it names any other key itself).
    const { maxBodyBytes, maxTokenAgeMs, clockToleranceMs, allowMissingExp, acceptedTypes, keepOfflineSessions } = options.backchannelLogout ?? {};
    const limits = { maxBodyBytes, maxTokenAgeMs, clockToleranceMs, allowMissingExp, acceptedTypes, keepOfflineSessions };
    const handler = nested(problems, 'backchannelLogout.', () => createBackchannelLogoutHandler({ ...limits, ...common }));
    if (handler && resolved.backchannelLogoutPath) endpoints.push({ path: resolved.backchannelLogoutPath, mediaType: FORM_CONTENT_TYPE, handler });
  }
  if (options.keycloakAdmin?.enabled === true) {
    const { maxBodyBytes, clockToleranceMs } = options.keycloakAdmin;
    const admin = nested(problems, 'keycloakAdmin.', () => createKeycloakAdminHandlers({ enabled: true, maxBodyBytes, clockToleranceMs, ...common }));
    if (admin && resolved.adminPaths) {
      endpoints.push({ path: resolved.adminPaths.logout, mediaType: TEXT_CONTENT_TYPE, handler: admin.logout });
      endpoints.push({ path: resolved.adminPaths.pushNotBefore, mediaType: TEXT_CONTENT_TYPE, handler: admin.pushNotBefore });
    }
  }
  // The key ring's and the revocations' own options too (the key ring's key-encryption keys are read
  // once connecting has begun): bad input opens nothing and reads nothing.
  // (`redis` or `connection` of the wrong kind, or a key ring or revocations that is no object:
  // checkKccFastifyOptions named it.)
  const givenConfig = (options.redis as Partial<KccRedis> | undefined)?.config;
  const redisLogger = givenConfig?.logger ?? (options.connection?.logger ? kccLogger(options.connection.logger) : logger);
  // The connection's connectTimeoutMs bounds a read of the key-encryption keys too.
  const readTimeoutMs = givenConfig?.connectTimeoutMs ?? connectTimeoutOf(options.connection);
  const readRingKeys = options.keyRing === undefined || isPlainObject(options.keyRing)
    ? nested(problems, 'keyRing.', () => planKeyRingOptions(options.keyRing ?? {}, redisLogger, givenConfig?.region ?? options.connection?.region, readTimeoutMs))
    : undefined;
  if (options.revocations === undefined || isPlainObject(options.revocations)) nested(problems, 'revocations.', () => resolveRevocationOptions(options.revocations ?? {}));
  problems.throwIfAny(`${PLUGIN_NAME} options`);

  // What the start opened, closed by `close` (once, whoever asks first: the start's failure or onClose).
  const ownsRedis = options.redis === undefined;
  let redis: KccRedis | undefined;
  let keyRing: KeyRing | undefined;
  let metrics: KccMetrics | undefined;
  let closed = false;
  /** Set by `fastify.kcc.drain()`: the health route answers 503 `draining`, nothing else changes. */
  let draining = false;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true;
      metrics?.close();
      await Promise.all([keyRing?.close(), revocations?.close()]);
      if (ownsRedis) await redis?.close();
    })());
  // The hook is added before connecting: a start that outlasts Fastify's pluginTimeout goes on after
  // ready() rejected, and app.close() must still close what it opens. The hook waits for the start
  // to settle (each step below checks for a close and opens nothing more), then closes.
  let closeRequested = false;
  let start: Promise<unknown> | undefined;
  let settled = false;
  const closeStart = new AbortController();
  fastify.addHook('onClose', async () => {
    closeRequested = true;
    // A start still running (waiting out a creation lock held by an instance that died, up to twice
    // lockTtlMs; a slow Redis) is cut short rather than waited for: the abort closes the ring and
    // revocations being started (their writes done), and the start fails at its next step. The
    // plugin's own connection is closed too (a connect under way ends); a connection passed in is
    // the app's and stays open.
    if (!settled) {
      closeStart.abort();
      if (ownsRedis) void redis?.close().catch(() => undefined);
    }
    // A start that failed reported its own error (ready() rejected with it): closing after it stays quiet.
    const failed = await start?.then(() => false, (error: unknown) => error !== CLOSED_DURING_START);
    await (failed ? close().catch(() => undefined) : close());
  });
  /** Thrown between the start's steps once the app is closing: the start stops, nothing more is opened or mounted. */
  const stopIfClosing = (): void => {
    if (closeRequested) throw CLOSED_DURING_START;
  };

  const begunAt = performance.now();
  const starting = (async (): Promise<{ redis: KccRedis; ring: KeyRing; index: Revocations }> => {
    // One connect with the subscriber (revocations) and reader (key-ring log tail) prewarmed: the three
    // TLS handshakes run in parallel, and the starts below begin once commands can be sent. The key
    // ring's options are resolved meanwhile: its key-encryption key may come from Secrets Manager, a
    // request that need not wait for Redis.
    const connecting = options.redis ? Promise.resolve(options.redis) : underOption('connection.', KccRedis.connect({ ...options.connection, logger: redisLogger }, ['subscriber', 'reader']));
    const [connected, ringOptions] = await Promise.allSettled([connecting, underOption('keyRing.', readRingKeys!())]);
    if (connected.status === 'rejected') throw connected.reason;
    const connection = (redis = connected.value);
    try {
      if (ringOptions.status === 'rejected') throw ringOptions.reason;
      stopIfClosing();
      const [ring, index] = ([keyRing, revocations] = await startBoth(connection, ringOptions.value, options, keycloakPushes!, closeStart.signal));
      stopIfClosing();
      replays = new RedisReplayGuard(connection);
      if (options.metrics !== false) metrics = await KccMetrics.start({ redis: connection, keyRing: ring, revocations: index }, { meterProvider: options.metrics?.meterProvider });
      stopIfClosing();
      if (resolved.jwksPath) mountJwksRoute(fastify, resolved.jwksPath, ring, resolved.jwksMaxAgeSeconds);
      await mountLogoutRoutes(fastify, endpoints);
      stopIfClosing();
      // `health` is defined below, once the ring and the index are known to exist; the route calls it per request.
      if (resolved.healthPath) mountHealthRoute(fastify, resolved.healthPath, () => health(), options.revocations?.failOpen ?? REVOCATION_DEFAULTS.failOpen, () => draining);
      return { redis: connection, ring, index };
    } catch (error) {
      // The start's error is the one to report, not one from closing after it.
      await close().catch(() => undefined);
      throw error;
    }
  })().catch((error: unknown) => {
    // Failed because the app closed it (above): nothing to report.
    if (closeRequested && (error === CLOSED_DURING_START || error instanceof KccClosedError)) throw CLOSED_DURING_START;
    // Past Fastify's pluginTimeout, ready() rejected with the timeout and this error reaches nobody: said here.
    const timeoutMs = fastify.initialConfig.pluginTimeout ?? 0;
    // A KccClosedError is the app's own doing (a connection it passed in, closed by its own hook).
    if (timeoutMs > 0 && performance.now() - begunAt >= timeoutMs && !(error instanceof KccClosedError)) {
      logger.warn(`${PLUGIN_NAME}: the start failed after Fastify's pluginTimeout (${timeoutMs} ms; ready() rejected with the timeout): ${errorLine(error)}`);
    }
    throw error;
  });
  start = starting;
  void starting.then(
    () => (settled = true),
    () => (settled = true),
  );
  let opened: Awaited<typeof starting>;
  try {
    opened = await starting;
  } catch (error) {
    if (error !== CLOSED_DURING_START) throw error;
    // app.close() came first (after Fastify's pluginTimeout, whose error ready() reported): what the start opened is closed.
    logger.info(`${PLUGIN_NAME}: the app closed before the plugin's start finished; what it opened is closed, nothing was mounted after`);
    return;
  }
  const { redis: connection, ring, index } = opened;
  const health = (): KccHealth => {
    const ringHealth = ring.health();
    const revocationStatus = closed ? 'closed' : index.stale ? 'stale' : 'current';
    return {
      status: closed ? 'closed' : ringHealth.status === 'ready' && revocationStatus === 'current' ? 'ok' : 'degraded',
      keyRing: ringHealth,
      revocations: { status: revocationStatus, stalenessSeconds: Math.round(index.stalenessMs) / 1000, revokedSessions: index.stats.revokedSessions },
      connection: { ...connection.stats },
    };
  };
  const kcc: KccFastify = {
    redis: connection,
    keyRing: ring,
    revocations: index,
    clientAuth: ring.clientAuth(),
    check: (claims) => index.check(claims),
    rejects: (claims) => index.rejects(claims),
    health,
    // The handlers, found by the paths they were mounted at.
    logoutStats: () => {
      const mounted = (path: string | undefined) => (path === undefined ? undefined : endpoints.find((endpoint) => endpoint.path === path)?.handler);
      const [logout, pushNotBefore] = [statsCopy(mounted(resolved.adminPaths?.logout)), statsCopy(mounted(resolved.adminPaths?.pushNotBefore))];
      return {
        backchannelLogout: statsCopy(mounted(resolved.backchannelLogoutPath)),
        keycloakAdmin: logout && pushNotBefore ? { logout, pushNotBefore } : undefined,
      };
    },
    drain: () => {
      if (draining || closed) return;
      draining = true;
      logger.info(`${PLUGIN_NAME}: draining (fastify.kcc.drain()): the health route answers 503; every route serves until app.close()`);
    },
  };
  fastify.decorate('kcc', kcc);
  // onClose (added above) closes only what the plugin created: the ring and the index always, the connection unless it was passed in.
}

/** Stops a start the app closed meanwhile (not an error: the plugin returns quietly). */
const CLOSED_DURING_START = new Error(`${PLUGIN_NAME}: closed during the start`);

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

/**
 * `work`, whose option problems (a KccConfigError from the connection's, the key ring's or the
 * revocations' own checks) are named as given to the plugin: under `prefix` (`connection.url`). A
 * problem that names an environment variable (`CLUSTER_REDIS_PORT: …`) stays as it is.
 */
async function underOption<T>(prefix: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof KccConfigError)) throw error;
    throw new KccConfigError(`${PLUGIN_NAME} options`, error.problems.map((problem) => (ENVIRONMENT_PROBLEM.test(problem) ? problem : `${prefix}${problem}`)));
  }
}

/** A problem that names environment variables (one, or several: `A, B: …`), not an option. */
const ENVIRONMENT_PROBLEM = /^[A-Z][A-Z0-9_]*(, [A-Z][A-Z0-9_]*)*:/;

/** Options the plugin passes on as they are: a problem with one of them is named once, without a prefix. */
const PASSED_ON = new Set(['issuer', 'clientId']);

/**
 * Runs `build` (which records problems into the set it is given, or throws a KccConfigError listing
 * them) and records each problem into `problems`, its option named as given to the plugin: under
 * `prefix`, except the options the plugin passes on as they are, named once, and environment
 * variables, named as they are.
 */
function nested<T>(problems: OptionProblems, prefix: string, build: (within: OptionProblems) => T | undefined): T | undefined {
  const within = new OptionProblems();
  let built: T | undefined;
  try {
    built = build(within);
  } catch (error) {
    if (!(error instanceof KccConfigError)) throw error;
    within.list.push(...error.problems);
  }
  const named = new Set(problems.list.map(optionOf));
  for (const problem of within.list) {
    const option = optionOf(problem);
    if (!PASSED_ON.has(option)) problems.add(ENVIRONMENT_PROBLEM.test(problem) ? problem : `${prefix}${problem}`);
    else if (!named.has(option)) {
      problems.add(problem);
      named.add(option);
    }
  }
  return within.list.length > 0 ? undefined : built;
}

const optionOf = (problem: string): string => problem.slice(0, Math.max(0, problem.indexOf(':')));
