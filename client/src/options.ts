import type { IamConnectionOptions, RedisAuthMode } from './iam/iam-options.js';
import type { KccLogger } from './logger.js';
import type { PubSubOption } from './pubsub-mode.js';

/** A Redis user name and password. */
export interface RedisCredentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Reads the current credentials. Called at start and again (single-flight, rate-limited) when
 * Redis rejects the ones in use, e.g. after a password rotation.
 */
export type CredentialsProvider = () => Promise<RedisCredentials>;

/**
 * How to reach and authenticate to the stack's Redis. Every field is optional: explicit options win
 * over environment variables, which win over the Secrets Manager secret.
 *
 * | option | environment | from the secret |
 * |---|---|---|
 * | `url` | `KCC_REDIS_URL` (`rediss://host:port`), or `CLUSTER_REDIS_HOST` + `CLUSTER_REDIS_PORT` | — (or discovery by `replicationGroupId`) |
 * | `username` | `KCC_REDIS_USERNAME`, `CLUSTER_REDIS_USERNAME` | `username` |
 * | `password` | `KCC_REDIS_PASSWORD`, `CLUSTER_REDIS_PASSWORD` | `password` |
 * | `keyPrefix` | `KCC_REDIS_PREFIX`, `CLUSTER_REDIS_PREFIX` | `keyPrefix` |
 * | `secretId` | `KCC_REDIS_SECRET_ID` | — |
 * | `replicationGroupId` | `KCC_REDIS_REPLICATION_GROUP_ID` | `replicationGroupId` |
 * | `tls.ca` (PEM text) | — | — |
 * | `tls.caFile` (path to a PEM file) | `KCC_REDIS_CA_FILE` | — |
 * | `auth` | `KCC_REDIS_AUTH` (`password` or `iam`) | — |
 * | `serverless` | `KCC_REDIS_SERVERLESS` (`true` or `false`) | — |
 * | `iam.cacheName` | `KCC_REDIS_IAM_CACHE_NAME` | — (or `replicationGroupId`) |
 */
