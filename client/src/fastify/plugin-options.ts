import type { RegisterOptions } from 'fastify';
import type { KccRedis } from '../connection.js';
import { KccConfigError } from '../errors.js';
import { KEY_RING_DEFAULTS, type KeyRingOptions } from '../keyring/key-ring-options.js';
import type { KccLogger } from '../logger.js';
import { meterProviderProblem } from '../metrics/kcc-metrics.js';
import type { OtelMeterProvider } from '../metrics/otel-api.js';
import type { KccConnectionOptions } from '../options.js';
import { OptionProblems, kindOf, requireOptionsObject, show } from '../option-checks.js';
import { isPlainObject } from '../plain-object.js';
import type { BackchannelLogoutOptions } from '../revocation/backchannel-logout.js';
import { KEYCLOAK_ADMIN_PATHS, type KeycloakAdminOptions } from '../revocation/keycloak-admin.js';
import { REALM_KEYS_OPTION_NAMES, type RealmKeysOptions } from '../revocation/realm-keys.js';
import type { RevocationOptions } from '../revocation/revocations.js';

/**
 * Options of the Fastify plugin (`@kcc-redis/client/fastify`). Route paths are absolute: the
 * plugin is wrapped with `fastify-plugin`, so a `prefix` given to `register` does not apply to them.
 *
 * @example
 * await app.register(fastifyKcc, {
 *   issuer: 'https://sso.example.com/realms/shop',
 *   clientId: 'shop',
 *   connection: { secretId: process.env.KCC_REDIS_SECRET_ID },
 *   keyRing: { keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID },
 * });
 */
export interface KccFastifyOptions {
  /** The realm's issuer URL (`https://sso.example.com/realms/shop`): logout tokens must carry it as `iss`. */
  readonly issuer: string;
  /** This client's id in the realm: logout tokens' `aud` and admin actions' `resource`. */
  readonly clientId: string;
  /**
   * How the plugin connects (explicit options, then `KCC_REDIS_*` environment variables, then the
   * secret). The plugin owns that connection and closes it in `onClose`. Give this or `redis`.
   * @default {} (environment variables / secret)
   */
  readonly connection?: KccConnectionOptions;
  /** A connection you opened and own: the plugin uses it and never closes it. Give this or `connection`. */
  readonly redis?: KccRedis;
  /** The signing-key ring (key-encryption key, algorithm, rotation). @default {} (`KCC_KEYRING_KEK` / `KCC_KEYRING_KEK_SECRET_ID`) */
  readonly keyRing?: KeyRingOptions;
  /**
   * The revocation index (session max lifetime, staleness bound, `failOpen`, and `closeTimeoutMs`: how
   * long `onClose` keeps writing the revocations Redis has not confirmed).
   * @default {} (fail closed after 30 s cut off; closeTimeoutMs 10000)
   */
  readonly revocations?: RevocationOptions;
  /** Where the realm's signing keys come from; shared by the logout routes. @default Keycloak's `<issuer>/protocol/openid-connect/certs` */
  readonly realmKeys?: Omit<RealmKeysOptions, 'issuer' | 'logger'>;
  /** Limits and tolerances of the back-channel logout route. @default BACKCHANNEL_LOGOUT_DEFAULTS */
  readonly backchannelLogout?: Pick<BackchannelLogoutOptions, 'maxBodyBytes' | 'maxTokenAgeMs' | 'clockToleranceMs' | 'allowMissingExp' | 'acceptedTypes' | 'keepOfflineSessions'>;
  /** Keycloak's legacy `k_logout` / `k_push_not_before`. @default off */
  readonly keycloakAdmin?: KccFastifyKeycloakAdminOptions;
  /** Route paths; `false` leaves a route unmounted. */
  readonly routes?: {
    /** `GET` JWKS, the client's `jwks_uri`. @default '/.well-known/jwks.json' */
    readonly jwks?: string | false;
    /** `POST` OpenID Connect Back-Channel Logout. @default '/backchannel-logout' */
    readonly backchannelLogout?: string | false;
    /**
     * `GET` health summary for a load balancer or readiness probe: 200 while the instance serves
     * correctly, 503 when it does not (closed, or revocations stale under fail-closed), a JSON
     * summary with no secret, `Cache-Control: no-store`. Unauthenticated: it shows states and the
     * ring's generation only. `true` mounts it at `'/.well-known/kcc-health'`.
     * @default false (not mounted)
     */
    readonly health?: string | boolean;
  };
  /**
   * OpenTelemetry metrics of the plugin's connection, key ring and revocations (docs/metrics.md):
   * on the given `meterProvider`, else on the global one of `@opentelemetry/api` when that optional
   * peer is installed (register your SDK before the plugin), else none. `false` turns them off (e.g.
   * when you pass `redis` and report it yourself with `KccMetrics`).
   * @default {} (the global MeterProvider, if any)
   */
  readonly metrics?: KccFastifyMetricsOptions | false;
  /**
   * `Cache-Control: public, max-age=<this>` of the JWKS. Must be shorter than the ring's
   * `activationDelayMs`, so that no cache still hides a next key when it starts signing.
   * @default 60
   */
  readonly jwksMaxAgeSeconds?: number;
  /**
   * Where the plugin's connection (unless `connection.logger` is set) and the logout routes report.
   * Not Fastify's logger by default: with Fastify's logger off, warnings such as an unsafe plaintext
   * setting would be silenced.
   * @default the client's default logger (warnings to stderr)
   */
  readonly logger?: KccLogger;
}

