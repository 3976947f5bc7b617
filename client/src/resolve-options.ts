import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { readFile } from 'node:fs/promises';
import { discoverEndpoint } from './aws/elasticache-discovery.js';
import { SECRET_ID, readUserSecret } from './aws/secrets-manager.js';
import { MAX_MESSAGE_BYTES, MAX_SENDER_LENGTH, MIN_MESSAGE_BYTES } from './envelope.js';
import { KccConfigError } from './errors.js';
import { MAX_TIMER_MS, OptionProblems, SHAPES, booleanProblem, kindOf, nameShape, numberProblem, showShaped } from './option-checks.js';
import type { IamConnectionOptions } from './iam/iam-options.js';
import { type ResolvedIamAuth, iamOptionProblems, resolveAuthMode, resolveIamAuth, resolveServerless } from './iam/resolve-iam-options.js';
import { type KccLogger, defaultLogger, kccLogger } from './logger.js';
import { keyPrefixOfUser, keyPrefixProblem } from './contract/naming.js';
import { CONNECTION_DEFAULTS, type CredentialsProvider, type KccConnectionOptions, type RedisCredentials } from './options.js';
import type { RedisUserSecret } from './contract/user-secret.js';
import { PUBSUB_OPTIONS, type PubSubOption } from './pubsub-mode.js';
import { secretSourceWithin } from './time-limit.js';

/**
 * A connection's settings after options, environment and secret are merged, without the credentials:
 * what {@link KccRedis.config} holds.
 */
export interface KccRedisConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: false | { readonly ca?: string | Buffer; readonly servername?: string };
  readonly clusterMode: boolean;
  /** An ElastiCache Serverless cache (`serverless` or KCC_REDIS_SERVERLESS): one virtual shard, billed per command. */
  readonly serverless: boolean;
  /** Pub/sub in cluster mode (see `KccConnectionOptions.pubSub`). */
  readonly pubSub: PubSubOption;
  readonly keyPrefix: string;
  /** AWS region of the connection's Secrets Manager and ElastiCache calls (the `region` option, else AWS_REGION, AWS_DEFAULT_REGION); undefined: the AWS SDK's own resolution. A key ring on this connection reads its key-encryption-key secret there too, unless its own `region` says otherwise. */
  readonly region: string | undefined;
  /** IAM authentication settings; undefined with password authentication. */
  readonly iam: ResolvedIamAuth | undefined;
  readonly instanceId: string;
  readonly connectionName: string;
  readonly connectTimeoutMs: number;
  readonly socketTimeoutMs: number;
  readonly reconnectBaseDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly credentialRefreshMinIntervalMs: number;
  readonly maxMessageBytes: number;
  /** Whether this connection announces its instance (see heartbeat.ts), and how often. */
  readonly heartbeat: boolean;
  readonly heartbeatIntervalMs: number;
  readonly logger: KccLogger;
}

/** Everything needed to open connections: the settings and the credentials. */
export interface ResolvedConnection extends KccRedisConfig {
  /** With IAM authentication the password is empty: every connection signs a token instead. */
  readonly credentials: RedisCredentials;
  /** Re-reads credentials (secret, provider); undefined when they are fixed (explicit or env password). */
  readonly refreshCredentials: CredentialsProvider | undefined;
}

/** Every option of KccConnectionOptions, and of its `tls` and `iam` (the compiler keeps the lists whole): any other key is a misspelling. */
const CONNECTION_OPTION_NAMES = {
  url: true, username: true, password: true, keyPrefix: true, secretId: true, replicationGroupId: true, region: true,
  credentialsProvider: true, clusterMode: true, auth: true, iam: true, serverless: true, tls: true, unsafeAllowPlaintext: true,
  instanceId: true, heartbeat: true, heartbeatIntervalMs: true, connectionName: true, connectTimeoutMs: true, socketTimeoutMs: true,
  reconnectBaseDelayMs: true, reconnectMaxDelayMs: true, credentialRefreshMinIntervalMs: true, pubSub: true, maxMessageBytes: true,
  logger: true, env: true,
} as const satisfies Record<keyof KccConnectionOptions, true>;
const TLS_OPTION_NAMES = { ca: true, caFile: true, servername: true } as const satisfies Record<keyof NonNullable<KccConnectionOptions['tls']>, true>;
const IAM_OPTION_NAMES = {
  cacheName: true, credentials: true, maxConnectionAgeMs: true, now: true, checkIntervalMs: true,
} as const satisfies Record<keyof IamConnectionOptions, true>;