export interface KccConnectionOptions {
  /** `rediss://host:port`. A `redis://` (plaintext) URL needs `unsafeAllowPlaintext`. */
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  /** Key and channel prefix; must be the user's namespace (`<app>-<env>:`) or inside it. @default derived from the user name */
  readonly keyPrefix?: string;
  /** Secrets Manager secret written by the stack (`{ username, password, keyPrefix, userArn, replicationGroupId }`). */
  readonly secretId?: string;
  /** ElastiCache replication group to discover the endpoint of (primary, or configuration endpoint in cluster mode). */
  readonly replicationGroupId?: string;
  /** AWS region for Secrets Manager and ElastiCache. @default the AWS SDK's resolution (AWS_REGION, profile) */
  readonly region?: string;
  /** Your own credential source (a vault, a test fixture); replaces password and secret. */
  readonly credentialsProvider?: CredentialsProvider;
  /** Redis Cluster mode (ElastiCache cluster mode enabled). @default false, or what discovery finds; true when serverless */
  readonly clusterMode?: boolean;
  /**
   * `'iam'`: authenticate with IAM tokens (an IAM-enabled ElastiCache user; no password), signed
   * for every connection with the AWS SDK; connections are renewed before ElastiCache's 12-hour
   * limit. `username` is the user id; see {@link IamConnectionOptions}. @default 'password'
   */
  readonly auth?: RedisAuthMode;
  /** Settings of `auth: 'iam'`. */
  readonly iam?: IamConnectionOptions;
  /** The cache is ElastiCache Serverless: one endpoint used in cluster mode; IAM tokens name a serverless cache. @default false */
  readonly serverless?: boolean;
  /** TLS settings. ElastiCache's certificates are trusted by Node's default CAs. */
  readonly tls?: {
    /** Extra CA certificate(s) as PEM text (`-----BEGIN CERTIFICATE-----…`), e.g. for a local TLS Redis. For a file, use `caFile`. */
    readonly ca?: string | Buffer;
    /** Path to a PEM file of extra CA certificate(s), e.g. `.kcc-local/tls/ca.crt`. @default KCC_REDIS_CA_FILE */
    readonly caFile?: string;
    /** Server name to verify the certificate against. @default the host */
    readonly servername?: string;
  };
  /**
   * Allow an unencrypted `redis://` connection. For a local Redis on loopback only: passwords and
   * tokens cross the network in clear. Logged as a warning at every start.
   * @default false
   */
  readonly unsafeAllowPlaintext?: boolean;
  /** Identifies this process in pub/sub messages and CLIENT LIST: 1 to 128 printable ASCII characters, no spaces. @default a random UUID */
  readonly instanceId?: string;
  /**
   * Announce this instance in its namespace (a small entry with a TTL: instance id, package version,
   * host, start and last-seen times) so that `kcc-redis status` lists the running instances. Tools
   * that connect without being an app instance set `false`.
   * @default true
   */
  readonly heartbeat?: boolean;
  /** How often the heartbeat entry is rewritten; it expires after three intervals without a write. */
  readonly heartbeatIntervalMs?: number;
  /** Name shown by CLIENT LIST. @default `kcc:<keyPrefix><instanceId>` */
  readonly connectionName?: string;
  /**
   * How long a connection may take to become ready (TLS, AUTH) before `connect` or `dedicated`
   * fails; also how long `run()` retries a command that a server still loading its dataset refuses
   * (`LOADING`). @default 10000
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long a connection may wait for any byte from Redis while a command is unanswered before it
   * is taken as dead: its socket is closed and it reconnects (resolving the endpoint's name again),
   * and the commands in flight are sent again on the new connection. A node that vanishes (a host
   * failure: no reset reaches the client) would otherwise hold every command until the operating
   * system gives up on the socket, about 15 minutes on Linux. The subscriber connection is sent a
   * `PING` this often so that a silent one is found too. Keep it above the slowest command you run
   * yourself, and above the longest the server may stay silent: a Lua script holds every client for
   * up to 5 s before Redis answers others `BUSY` (`lua-time-limit`). 100 to 600000. @default 10000
   */
  readonly socketTimeoutMs?: number;
  /** First reconnect delay; doubles per attempt up to `reconnectMaxDelayMs`, with jitter. */
  readonly reconnectBaseDelayMs?: number;
  readonly reconnectMaxDelayMs?: number;
  /** Minimum time between two credential re-reads triggered by authentication failures. */
  readonly credentialRefreshMinIntervalMs?: number;
  /**
   * Pub/sub in cluster mode: `'auto'` uses sharded pub/sub (SSUBSCRIBE/SPUBLISH on the shard that owns
   * the app-env's slot) where the server has it (Redis OSS 7.0+, Valkey) and classic pub/sub
   * otherwise; `'bridge'` publishes and listens both ways (each message delivered once), for a rolling
   * deploy beside instances on classic pub/sub; `'classic'` never shards. Standalone and replication
   * groups without cluster mode always use classic pub/sub (one shard). See docs/logout-sync.md.
   * @default 'auto' (KCC_REDIS_PUBSUB)
   */
  readonly pubSub?: PubSubOption;
  /**
   * Largest pub/sub message or event-log entry this instance writes, in bytes (16384 to 1048576);
   * a larger write is refused (`KCC_INPUT_INVALID`), and revocation batches are cut to fit. Every
   * instance reads messages up to 1048576 bytes whatever its own setting, so instances with
   * different settings read each other during a rolling change; larger ones are dropped and counted.
   * @default 65536
   */
  readonly maxMessageBytes?: number;
  /** Where warnings go; a pino logger (Fastify's `app.log`) is given each line's context first, as pino takes it. @default warnings to stderr */
  readonly logger?: KccLogger;
  /** Environment to read; for tests. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Defaults of the numeric options, in one object. */
export const CONNECTION_DEFAULTS = {
  connectTimeoutMs: 10_000,
  socketTimeoutMs: 10_000,
  reconnectBaseDelayMs: 50,
  reconnectMaxDelayMs: 5_000,
  credentialRefreshMinIntervalMs: 1_000,
  maxMessageBytes: 64 * 1024,
  heartbeatIntervalMs: 15_000,
} as const;