/** Where the plugin's metrics go. */
export interface KccFastifyMetricsOptions {
  /** @default the global MeterProvider of `@opentelemetry/api` when installed; none otherwise */
  readonly meterProvider?: OtelMeterProvider;
}

/** Keycloak's legacy admin endpoints, mounted at `<adminUrlPath>/k_logout` and `<adminUrlPath>/k_push_not_before`. */
export interface KccFastifyKeycloakAdminOptions extends Pick<KeycloakAdminOptions, 'maxBodyBytes' | 'clockToleranceMs'> {
  /** Mount them. Keycloak only calls them when the client has an Admin URL. */
  readonly enabled: boolean;
  /** The path of the client's "Admin URL" in Keycloak (`https://app.example.com/kc` → `/kc`). @default '' (the root) */
  readonly adminUrlPath?: string;
}

/** Defaults of the plugin's own options, in one object. */
export const KCC_FASTIFY_DEFAULTS = {
  jwksPath: '/.well-known/jwks.json',
  backchannelLogoutPath: '/backchannel-logout',
  healthPath: '/.well-known/kcc-health',
  adminUrlPath: '',
  jwksMaxAgeSeconds: 60,
} as const;

/** The plugin's name, as given to `fastify-plugin` and used in its errors. */
export const PLUGIN_NAME = '@kcc-redis/client';

/** Options after validation: paths resolved (`undefined` = not mounted). */
export interface ResolvedKccFastifyOptions {
  readonly jwksPath: string | undefined;
  readonly backchannelLogoutPath: string | undefined;
  readonly healthPath: string | undefined;
  readonly adminPaths: { readonly logout: string; readonly pushNotBefore: string } | undefined;
  readonly jwksMaxAgeSeconds: number;
}

/** Every option of the plugin, and of its `routes`, `keycloakAdmin`, `realmKeys` and `backchannelLogout` (the compiler keeps the lists whole); `connection`, `keyRing` and `revocations` are checked where they are used. */
const PLUGIN_OPTION_NAMES = {
  issuer: true, clientId: true, connection: true, redis: true, keyRing: true, revocations: true, realmKeys: true,
  backchannelLogout: true, keycloakAdmin: true, routes: true, metrics: true, jwksMaxAgeSeconds: true, logger: true,
  // Fastify hands a plugin its register() options with the plugin's own (`prefix` does not apply to these routes: see KccFastifyOptions).
  ...({ prefix: true, logLevel: true, logSerializers: true } satisfies Record<keyof RegisterOptions, true>),
} as const satisfies Record<keyof KccFastifyOptions | keyof RegisterOptions, true>;
const ROUTE_OPTION_NAMES = { jwks: true, backchannelLogout: true, health: true } as const satisfies Record<keyof NonNullable<KccFastifyOptions['routes']>, true>;
const KEYCLOAK_ADMIN_OPTION_NAMES = { enabled: true, adminUrlPath: true, maxBodyBytes: true, clockToleranceMs: true } as const satisfies Record<keyof KccFastifyKeycloakAdminOptions, true>;
const { issuer: _issuer, logger: _logger, ...PLUGIN_REALM_KEYS_OPTION_NAMES } = REALM_KEYS_OPTION_NAMES;
const BACKCHANNEL_LOGOUT_OPTION_NAMES = {
  maxBodyBytes: true, maxTokenAgeMs: true, clockToleranceMs: true, allowMissingExp: true, acceptedTypes: true, keepOfflineSessions: true,
} as const satisfies Record<keyof NonNullable<KccFastifyOptions['backchannelLogout']>, true>;