const DEFAULT_PORT = 6379;
/** What CLIENT SETNAME accepts: characters from '!' to '~'. */
const CONNECTION_NAME_PATTERN = /^[!-~]+$/;

/** The boolean options of KccConnectionOptions but `serverless` (checked with KCC_REDIS_SERVERLESS, resolve-iam-options.ts). */
const BOOLEAN_OPTIONS = ['clusterMode', 'unsafeAllowPlaintext', 'heartbeat'] as const;

/**
 * A DNS host name (RFC 1123 labels of letters, digits and inner hyphens, at most 253 characters), as
 * TLS sends it in SNI (RFC 6066 allows no IP address there).
 */
const HOST_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
/** A file path as a message may show it: path characters, with a separator or an extension (a generated secret has neither). */
const FILE_PATH = /^(?=.*[./\\])[\w.~ @+:\\/-]{1,1024}$/;

const NUMERIC_OPTIONS = [
  ['connectTimeoutMs', 'ms'],
  ['reconnectBaseDelayMs', 'ms'],
  ['reconnectMaxDelayMs', 'ms'],
  ['credentialRefreshMinIntervalMs', 'ms'],
] as const;

/**
 * Merges explicit options, environment variables and the Secrets Manager secret (in that order of
 * precedence) and validates the result. Throws one `KCC_CONFIG_INVALID` error naming every problem.
 * What is wrong with the options and the environment themselves is thrown before anything is read
 * (the secret, the app's `credentialsProvider`): a read would otherwise fail first (no AWS
 * credentials on a developer's machine) and hide them, or run with a default in place of the wrong
 * value (its time limit, `connectTimeoutMs`).
 */