function checkPath(value: string | boolean | undefined, fallback: string, option: string, problems: OptionProblems, orElse = 'or false'): string | undefined {
  if (value === false) return undefined;
  const path = value === undefined || value === true ? fallback : value;
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s?#]/.test(path)) {
    problems.add(`${option}: ${show(path)} must be an absolute path ("/…") without spaces, "?" or "#", ${orElse}`);
    return undefined;
  }
  return path;
}

/**
 * Two of the plugin's routes at one method and path (`routes.jwks` = `routes.health`, a logout route
 * at `<adminUrlPath>/k_logout`): Fastify would refuse the second with FST_ERR_DUPLICATED_ROUTE,
 * naming no option. Each route is `[method, option, path]`; an unmounted one has no path.
 */
function routeClashes(routes: readonly (readonly [method: string, option: string, path: string | undefined])[]): string[] {
  const problems: string[] = [];
  routes.forEach(([method, option, path], i) => {
    const first = routes.slice(0, i).find(([m, , p]) => p !== undefined && m === method && p === path);
    if (path !== undefined && first) problems.push(`${first[1]}, ${option}: both mount ${method} ${show(path)}; give each route a path of its own`);
  });
  return problems;
}

/**
 * Validates the plugin's own options before anything connects; throws one KccConfigError naming
 * every problem (the handlers and the connection validate theirs the same way).
 */
export function resolveKccFastifyOptions(options: KccFastifyOptions): ResolvedKccFastifyOptions {
  const problems = new OptionProblems();
  const resolved = checkKccFastifyOptions(options, problems);
  problems.throwIfAny(`${PLUGIN_NAME} options`);
  return resolved;
}

/**
 * {@link resolveKccFastifyOptions} recording its problems into `problems` (the plugin adds those of
 * its realm keys and logout routes, and throws them all in one error). A path with a problem
 * resolves to undefined. Options that are not an object throw at once.
 */