export async function resolveConnection(options: KccConnectionOptions = {}): Promise<ResolvedConnection> {
  const env = options.env ?? process.env;
  const problems: string[] = unknownOptionProblems(options);
  const logger = options.logger ? kccLogger(options.logger) : defaultLogger;

  const auth = resolveAuthMode(options.auth, env, problems);
  const iamMode = auth === 'iam';
  const serverless = resolveServerless(options.serverless, env, problems);
  const secretId = first(options.secretId, env.KCC_REDIS_SECRET_ID);
  const region = first(options.region, env.AWS_REGION, env.AWS_DEFAULT_REGION);
  const { numbers, maxMessageBytes, socketTimeoutMs, heartbeatIntervalMs } = numericOptions(options, problems);
  booleanOptions(options, problems);
  const pubSub = resolvePubSub(options, env, problems);
  const endpoint = parseEndpoint(options, env, problems);
  const tlsCa = await resolveCa(options, env, problems);
  checkServername(options, problems);
  checkPlaintext(endpoint, iamMode, options, problems);
  checkNames(options, problems);
  checkServerlessClusterMode(serverless, options, problems);
  checkSecretId(secretId, options, problems);
  const readsSecret = secretId !== undefined && !options.credentialsProvider && !iamMode;
  const callsProvider = options.credentialsProvider !== undefined && !iamMode;
  if (problems.length > 0 && (readsSecret || callsProvider)) throw new KccConfigError('kcc-redis connection config', problems);

  const secret: RedisUserSecret | undefined = readsSecret ? await readUserSecret(secretId, region, numbers.connectTimeoutMs) : undefined;
  const provider = callsProvider ? secretSourceWithin('credentialsProvider', options.credentialsProvider!, numbers.connectTimeoutMs) : undefined;
  const provided = provider ? await provider() : undefined;

  const username = first(provided?.username, options.username, env.KCC_REDIS_USERNAME, env.CLUSTER_REDIS_USERNAME, secret?.username);
  const password = iamMode ? '' : first(provided?.password, options.password, env.KCC_REDIS_PASSWORD, env.CLUSTER_REDIS_PASSWORD, secret?.password);
  // Credentials put in the URL are one problem, reported on the url: not also as missing ones.
  const inUrl = urlCredentials(options.url ?? (env.KCC_REDIS_URL || undefined));
  if (!username && !iamMode && !inUrl.username) problems.push('username: missing; set the username option, KCC_REDIS_USERNAME, or KCC_REDIS_SECRET_ID');
  if (!password && !iamMode && !inUrl.password) problems.push('password: missing; set the password option, KCC_REDIS_PASSWORD, or KCC_REDIS_SECRET_ID');

  // An IAM user's name carries the stack's namespace: the key prefix is given, never derived from it.
  const keyPrefix = first(options.keyPrefix, env.KCC_REDIS_PREFIX, env.CLUSTER_REDIS_PREFIX, secret?.keyPrefix) ?? (username && !iamMode ? keyPrefixOfUser(username) : undefined);
  if (!keyPrefix) {
    if (iamMode) problems.push('keyPrefix: missing; with auth "iam" set keyPrefix or KCC_REDIS_PREFIX to the app-env\'s prefix (e.g. "my-app-prod:")');
    else if (username) problems.push(`keyPrefix: missing and not derivable from ${userNamed(username)}; set keyPrefix or KCC_REDIS_PREFIX (e.g. "my-app-prod:")`);
  } else if (typeof keyPrefix !== 'string' || !SHAPES.keyPrefix.test(keyPrefix)) {
    // keyPrefixProblem shows the prefix: one of another shape may be a secret pasted into KCC_REDIS_PREFIX.
    problems.push(`keyPrefix: ${showShaped(keyPrefix, SHAPES.keyPrefix)} must be lowercase words separated and ended by ":" (e.g. "my-app-prod:"); set keyPrefix or KCC_REDIS_PREFIX to the app-env's prefix`);
  } else if (username || iamMode) {
    const problem = keyPrefixProblem(iamMode ? '' : username!, keyPrefix);
    if (problem) problems.push(`keyPrefix: ${problem}`);
  }

  const replicationGroupId = first(options.replicationGroupId, env.KCC_REDIS_REPLICATION_GROUP_ID, secret?.replicationGroupId);
  checkReplicationGroupId(replicationGroupId, options, env, problems);
  if (!endpoint && serverless) {
    problems.push('url: missing; a serverless cache has no replication group to discover: set url or KCC_REDIS_URL to its endpoint (rediss://<cache>-<id>.serverless.<region code, e.g. euw1>.cache.amazonaws.com:6379)');
  } else if (!endpoint && !replicationGroupId && first(options.url, env.KCC_REDIS_URL) === undefined) {
    problems.push('url: missing; set the url option or KCC_REDIS_URL (rediss://host:port), CLUSTER_REDIS_HOST, or a replicationGroupId to discover');
  }
  const passwordSettings = iamMode ? passwordSettingsGiven(options, env) : [];
  const iam = iamMode ? resolveIamAuth(options.iam, env, {
    username, region, replicationGroupId, serverless, passwordSettings,
    connectTimeoutMs: numbers.connectTimeoutMs, credentialRefreshMinIntervalMs: numbers.credentialRefreshMinIntervalMs,
  }, problems) : undefined;
  if (problems.length > 0) {
    throw new KccConfigError('kcc-redis connection config', problems);
  }

  warnOfUpstreamVariables(env, logger);
  const resolvedEndpoint = endpoint ?? { ...(await discoverEndpoint(replicationGroupId!, region, numbers.connectTimeoutMs)), tls: true };
  if (!resolvedEndpoint.tls) {
    logger.warn('UNSAFE: connecting to Redis without TLS (unsafeAllowPlaintext); credentials cross the network in clear');
  }
  const instanceId = options.instanceId ?? randomUUID();
  return {
    host: resolvedEndpoint.host,
    port: resolvedEndpoint.port,
    tls: resolvedEndpoint.tls ? { ca: tlsCa, servername: options.tls?.servername } : false,
    clusterMode: options.clusterMode ?? (serverless || (resolvedEndpoint.clusterMode ?? false)),
    serverless,
    pubSub,
    keyPrefix: keyPrefix!,
    region,
    credentials: { username: username!, password: password! },
    iam,
    refreshCredentials:
      iamMode ? undefined : (provider ?? (secretId ? async () => pickCredentials(await readUserSecret(secretId, region, numbers.connectTimeoutMs)) : undefined)),
    instanceId,
    connectionName: options.connectionName ?? `kcc:${keyPrefix}${instanceId}`,
    ...numbers,
    socketTimeoutMs,
    maxMessageBytes,
    heartbeat: options.heartbeat ?? true,
    heartbeatIntervalMs,
    logger,
  };
}

/**
 * `user "<name>"` for a name of a user name's shape (the stack's `my-app-prod`, `default`), else
 * `the user name given (<N> characters, not shown …)`: a name of another shape (upper and lower case
 * letters and digits, punctuation) may be a password put in KCC_REDIS_USERNAME by mistake, and this
 * text lands in logs.
 */
export function userNamed(username: string): string {
  return SHAPES.userName.test(username)
    ? `user "${username}"`
    : `the user name given (${nameShape(username)}; not shown, as it does not have a user name's shape: lower case letters, digits and "-"; a password in the username setting?)`;
}

/**
 * What is wrong with connection options that can be told from the options alone, before anything
 * connects (a provider made at start-up and connected later): unknown keys, numbers out of range,
 * names Redis would refuse, an explicit `url` that is not `rediss://host:port`, an explicit `auth`,
 * `pubSub` or `serverless` of the wrong kind, `tls.ca` that is no PEM text, and with an explicit
 * `auth: 'iam'` the `iam` options (its numbers, `now`, `credentials`, a `cacheName` given). What the
 * environment or the secret may still supply at connect time (url, username, password, key prefix,
 * the IAM cache name, user id and region) is not required, nothing is read (no environment, secret,
 * file or credentials), a value connect time takes as unset (an empty `pubSub`) is unset here too,
 * and each problem is worded as {@link resolveConnection} words it.
 */
export async function connectionOptionProblems(options: KccConnectionOptions): Promise<string[]> {
  const problems = unknownOptionProblems(options);
  const noEnv = {};
  const iamMode = options.auth !== undefined && resolveAuthMode(options.auth, noEnv, problems) === 'iam';
  const serverless = resolveServerless(options.serverless, noEnv, problems);
  numericOptions(options, problems);
  booleanOptions(options, problems);
  // As resolveConnection takes it: an empty string is unset there (KCC_REDIS_PUBSUB, else "auto").
  resolvePubSub(options, noEnv, problems);
  if (options.url !== undefined) checkPlaintext(parseEndpoint(options, noEnv, problems), iamMode, options, problems);
  // tls.caFile is read at connect time only.
  if (tlsOf(options)?.caFile === undefined || tlsOf(options)?.ca !== undefined) await resolveCa(options, noEnv, problems);
  checkServername(options, problems);
  checkNames(options, problems);
  if (options.replicationGroupId !== undefined) checkReplicationGroupId(options.replicationGroupId, options, noEnv, problems);
  checkSecretId(options.secretId, options, problems);
  checkServerlessClusterMode(serverless, options, problems);
  // The environment (KCC_REDIS_AUTH) may still ask for IAM; only an explicit auth: 'iam' makes
  // the iam options count here, as connect time ignores them with password authentication.
  if (iamMode) iamOptionProblems(options.iam, problems);
  return problems;
}