export function checkKccFastifyOptions(options: KccFastifyOptions, problems: OptionProblems): ResolvedKccFastifyOptions {
  const subject = `${PLUGIN_NAME} options`;
  if (options === undefined) throw new KccConfigError(subject, ['options are required ({ issuer, clientId, … })']);
  requireOptionsObject(options, subject, 'app.register(fastifyKcc, { issuer, clientId, … })');
  // Nested options that are not objects: their fields would read as unset (a connection string as
  // connection would leave url "missing").
  problems.object('connection', options.connection, "connection: { url: 'rediss://host:6379' }");
  problems.object('keyRing', options.keyRing, "keyRing: { keyEncryptionKeySecretId: '…' }");
  problems.object('revocations', options.revocations, 'revocations: { maxStalenessMs: 30_000 }');
  problems.object('realmKeys', options.realmKeys, "realmKeys: { jwksUri: 'https://…' }");
  problems.object('backchannelLogout', options.backchannelLogout, 'backchannelLogout: { maxBodyBytes: 16_384 }');
  problems.object('keycloakAdmin', options.keycloakAdmin, 'keycloakAdmin: { enabled: true }');
  problems.object('routes', options.routes, "routes: { health: true }");
  problems.unknownKeys(options, PLUGIN_OPTION_NAMES);
  problems.unknownKeys(options.routes, ROUTE_OPTION_NAMES, 'routes.');
  problems.unknownKeys(options.keycloakAdmin, KEYCLOAK_ADMIN_OPTION_NAMES, 'keycloakAdmin.');
  problems.unknownKeys(options.backchannelLogout, BACKCHANNEL_LOGOUT_OPTION_NAMES, 'backchannelLogout.');
  problems.unknownKeys(options.realmKeys, PLUGIN_REALM_KEYS_OPTION_NAMES satisfies Record<keyof NonNullable<KccFastifyOptions['realmKeys']>, true>, 'realmKeys.');
  if (options.metrics) problems.unknownKeys(options.metrics, { meterProvider: true } satisfies Record<keyof KccFastifyMetricsOptions, true>, 'metrics.');
  if (typeof options.clientId !== 'string' || options.clientId.length === 0) problems.add(`clientId: ${show(options.clientId)} must be a non-empty string (this client's id)`);
  if (typeof options.issuer !== 'string' || options.issuer.length === 0) problems.add(`issuer: ${show(options.issuer)} must be the realm's issuer URL`);
  const redis: unknown = options.redis;
  if (redis !== undefined && typeof (redis as Partial<KccRedis> | null)?.openSubscriber !== 'function') {
    problems.add(`redis: ${kindOf(redis)}, not a KccRedis connection; give redis: await KccRedis.connect(…), or leave it out (the plugin connects from connection, or the environment)`);
  }
  if (options.redis !== undefined && options.connection !== undefined) {
    problems.add('redis, connection: give one of them, not both (redis is a connection you own; connection is how the plugin opens its own)');
  }
  const activationDelayMs = options.keyRing?.activationDelayMs ?? KEY_RING_DEFAULTS.activationDelayMs;
  const maxAge = problems.number('jwksMaxAgeSeconds', options.jwksMaxAgeSeconds, KCC_FASTIFY_DEFAULTS.jwksMaxAgeSeconds, { unit: 's' });
  if (maxAge > 0 && maxAge * 1000 >= activationDelayMs) {
    problems.add(`jwksMaxAgeSeconds: ${maxAge} must be below the key ring's activationDelayMs (${activationDelayMs} ms): a cached JWKS must still show a new key before it is used`);
  }
  const admin = options.keycloakAdmin;
  if (isPlainObject(admin) && typeof admin.enabled !== 'boolean') problems.add(`keycloakAdmin.enabled: ${show(admin.enabled)} must be true or false`);
  let adminPaths: ResolvedKccFastifyOptions['adminPaths'];
  if (admin?.enabled) {
    const base = admin.adminUrlPath ?? KCC_FASTIFY_DEFAULTS.adminUrlPath;
    if (typeof base !== 'string' || (base !== '' && !base.startsWith('/')) || /[\s?#]/.test(base)) {
      problems.add(`keycloakAdmin.adminUrlPath: ${show(base)} must be '' or an absolute path ("/…")`);
    } else {
      const root = base.replace(/\/+$/, '');
      adminPaths = { logout: `${root}/${KEYCLOAK_ADMIN_PATHS.logout}`, pushNotBefore: `${root}/${KEYCLOAK_ADMIN_PATHS.pushNotBefore}` };
    }
  }
  const jwksPath = checkPath(options.routes?.jwks, KCC_FASTIFY_DEFAULTS.jwksPath, 'routes.jwks', problems);
  const backchannelLogoutPath = checkPath(options.routes?.backchannelLogout, KCC_FASTIFY_DEFAULTS.backchannelLogoutPath, 'routes.backchannelLogout', problems);
  const health = options.routes?.health;
  const healthPath = checkPath(health ?? false, KCC_FASTIFY_DEFAULTS.healthPath, 'routes.health', problems, 'true (the default path) or false');
  for (const problem of routeClashes([
    ['GET', 'routes.jwks', jwksPath],
    ['POST', 'routes.backchannelLogout', backchannelLogoutPath],
    ['GET', 'routes.health', healthPath],
    ['POST', `keycloakAdmin.adminUrlPath (${KEYCLOAK_ADMIN_PATHS.logout})`, adminPaths?.logout],
    ['POST', `keycloakAdmin.adminUrlPath (${KEYCLOAK_ADMIN_PATHS.pushNotBefore})`, adminPaths?.pushNotBefore],
  ])) problems.add(problem);
  const metrics = options.metrics;
  if (metrics !== undefined && metrics !== false && (typeof metrics !== 'object' || metrics === null)) {
    problems.add(`metrics: ${show(metrics)} must be { meterProvider? } or false`);
  } else if (metrics) {
    const problem = meterProviderProblem('metrics.meterProvider', metrics.meterProvider);
    if (problem) problems.add(problem);
  }
  return { jwksPath, backchannelLogoutPath, healthPath, adminPaths, jwksMaxAgeSeconds: maxAge };
}