/** Each key of the options, their `tls` and their `iam` that is not an option; a `tls` or `iam` that is not an object. */
function unknownOptionProblems(options: KccConnectionOptions): string[] {
  const names = new OptionProblems();
  names.unknownKeys(options, CONNECTION_OPTION_NAMES);
  names.object('tls', options.tls, "tls: { caFile: '/path/to/ca.pem' }");
  names.object('iam', options.iam, "iam: { cacheName: 'my-cache' }");
  names.unknownKeys(options.tls, TLS_OPTION_NAMES, 'tls.');
  names.unknownKeys(options.iam, IAM_OPTION_NAMES, 'iam.');
  return names.list;
}

/** The `tls` options when they are an object (one that is not is a problem of its own). */
function tlsOf(options: KccConnectionOptions): KccConnectionOptions['tls'] {
  return typeof options.tls === 'object' && options.tls !== null ? options.tls : undefined;
}

/** Each boolean option that is given but is not true or false (a string 'false' would count as true). */
function booleanOptions(options: KccConnectionOptions, problems: string[]): void {
  for (const name of BOOLEAN_OPTIONS) {
    const problem = booleanProblem(name, options[name]);
    if (problem) problems.push(problem);
  }
}

/**
 * `tls.servername`, given: a host name. Anything else made Node throw inside the connect, after the
 * socket had started (left without an error listener: a refused connection crashed the process), or
 * failed the handshake only after `connectTimeoutMs`, under a message not naming the option.
 */
function checkServername(options: KccConnectionOptions, problems: string[]): void {
  const servername: unknown = tlsOf(options)?.servername;
  if (servername === undefined) return;
  if (typeof servername === 'string' && HOST_NAME.test(servername) && isIP(servername) === 0) return;
  const given = typeof servername === 'string' && isIP(servername) !== 0 ? `"${servername}" is an IP address, which TLS does not send as a server name (RFC 6066)` : `${showShaped(servername, HOST_NAME)} is not a host name`;
  problems.push(`tls.servername: ${given}; give the host name the server's certificate is for (e.g. "master.my-cache.abc123.euw1.cache.amazonaws.com"), or leave it unset for the url's host`);
}

/** A secret id given (option or KCC_REDIS_SECRET_ID) of a Secrets Manager name's or ARN's shape: AWS would refuse another, and its error name it. */
function checkSecretId(secretId: string | undefined, options: KccConnectionOptions, problems: string[]): void {
  if (secretId === undefined || (typeof secretId === 'string' && SECRET_ID.test(secretId))) return;
  problems.push(`${options.secretId !== undefined ? 'secretId' : 'KCC_REDIS_SECRET_ID'}: ${showShaped(secretId, /^$/)} is not a Secrets Manager secret name or ARN (letters, digits and /_+=.@-, up to 512 characters); give password.secretArn of the app-env's stack output`);
}

/**
 * A replication group id (option, KCC_REDIS_REPLICATION_GROUP_ID or the secret's) of an ElastiCache
 * identifier's shape: discovery and the IAM cache name would show it in their errors, and one of
 * another shape may be a secret pasted into the wrong variable.
 */
function checkReplicationGroupId(value: string | undefined, options: KccConnectionOptions, env: Readonly<Record<string, string | undefined>>, problems: string[]): void {
  if (value === undefined || (typeof value === 'string' && SHAPES.identifier.test(value))) return;
  const source = options.replicationGroupId !== undefined ? 'replicationGroupId' : env.KCC_REDIS_REPLICATION_GROUP_ID ? 'KCC_REDIS_REPLICATION_GROUP_ID' : 'the secret\'s replicationGroupId';
  problems.push(`${source}: ${showShaped(value, SHAPES.identifier)} is not a replication group id (a letter, then letters, digits and hyphens, at most 40 characters); give the id of the stack's replication group, or set url instead`);
}

/** The numeric options, their defaults where unset or wrong (the problem recorded). */
function numericOptions(options: KccConnectionOptions, problems: string[]) {
  const checks = new OptionProblems();
  const numbers = Object.fromEntries(
    NUMERIC_OPTIONS.map(([name, unit]) => [name, checks.number(name, options[name], CONNECTION_DEFAULTS[name], { min: 1, max: MAX_TIMER_MS, unit })]),
  ) as Record<(typeof NUMERIC_OPTIONS)[number][0], number>;
  const maxMessageBytes = checks.number('maxMessageBytes', options.maxMessageBytes, CONNECTION_DEFAULTS.maxMessageBytes, { min: MIN_MESSAGE_BYTES, max: MAX_MESSAGE_BYTES, unit: 'bytes' });
  const socketTimeoutMs = checks.number('socketTimeoutMs', options.socketTimeoutMs, CONNECTION_DEFAULTS.socketTimeoutMs, { min: 100, max: 600_000, unit: 'ms' });
  const heartbeatIntervalMs = checks.number('heartbeatIntervalMs', options.heartbeatIntervalMs, CONNECTION_DEFAULTS.heartbeatIntervalMs, { min: 100, max: MAX_TIMER_MS, unit: 'ms' });
  // The delay doubles from the first up to the largest: a first one above it would be cut to the largest at once.
  if (numbers.reconnectBaseDelayMs > numbers.reconnectMaxDelayMs) {
    checks.add(`reconnectBaseDelayMs: ${numbers.reconnectBaseDelayMs} is more than reconnectMaxDelayMs (${numbers.reconnectMaxDelayMs}); the first reconnect delay doubles up to the largest: lower reconnectBaseDelayMs or raise reconnectMaxDelayMs`);
  }
  problems.push(...checks.list);
  return { numbers, maxMessageBytes, socketTimeoutMs, heartbeatIntervalMs };
}

/** The `pubSub` option, else KCC_REDIS_PUBSUB (an empty string of either is unset), else `'auto'`; a value that is no mode is a problem. */
function resolvePubSub(options: KccConnectionOptions, env: Readonly<Record<string, string | undefined>>, problems: string[]): PubSubOption {
  const pubSub = first(options.pubSub, env.KCC_REDIS_PUBSUB) ?? 'auto';
  if ((PUBSUB_OPTIONS as readonly string[]).includes(pubSub)) return pubSub as PubSubOption;
  problems.push(`pubSub: ${showShaped(pubSub, SHAPES.word)} is not one of ${PUBSUB_OPTIONS.map((o) => `"${o}"`).join(', ')} (option pubSub or KCC_REDIS_PUBSUB); leave it unset for "auto"`);
  return 'auto';
}

/**
 * The `connectTimeoutMs` of connection options not yet resolved, where it is valid, else the default:
 * for what runs beside the connect (the plugin reads the key ring's key-encryption keys meanwhile);
 * an invalid one is the connect's to report.
 */
export function connectTimeoutOf(options: KccConnectionOptions | undefined): number {
  const given = options?.connectTimeoutMs;
  return numberProblem('connectTimeoutMs', given, { min: 1, max: MAX_TIMER_MS }) === undefined && given !== undefined ? given : CONNECTION_DEFAULTS.connectTimeoutMs;
}

/** Upstream keycloak-connector's variables this client does not read, and what to use instead (docs/migration-keycloak-connector.md). */
const UPSTREAM_VARIABLES: readonly (readonly [RegExp, string])[] = [
  [/^CLUSTER_REDIS_DANGEROUSLY_DISABLE_TLS$/, 'TLS is required (plaintext only with unsafeAllowPlaintext: true in code, for a local Redis)'],
  [/^CLUSTER_REDIS_TLS_SNI$/, 'the tls.servername option'],
  [/^CLUSTER_REDIS_NO_PREFIX$/, "there is always a namespace, the Redis user's <app>-<env>:"],
  [/^CLUSTER_REDIS_CLIENT_NAME/, 'connections are named kcc:<prefix><instance id>:<role>'],
  [/^CLUSTER_REDIS_\w+_DEV$/, 'one set of variables per deployment'],
];

/** The upstream variables already named in a warning by this process (every connection of an app reads the same environment). */
const upstreamVariablesReported = new Set<string>();

/**
 * Says once per process which of upstream's variables are set but not read: a migrating app that
 * still sets one (a TLS server name, no prefix) would otherwise find out only from what fails.
 */
function warnOfUpstreamVariables(env: Readonly<Record<string, string | undefined>>, logger: KccLogger): void {
  const ignored = Object.keys(env)
    .filter((name) => env[name] !== undefined && env[name] !== '' && !upstreamVariablesReported.has(name))
    .flatMap((name) => UPSTREAM_VARIABLES.filter(([pattern]) => pattern.test(name)).slice(0, 1).map(([, instead]) => [name, `${name} (${instead})`] as const));
  if (ignored.length === 0) return;
  for (const [name] of ignored) upstreamVariablesReported.add(name);
  const named = ignored.map(([, text]) => text).sort();
  logger.warn(`keycloak-connector variables set but not read by kcc-redis: ${named.join('; ')}; see docs/migration-keycloak-connector.md#environment-variables`);
}


/** The first value that is set: neither undefined nor an empty string (a variable set to ''). */
function first(...values: (string | undefined)[]): string | undefined {
  return values.find((v) => v !== undefined && v !== '');
}

function checkPlaintext(endpoint: ParsedEndpoint | undefined, iamMode: boolean, options: KccConnectionOptions, problems: string[]): void {
  if (endpoint && !endpoint.tls && iamMode) {
    problems.push('url: plaintext redis:// refused; ElastiCache IAM authentication needs TLS: use rediss://');
  } else if (endpoint && !endpoint.tls && options.unsafeAllowPlaintext !== true) {
    problems.push('url: plaintext redis:// refused; use rediss:// (TLS), or for a local Redis only set unsafeAllowPlaintext: true');
  }
}

/**
 * Redis refuses a connection name outside '!'..'~' (CLIENT SETNAME), and other instances drop a
 * message whose sender id is longer than MAX_SENDER_LENGTH: either would fail silently later.
 * The value is not echoed: a wrong one may be something pasted by mistake (a password).
 */
function checkNames(options: KccConnectionOptions, problems: string[]): void {
  if (options.instanceId !== undefined && !(typeof options.instanceId === 'string' && CONNECTION_NAME_PATTERN.test(options.instanceId) && options.instanceId.length <= MAX_SENDER_LENGTH)) {
    problems.push(`instanceId: must be 1 to ${MAX_SENDER_LENGTH} printable ASCII characters without spaces (${nameShape(options.instanceId)}); leave it unset for a random UUID`);
  }
  if (options.connectionName !== undefined && !(typeof options.connectionName === 'string' && CONNECTION_NAME_PATTERN.test(options.connectionName))) {
    problems.push(`connectionName: must be printable ASCII characters without spaces, which is what Redis accepts in CLIENT SETNAME (${nameShape(options.connectionName)})`);
  }
}

function checkServerlessClusterMode(serverless: boolean, options: KccConnectionOptions, problems: string[]): void {
  if (serverless && options.clusterMode === false) {
    problems.push('clusterMode: false contradicts serverless: true; an ElastiCache Serverless endpoint is used in cluster mode (remove clusterMode)');
  }
}

const PEM_CERTIFICATE = '-----BEGIN CERTIFICATE-----';

/**
 * The extra CA: `tls.ca` (PEM text), else the file `tls.caFile`, else the file KCC_REDIS_CA_FILE.
 * Each must hold a PEM certificate: a path given as `tls.ca` would otherwise be ignored by TLS and
 * fail later as an untrusted certificate.
 */
async function resolveCa(options: KccConnectionOptions, env: Readonly<Record<string, string | undefined>>, problems: string[]): Promise<string | Buffer | undefined> {
  const { ca, caFile } = tlsOf(options) ?? {};
  if (ca !== undefined && caFile !== undefined) {
    problems.push('tls: give either ca (PEM text) or caFile (a path to a PEM file), not both');
    return undefined;
  }
  if (ca !== undefined) {
    if (typeof ca !== 'string' && !Buffer.isBuffer(ca)) {
      problems.push(`tls.ca: ${kindOf(ca)}, not PEM text; give the certificate's PEM text (a string or Buffer starting with "${PEM_CERTIFICATE}"), or its file as tls.caFile`);
      return undefined;
    }
    if (!ca.toString().includes(PEM_CERTIFICATE)) {
      const looksLikePath = typeof ca === 'string' && !ca.includes('\n') && ca.length < 4096;
      problems.push(`tls.ca: expected PEM text starting with "${PEM_CERTIFICATE}"${looksLikePath ? `; got what looks like a file path: pass it as tls.caFile (or KCC_REDIS_CA_FILE)` : ''}`);
    }
    return ca;
  }
  const [source, file] = caFile !== undefined ? ['tls.caFile', caFile] : ['KCC_REDIS_CA_FILE', env.KCC_REDIS_CA_FILE || undefined];
  if (file === undefined) return undefined;
  if (typeof file !== 'string' || file === '') {
    problems.push(`${source}: ${kindOf(file)}${file === '' ? ' (empty)' : ''}, not a path; give the path of the CA certificate's PEM file`);
    return undefined;
  }
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    problems.push(`${source}: cannot read ${showShaped(file, FILE_PATH)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); give the path of the CA certificate's PEM file`);
    return undefined;
  }
  if (!pem.includes(PEM_CERTIFICATE)) problems.push(`${source}: ${showShaped(file, FILE_PATH)} holds no PEM certificate ("${PEM_CERTIFICATE}")`);
  return pem;
}

/** Password-mode settings present in an IAM configuration, named as given. */
function passwordSettingsGiven(options: KccConnectionOptions, env: Readonly<Record<string, string | undefined>>): string[] {
  const given: [string, unknown][] = [
    ['password', options.password], ['secretId', options.secretId], ['credentialsProvider', options.credentialsProvider],
    ['KCC_REDIS_PASSWORD', env.KCC_REDIS_PASSWORD], ['CLUSTER_REDIS_PASSWORD', env.CLUSTER_REDIS_PASSWORD], ['KCC_REDIS_SECRET_ID', env.KCC_REDIS_SECRET_ID],
  ];
  return given.filter(([, value]) => value !== undefined && value !== '').map(([name]) => name);
}

function pickCredentials(secret: RedisUserSecret): RedisCredentials {
  return { username: secret.username, password: secret.password };
}

/** Which credentials a URL carries (none when it does not parse). */
function urlCredentials(url: string | undefined): { readonly username: boolean; readonly password: boolean } {
  if (url === undefined || !URL.canParse(url)) return { username: false, password: false };
  const parsed = new URL(url);
  return { username: parsed.username !== '', password: parsed.password !== '' };
}

interface ParsedEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly clusterMode?: boolean;
}

function parseEndpoint(
  options: KccConnectionOptions,
  env: Readonly<Record<string, string | undefined>>,
  problems: string[],
): ParsedEndpoint | undefined {
  const url = options.url ?? (env.KCC_REDIS_URL || undefined);
  if (url === undefined) {
    const host = env.CLUSTER_REDIS_HOST;
    if (!host) return undefined;
    const port = env.CLUSTER_REDIS_PORT ? Number(env.CLUSTER_REDIS_PORT) : DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push(`CLUSTER_REDIS_PORT: ${showShaped(env.CLUSTER_REDIS_PORT, SHAPES.port)} must be a port number (1 to 65535)`);
      return undefined;
    }
    return { host, port, tls: true };
  }
  const source = options.url !== undefined ? 'url' : 'KCC_REDIS_URL';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push(`${source}: not a URL; expected rediss://host:port`);
    return undefined;
  }
  if (parsed.protocol !== 'rediss:' && parsed.protocol !== 'redis:') {
    problems.push(`${source}: scheme "${parsed.protocol}" must be rediss: (TLS)`);
    return undefined;
  }
  if (parsed.username || parsed.password) {
    problems.push(`${source}: must not carry credentials (user and password in the URL end up in logs and process listings); remove them from the URL and pass them as the username/password options or KCC_REDIS_USERNAME/KCC_REDIS_PASSWORD, e.g. rediss://${parsed.host}`);
    return undefined;
  }
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORT;
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port, tls: parsed.protocol === 'rediss:' };
}
