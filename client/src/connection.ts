import { EventEmitter, setMaxListeners } from 'node:events';
import { inspect } from 'node:util';
import { isIP } from 'node:net';
import { type ConnectionOptions, type SecureContext, createSecureContext } from 'node:tls';
import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import { isRefused, permanentFailure } from './connect-failure.js';
import { CredentialRefresher } from './credentials.js';
import { Heartbeat, type HeartbeatParts, mergeParts } from './heartbeat.js';
import { ConnectionRenewal, type RenewalOutcome } from './iam/connection-renewal.js';
import { IamAuth, loadIamPeers } from './iam/iam-auth.js';
import { errorLine, redactAuthArguments, redactCommandArguments, redisErrorSummary } from './redis-error-redaction.js';
import { PACED_WARNING_INTERVAL_MS, pacedWarner } from './paced-warning.js';
import { KccAuthError, KccClosedError, KccConnectionError } from './errors.js';
import { SHAPES, requireOptionsObject } from './option-checks.js';
import { namespacedChannel, namespacedKey } from './contract/naming.js';
import type { KccConnectionOptions } from './options.js';
import { type KccRedisConfig, type ResolvedConnection, resolveConnection, userNamed } from './resolve-options.js';
import { type ConnectionRole, type DedicatedRole, MAX_BLOCKING_READ_MS, type RedisClient, type RenewDedicated } from './redis-client.js';
import { SLOT_MOVING_RETRY_MS, refusedForNow } from './refused-for-now.js';
import { ScriptCache } from './script-cache.js';
import { withoutClientInfo } from './cluster-subscriber-connection.js';
import { ClusterTopology } from './cluster-topology.js';
import { ServerClock } from './server-clock.js';
import { socketConnector } from './socket-connector.js';
import { TlsSessions } from './tls-sessions.js';
import { waitAtMost } from './time-limit.js';
import { type MessageListener, Subscriptions } from './subscriptions.js';
import { type PubSubMode, type PublishRoute, decidePubSubMode, publishRoutes } from './pubsub-mode.js';

export type { ConnectionRole, DedicatedRole, RedisClient, RenewDedicated } from './redis-client.js';

/** Events of {@link KccRedis}. There is no `error` event: faults are reported, never thrown at the process. */
export interface KccRedisEvents {
  /** A connection (re)became ready. */
  ready: [role: ConnectionRole];
  /**
   * Cluster mode: a connection to one node became ready, opened by the cluster at start, for a node
   * it had not connected to yet, or again after that node's connection ended (it restarted). The
   * cluster stays ready meanwhile, so `ready` is not emitted for it. A replica the cluster already
   * had a connection to and that becomes a primary in a failover emits nothing.
   */
  'node-ready': [role: ConnectionRole];
  /** A connection was lost and will be retried. */
  reconnecting: [role: ConnectionRole, delayMs: number];
  /** Redis rejected the credentials; `refreshed` tells whether re-reading them produced new ones. */
  'auth-failure': [role: ConnectionRole, refreshed: boolean];
  /** After a subscriber reconnect, every channel is subscribed again: messages flow from here on. */
  resubscribed: [];
}

/** What {@link KccRedis} shows when printed, inspected or serialized: no credential, no connection internals. */
export interface KccRedisSummary {
  /** The endpoint connected to. */
  readonly host: string;
  readonly port: number;
  readonly clusterMode: boolean;
  /** This app-env's key prefix (`<app>-<env>:`). */
  readonly keyPrefix: string;
  /** The Redis user (never its password or token). */
  readonly username: string;
  /** How the user authenticates. */
  readonly auth: 'password' | 'iam';
  readonly instanceId: string;
  /** Whether {@link KccRedis.close} was called. */
  readonly closed: boolean;
  readonly stats: ConnectionStats;
}

/** Counters for diagnostics. */
export interface ConnectionStats {
  /** Reconnect attempts of any of this object's connections. */
  readonly reconnects: number;
  /** Connections closed because a command got no byte back within `socketTimeoutMs` (a node that vanished, or a stalled process); each then reconnects. */
  readonly socketTimeouts: number;
  /**
   * Connections (and reconnects) whose TLS handshake resumed the session of an earlier one to the
   * same endpoint (in cluster mode, the same node), skipping the certificate exchange (0 without
   * TLS, or with a server that issues no session tickets).
   */
  readonly tlsResumptions: number;
  /** Authentication failures (WRONGPASS/NOAUTH); failures seen at once by several connections or commands count once. */
  readonly authFailures: number;
  /** Times the credentials changed after a re-read (e.g. a rotated password picked up). */
  readonly credentialRefreshes: number;
  /** Connections replaced before the server's age limit (IAM: 12 hours). */
  readonly renewals: number;
  /** Attempts to replace a connection before that limit that failed (each is retried; the old one keeps serving). */
  readonly renewalFailures: number;
  /** Heartbeat entries written (0 with `heartbeat: false`). */
  readonly heartbeatsWritten: number;
  /** Heartbeat writes that failed (each is retried at the next interval). */
  readonly heartbeatFailures: number;
}

const MAX_AUTH_ATTEMPTS = 5;
/** How soon {@link KccRedis.run} first retries a command the server refused for now (LOADING, TRYAGAIN). */
const NOT_NOW_RETRY_MS = 100;
/** The longest wait between retries of a command refused with LOADING. */
const LOADING_RETRY_MAX_MS = 1_000;

/**
 * The wait before retry `tries` (from 1) of a command refused for now. A slot moving (TRYAGAIN, a
 * redirection) ends within moments: every {@link NOT_NOW_RETRY_MS}. A load takes seconds, and a whole
 * fleet's commands wait on it: doubling up to {@link LOADING_RETRY_MAX_MS}, each wait drawn between
 * half and all of it, so that the retries of hundreds of instances spread out (a server-load review:
 * every pending command of every instance retried every 100 ms, in step).
 * @internal
 */
export function notNowDelay(reason: keyof typeof NOT_NOW_REASONS, tries: number, random: () => number = Math.random): number {
  if (reason !== 'LOADING') return NOT_NOW_RETRY_MS;
  const ceiling = Math.min(NOT_NOW_RETRY_MS * 2 ** Math.min(tries - 1, 10), LOADING_RETRY_MAX_MS);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
/**
 * How often a cluster's topology is read (CLUSTER SLOTS, on a connection already open): sharded
 * subscriptions follow a moved slot, and commands leave a primary that froze (a host failure: no
 * reset, no MOVED) once its replica is promoted, instead of waiting out the socket timeout and
 * reconnecting to the frozen node while the topology they last read still names it. A read on an
 * open connection costs the server one small command, so it can run more often than ioredis' own
 * (a new connection each) did at 5 s on each of two connections.
 */
const TOPOLOGY_READ_MS = 1_000;

function withoutNodeLifecycle(options: RedisOptions): Omit<RedisOptions, 'retryStrategy' | 'lazyConnect'> {
  const { retryStrategy: _retry, lazyConnect: _lazy, ...rest } = options;
  return rest;
}

const NOT_NOW_REASONS = {
  LOADING: 'was still loading its dataset (LOADING)',
  SLOT_MOVING: 'was still moving the app-env\'s slot (redirections: online resharding or a failover)',
} as const;

/** ioredis closed the socket: no byte came back within its `socketTimeout` while a command waited. */
function isSocketTimeout(error: Error): boolean {
  return error.message.startsWith('Socket timeout. Expecting data');
}

/** How many reconnects a command waits through before it is rejected (ioredis' maxRetriesPerRequest, the command connection). */
const COMMAND_RETRIES = 20;

/**
 * How long after it was sent a command whose reply was lost may run again on a new connection
 * (ioredis sends what was in flight again), for the nonces that let it answer for its first run:
 * its socket timeout, the reconnects it waits through before it is rejected (each at most a connect
 * timeout and the longest backoff), and a minute for the rest (an IAM token signed, a password
 * re-read). About 6 minutes with the defaults. Not a hard bound: ioredis counts the reconnects
 * afresh after each connection that came up, so a command can outlast it on a connection that
 * keeps failing after it is ready.
 */
export function resendWindowMs(config: Pick<ResolvedConnection, 'socketTimeoutMs' | 'connectTimeoutMs' | 'reconnectMaxDelayMs'>): number {
  return config.socketTimeoutMs + COMMAND_RETRIES * (config.connectTimeoutMs + config.reconnectMaxDelayMs) + 60_000;
}

/**
 * How many times a write refused with READONLY is sent again, each after a reconnect (without
 * cluster mode): past them it is rejected ({@link KccConnectionError}) instead of waiting out the
 * whole DNS lag. With the backoff between them (about 1.6 to 3.2 s of it with the default delays),
 * under Keycloak's 5 s wait for a back-channel logout's answer.
 * @internal
 */
export const READONLY_RESENDS = 6;

/**
 * Where the server refuses INFO, a READONLY this long after the last one starts a new streak: longer
 * than the longest backoff between READONLY reconnects (reconnectMaxDelayMs, 5 s by default), so a
 * streak under way is never taken for a new one.
 * @internal
 */
export const READONLY_QUIET_MS = 60_000;

/** A write refused because the server is a read-only replica: `-READONLY You can't write against a read only replica`. */
function isReadonly(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('READONLY');
}

/**
 * The READONLY answers of one connection without cluster mode. After a failover the old primary,
 * demoted to a replica, stays up, and the primary endpoint may still resolve to it for 6 to 30 s
 * (a DNS cache, https://repost.aws/knowledge-center/elasticache-correct-readonly-error): every
 * reconnect lands on it again. ioredis counts reconnects afresh each time a connection is ready, so
 * its backoff stayed at the first delay for the whole lag (16 to 19 new TLS connections a second),
 * and a write was sent again at every reconnect until the endpoint moved (a failover review).
 *
 * Here the reconnects a READONLY caused are counted until the connection reaches a node that is not
 * a replica (INFO replication, asked once it is ready again). The first {@link READONLY_RESENDS}
 * wait out a backoff that grows with them, and the writes are sent again after each. From then on
 * the connection stays on the replica, which serves reads (the polls that keep the revocation state
 * fresh), for as long as the backoff of the next one: a write refused meanwhile is rejected at once;
 * the first one refused after that reconnects (at the first delay: the wait is spent connected) and
 * is sent again.
 */
class ReadonlyStreak {
  /** Reconnects in a row a READONLY caused, since the connection last reached a node that is not a replica. */
  private reconnects = 0;
  /** A READONLY is closing the connection: counted when ioredis asks for the reconnect's delay. */
  private closing = false;
  /** Past {@link READONLY_RESENDS}: no reconnect for READONLY before this (performance.now(), ms). */
  private stayUntil = 0;
  private probing = false;
  /** The server refused INFO (an access string without it): the streak ends after a quiet spell instead. */
  private cannotProbe = false;
  /** performance.now() of the last READONLY. */
  private lastReadonlyAt = 0;

  constructor(
    /** The backoff's delay (jittered) for a reconnect numbered `attempt`. */
    private readonly delay: (attempt: number) => number,
    private readonly said: { started(): void; ended(reconnects: number): void },
  ) {}

  /** ioredis' `reconnectOnError`: 2 reconnects and sends the command again, false rejects it and stays. */
  onError(error: Error): false | 2 {
    if (!isReadonly(error)) return false;
    const now = performance.now();
    // Without INFO the streak cannot see a primary: a READONLY after a quiet spell starts a new one.
    if (this.cannotProbe && this.reconnects > 0 && now - this.lastReadonlyAt > READONLY_QUIET_MS) {
      this.reconnects = 0; // not said as "reaches a primary": nothing showed one
      this.stayUntil = 0;
    }
    this.lastReadonlyAt = now;
    if (this.closing) return 2; // answered on a connection a READONLY is already closing: sent again with the rest
    if (this.reconnects >= READONLY_RESENDS && performance.now() < this.stayUntil) return false;
    this.closing = true;
    return 2;
  }

  /** The attempt number for the backoff of a reconnect ioredis numbered `times`. */
  attempt(times: number): number {
    if (!this.closing) return times;
    this.closing = false;
    if (++this.reconnects === 1) this.said.started();
    return this.reconnects <= READONLY_RESENDS ? Math.max(times, this.reconnects) : times;
  }

  /** The connection is ready again: after READONLY reconnects, asks the server whether it is still a replica. */
  onReady(client: Redis): void {
    if (this.reconnects === 0) return;
    if (this.reconnects >= READONLY_RESENDS) this.stayUntil = performance.now() + this.delay(this.reconnects + 1);
    if (this.probing || this.cannotProbe) return;
    this.probing = true;
    client.info('replication').then(
      (info) => {
        if (!/^role:(slave|replica)\s*$/m.test(info)) this.end();
      },
      (error: unknown) => {
        // Refused (an access string without INFO): it cannot tell. Ending the streak here would start
        // it afresh at every reconnect, the storm back (a review of the first version); it ends after
        // a quiet spell instead (onError). A connection that closed first leaves it to the next ready.
        if (error instanceof Error && error.name === 'ReplyError') this.cannotProbe = true;
      },
    ).finally(() => {
      this.probing = false;
    });
  }

  private end(): void {
    if (this.reconnects === 0) return;
    const reconnects = this.reconnects;
    this.reconnects = 0;
    this.stayUntil = 0;
    this.said.ended(reconnects);
  }
}

/** WRONGPASS / NOAUTH: the credentials in use are not (or no longer) accepted. */
export function isAuthError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return message.startsWith('WRONGPASS') || message.startsWith('NOAUTH');
}

/**
 * The client's connection to the stack's Redis: TLS, its own ACL user, its own key prefix, and the
 * self-healing the upstream connector lacked: reconnect with backoff and jitter; reconnect on
 * error only for READONLY (a failover), never for NOPERM or script errors; on WRONGPASS/NOAUTH,
 * re-read the credentials once for every connection and re-authenticate.
 *
 * @example
 * const redis = await KccRedis.connect({ secretId: 'arn:aws:secretsmanager:…', replicationGroupId: 'kcc-redis' });
 * await redis.run((r) => r.set(redis.key('greeting'), 'hi'));
 * await redis.close();
 */
export class KccRedis extends EventEmitter<KccRedisEvents> {
  /** The resolved configuration, without credentials (they live only in the refresher, never in a dump of this object). */
  readonly config: KccRedisConfig;
  private readonly counters = { reconnects: 0, socketTimeouts: 0, authFailures: 0, renewals: 0 };
  /** The latest error a connection reported after it had been ready (a refused connect, DNS, TLS), as a log line. */
  private lastConnectionError: string | undefined;
  /** Roles that have been ready once: a failure before that is the connect's to report, not the outage warning's. */
  private readonly everReady = new Set<ConnectionRole>();
  /**
   * Per connection (a role, and in cluster mode a node): the outage under way (since when, and whether
   * it was said) and when one was last said. A failure is said at most once a minute, its end only
   * when the failure was said: a connection that fails and recovers over and over says so once a
   * minute, not at every turn (an attack review: 8 cut-and-heal cycles in 2 s gave 16 warnings).
   */
  private readonly outages = new Map<string, { since: number | undefined; said: boolean; saidAt: number }>();
  /** Warnings of something that repeats (a refused login at every reconnect), said at most once a minute. */
  private readonly warnPaced: ReturnType<typeof pacedWarner>;
  /** Times the command connection became ready, or opened a connection to a cluster node: each may reach another server process ({@link watchServer}). */
  private commandConnects = 0;
  private readonly credentials: CredentialRefresher;
  private readonly clients = new Map<RedisClient, ConnectionRole>();
  /** Dedicated connections opened by `connect`'s prewarm, handed over by {@link dedicated} once ready. */
  private readonly warm = new Map<DedicatedRole, WarmConnection[]>();
  private readonly scripts = new ScriptCache();
  private readonly subscriptions: Subscriptions;
  /** IAM: token signing, and the renewal of connections before ElastiCache closes them at 12 hours. */
  private readonly iam: IamAuth | undefined;
  private readonly renewal: ConnectionRenewal<RedisClient> | undefined;
  private readonly renewHooks = new Map<RedisClient, RenewDedicated>();
  /** Dedicated connections a {@link dedicated} call is waiting on: their renewal waits for the handover. */
  private readonly claiming = new Set<RedisClient>();
  private commandClient: RedisClient | undefined;
  private secureContext: SecureContext | undefined;
  /** The TLS sessions this instance's connections resume, one per endpoint (cluster node); with TLS only. */
  private readonly tlsSessions: TlsSessions | undefined;
  /** ioredis' `Connector` for TLS without IAM (every node's connections in cluster mode): opens sockets through {@link tlsSessions}. */
  private readonly resumingConnector: ReturnType<typeof socketConnector> | undefined;
  private pubSubDecision: Promise<PubSubMode> | undefined;
  private heartbeat: Heartbeat | undefined;
  /** What the components on this connection add to its heartbeat entry ({@link reportInHeartbeat}). */
  private readonly heartbeatReports = new Set<() => HeartbeatParts>();
  /** Cluster mode: the periodic topology read of the command and subscriber connections. */
  private topology: ClusterTopology | undefined;
  /**
   * The server's clock as this instance estimates it, for times given to scripts (which must not call
   * `TIME` themselves: ElastiCache Serverless refuses that).
   * @internal
   */
  readonly serverClock: ServerClock;
  private closed = false;
  private closeRun: Promise<void> | undefined;
  /** What runs on this connection (a KeyRing, Revocations) and closes first, with how long its close may take: {@link beforeClose}. */
  private readonly closeFirst = new Map<() => Promise<unknown>, number>();
  /** Waits under way for Redis (a close still writing, a key ring catching up after a freeze): the command connection reconnects quicker meanwhile ({@link hurryReconnects}). */
  private hurried = 0;
  /** Connections replaced by a renewal, finishing what they hold before they quit: {@link close} waits for them, briefly. */
  private readonly retiring = new Set<Promise<void>>();
  /** Aborted by {@link close}: ends the waits for connections still connecting, shortens those of {@link retiring} ones. */
  private readonly closing = new AbortController();

  /**
   * Resolves the config (options, environment, secret, discovery), connects, and resolves as soon
   * as commands can be sent. `prewarm` opens dedicated connections (e.g. `['reader']` for a key ring
   * or revocation tail) beside the command connection: start-up pays for the TLS handshakes side by
   * side, and a caller's first reads (a key ring's, the revocation log's position) run while the
   * prewarmed ones are still in their handshakes. {@link dedicated} hands each over once it is
   * ready, or rejects with why it could not connect; one that failed before anyone asked for it is
   * logged, and the next {@link dedicated} opens a new one.
   */
  static async connect(options: KccConnectionOptions = {}, prewarm: readonly DedicatedRole[] = []): Promise<KccRedis> {
    requireOptionsObject(options, 'KccRedis.connect options', "KccRedis.connect({ url: 'rediss://host:6379' })");
    const config = await resolveConnection(options);
    if (config.iam) await loadIamPeers(config.iam);
    const redis = new KccRedis(config);
    const commands = redis.client; // opened first: its handshake is the one connect waits for
    for (const role of prewarm) {
      const client = redis.open(role);
      const abort = new AbortController();
      const warm: WarmConnection = { client, abort, opening: redis.settleDedicated(client, role, abort.signal), claimed: false, failed: false };
      // Claimed: its caller gets the error. Unclaimed: said here, and the next dedicated() opens a new
      // connection rather than hand over an old failure. Nothing may escape as unhandled.
      warm.opening.catch((error: unknown) => {
        warm.failed = true;
        if (warm.claimed || redis.closed || abort.signal.aborted) return;
        redis.config.logger.warn(`prewarmed ${role} connection failed; the next dedicated('${role}') opens a new one`, { error: error instanceof Error ? error.message : String(error) });
      });
      redis.warm.set(role, [...(redis.warm.get(role) ?? []), warm]);
    }
    try {
      await redis.ready(commands, 'commands');
    } catch (error) {
      await redis.close();
      throw error;
    }
    const { heartbeat, heartbeatIntervalMs: intervalMs, logger } = redis.config;
    if (heartbeat) redis.heartbeat = Heartbeat.start(redis, { intervalMs, logger, parts: () => redis.heartbeatParts() });
    return redis;
  }

  private constructor(config: ResolvedConnection) {
    super();
    setMaxListeners(0, this.closing.signal); // one listener per connection still connecting, however many
    const { credentials, refreshCredentials, ...rest } = config;
    this.config = rest;
    this.warnPaced = pacedWarner(config.logger);
    this.credentials = new CredentialRefresher(credentials, refreshCredentials, config.credentialRefreshMinIntervalMs);
    this.serverClock = new ServerClock(this, config.logger);
    this.tlsSessions = config.tls ? new TlsSessions() : undefined;
    // With IAM, the token-signing connector opens the sockets, through the same TLS opener.
    this.resumingConnector = this.tlsSessions && !config.iam ? socketConnector({ openTls: this.tlsSessions.open }) : undefined;
    this.subscriptions = new Subscriptions({
      openConnection: (onRenew) => this.dedicated('subscriber', onRenew),
      mode: () => this.pubSubMode(),
      keyPrefix: config.keyPrefix,
      logger: config.logger,
      onResubscribed: () => this.emit('resubscribed'),
      pingIntervalMs: config.socketTimeoutMs,
      onPingUnanswered: (node) => this.onSocketTimeout('subscriber', node),
    });
    if (config.iam) {
      const { maxConnectionAgeMs: maxAgeMs, now, checkIntervalMs } = config.iam;
      this.iam = new IamAuth(config.iam, config.logger, this.tlsSessions?.open);
      this.renewal = new ConnectionRenewal({ maxAgeMs, now, checkIntervalMs, logger: config.logger }, (client) => this.renew(client));
    }
  }

  /** Counters for diagnostics (a snapshot). */
  get stats(): ConnectionStats {
    return {
      ...this.counters,
      tlsResumptions: this.tlsSessions?.resumed ?? 0,
      credentialRefreshes: this.credentials.version,
      renewalFailures: this.renewal?.failed ?? 0,
      heartbeatsWritten: this.heartbeat?.written ?? 0,
      heartbeatFailures: this.heartbeat?.failed ?? 0,
    };
  }

  /** This app-env's key prefix (`<app>-<env>:`). */
  get keyPrefix(): string {
    return this.config.keyPrefix;
  }

  /** Identifies this process in messages and CLIENT LIST. */
  get instanceId(): string {
    return this.config.instanceId;
  }

  /** The Redis user this connection authenticates as. */
  get username(): string {
    return this.credentials.credentials.username;
  }

  /** The command connection. Prefer {@link run}, which survives a password rotation. */
  get client(): RedisClient {
    this.assertOpen();
    this.commandClient ??= this.open('commands');
    return this.commandClient;
  }

  /**
   * For a read whose state lives in one server process (a SCAN cursor): a function that tells
   * whether the process answering for `key` on the command connection may have changed since this
   * call. It may have when the command connection became ready again (a restart, a failover behind
   * the endpoint, a renewal) or, in cluster mode, opened a connection to a node, or found `key`'s
   * slot on another primary (a failover to a replica it was already connected to, a moved slot).
   * @internal
   */
  watchServer(key: string): () => boolean {
    const connects = this.commandConnects;
    const slot = this.config.clusterMode ? new Command('exists', [key]).getSlot() : undefined;
    const owner = () => (slot !== undefined && this.commandClient instanceof Cluster ? this.commandClient.slots[slot]?.[0] : undefined);
    const ownerAtStart = owner();
    return () => this.commandConnects !== connects || owner() !== ownerAtStart;
  }

  /** A key in this app-env's namespace, with its hash tag: `<prefix>{<app>-<env>}:<name>`. */
  key(name: string): string {
    return namespacedKey(this.config.keyPrefix, name);
  }

  /** A pub/sub channel in this app-env's namespace: `<prefix><name>`. */
  channel(name: string): string {
    return namespacedChannel(this.config.keyPrefix, name);
  }

  /**
   * Runs commands on the command connection. A command rejected because the credentials were
   * rotated is retried after the credentials are re-read (a few times, bounded). One the server
   * refused for now without running it is retried ({@link notNowDelay}): LOADING after a
   * restart for up to `connectTimeoutMs`; in cluster mode, redirections past ioredis's own retries
   * while the slot moves, for {@link SLOT_MOVING_RETRY_MS} more. Any other error is thrown as is.
   */
  async run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T> {
    let authAttempts = 0;
    let refusedSince: number | undefined;
    let refusals = 0;
    for (;;) {
      const generation = this.credentials.version;
      try {
        return await operation(this.client);
      } catch (error) {
        const notNow = refusedForNow(error);
        if (notNow) {
          refusedSince ??= performance.now();
          const limitMs = notNow === 'LOADING' ? this.config.connectTimeoutMs : Math.min(SLOT_MOVING_RETRY_MS, this.config.connectTimeoutMs);
          if (performance.now() - refusedSince >= limitMs) {
            throw new KccConnectionError(
              `Redis at ${this.config.host}:${this.config.port} ${NOT_NOW_REASONS[notNow]} after ${limitMs} ms${notNow === 'LOADING' ? ' (connectTimeoutMs)' : ''}; the command was not run: retry it later`,
              { cause: redisErrorSummary(error) },
            );
          }
          // Not past the limit: the last wait ends at it, and the error then says so.
          const left = limitMs - (performance.now() - refusedSince);
          await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(notNowDelay(notNow, ++refusals), left))));
          continue;
        }
        if (isReadonly(error)) {
          throw new KccConnectionError(
            `Redis at ${this.config.host}:${this.config.port} answered READONLY, also after ${READONLY_RESENDS} reconnects: it is a read-only replica, not the primary ` +
              '(after a failover, the primary endpoint may resolve to the old primary for a while); the command was not run: retry it later',
            { cause: redisErrorSummary(error) },
          );
        }
        if (!isAuthError(error) || ++authAttempts >= MAX_AUTH_ATTEMPTS) throw this.describe(error);
        authAttempts = await this.rereadForCommand(error, generation, authAttempts);
      }
    }
  }

  /**
   * {@link run}'s re-read after Redis refused the credentials, unless another connection already
   * re-read them since `generation`. A read that fails (throttled, a network blip) costs one of the
   * command's attempts and is tried again, no sooner than the refresher's minimum interval; when the
   * attempts run out, the auth error names the read's failure. Returns the attempts used.
   */
  private async rereadForCommand(rejection: unknown, generation: number, attempts: number): Promise<number> {
    while (this.credentials.version === generation) {
      try {
        await this.refreshCredentials('commands');
        return attempts;
      } catch (readError) {
        if (++attempts >= MAX_AUTH_ATTEMPTS) throw this.describe(rejection, readError);
      }
    }
    return attempts;
  }

  /**
   * Runs a Lua script by its SHA1 (EVALSHA), loading it with EVAL only when the server does not have
   * it yet (NOSCRIPT: first use, or after a restart or failover). Every key must be in `keys`.
   */
  script<T = unknown>(lua: string, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<T> {
    return this.run((client) => this.scripts.run<T>(client, lua, keys, args));
  }

  /**
   * Listens to a channel (give a full channel name: {@link channel}) on this connection's one
   * subscriber connection; resolves once messages flow. Returns the function that stops listening.
   * At most once: a message published while the subscriber reconnects is lost (the `resubscribed`
   * event says when messages flow again).
   */
  subscribe(channel: string, listener: MessageListener): Promise<() => Promise<void>> {
    this.assertOpen();
    return this.subscriptions.add(channel, listener);
  }

  /**
   * Publishes `message` on `channel` (a full channel name: {@link channel}) the way this connection's
   * pub/sub mode says ({@link pubSubMode}); resolves with the number of subscriptions that received it.
   */
  async publish(channel: string, message: string): Promise<number> {
    const routes = await this.publishRoutes(channel);
    const counts = await Promise.all(
      routes.map((route) => this.run((r) => (route.command === 'SPUBLISH' ? r.spublish(route.channel, message).then(Number) : r.publish(route.channel, message)))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Where a message of `channel` is published (command and channel name, in order): for scripts that publish what they write. */
  async publishRoutes(channel: string): Promise<readonly PublishRoute[]> {
    return publishRoutes(await this.pubSubMode(), this.config.keyPrefix, channel);
  }

  /**
   * The pub/sub this connection uses, decided once (option `pubSub`): `sharded` (SSUBSCRIBE/SPUBLISH
   * on the shard that owns the namespace's slot) in cluster mode where the server has it, `classic`
   * otherwise, `bridge` (both) when asked for during a rolling deploy.
   */
  pubSubMode(): Promise<PubSubMode> {
    this.pubSubDecision ??= decidePubSubMode({
      option: this.config.pubSub,
      clusterMode: this.config.clusterMode,
      keyPrefix: this.config.keyPrefix,
      logger: this.config.logger,
      spublish: (channel, message) => this.run((r) => r.spublish(channel, message).then(Number)),
    }).catch((error: unknown) => {
      this.pubSubDecision = undefined;
      throw error;
    });
    return this.pubSubDecision;
  }

  /** Whether the subscriber connection is up (false before the first {@link subscribe} or {@link openSubscriber}). */
  get subscriberReady(): boolean {
    return this.subscriptions.ready;
  }

  /** Opens the subscriber connection now rather than on the first {@link subscribe}; resolves once it is ready. */
  async openSubscriber(): Promise<void> {
    this.assertOpen();
    await this.subscriptions.open();
  }

  /**
   * Opens a dedicated connection (for SUBSCRIBE or blocking reads) that shares this connection's
   * credentials, TLS and recovery, and is closed by {@link close}. Resolves when it is ready.
   * With `onRenew`, the connection is replaced before the server's age limit (IAM: 12 hours):
   * `onRenew` moves the work to the new one before the old one closes. Without it, the server
   * closes the connection at that limit and it reconnects by itself (a short gap).
   */
  async dedicated(role: DedicatedRole, onRenew?: RenewDedicated): Promise<RedisClient> {
    this.assertOpen();
    let warm = this.warm.get(role)?.shift();
    while (warm?.failed) warm = this.warm.get(role)?.shift();
    if (warm) warm.claimed = true;
    const client = warm ? warm.client : this.open(role);
    this.claiming.add(client);
    try {
      await (warm ? warm.opening : this.settleDedicated(client, role));
    } finally {
      this.claiming.delete(client);
    }
    this.assertOpen();
    if (onRenew) this.renewHooks.set(client, onRenew);
    return client;
  }

  /**
   * Closes a connection {@link dedicated} handed out, whose work has ended (a stopped log tail), and
   * forgets it and its renewal: kept, the renewal hook held that work until this object closed.
   * @internal
   */
  releaseDedicated(client: RedisClient): void {
    this.clients.delete(client);
    this.renewHooks.delete(client);
    this.renewal?.forget(client);
    client.disconnect();
  }

  /** Resolves with `client` once it is ready; closes it and forgets it when it cannot be (or `signal` aborts the wait). */
  private async settleDedicated(client: RedisClient, role: ConnectionRole, signal?: AbortSignal): Promise<RedisClient> {
    try {
      await this.ready(client, role, signal);
    } catch (error) {
      this.clients.delete(client);
      this.renewal?.forget(client);
      client.disconnect();
      throw error;
    }
    return client;
  }

  /**
   * Closes every connection this object opened, after closing what runs on it (a KeyRing or
   * Revocations not closed yet finish their work in flight first: a KeyRing 2 s at most, Revocations
   * their `closeTimeoutMs` + 2 s), whichever the app closes first. Every call returns the same close.
   */
  close(): Promise<void> {
    this.closeRun ??= this.closeOnce();
    return this.closeRun;
  }

  /**
   * Runs `close` at the start of {@link close}, while the connections are still open: a component on
   * this connection releases its locks and writes what it holds even when the app closes the
   * connection before it. Returns the function that removes it (the component's own close).
   * `closesWithinMs` is the longest its close takes (its own bound): {@link close} waits for the
   * longest of them and a second more, {@link BEFORE_CLOSE_WAIT_MS} at least.
   * Throws KccClosedError once {@link close} was called: nothing starts on a closing connection.
   * @internal
   */
  beforeClose(close: () => Promise<unknown>, closesWithinMs = 0): () => void {
    // Closing or closed: nothing may start on it (a KeyRing or Revocations would run on a closed connection).
    if (this.closeRun) throw new KccClosedError('connection is closed');
    this.closeFirst.set(close, closesWithinMs);
    return () => this.closeFirst.delete(close);
  }

  /**
   * Adds what `report` says to this instance's heartbeat entry at each beat (a KeyRing's or
   * Revocations' state, for `kcc-redis status`); several of a kind are merged ({@link mergeParts}).
   * Returns the function that removes it (the component's own close).
   * @internal
   */
  reportInHeartbeat(report: () => HeartbeatParts): () => void {
    this.heartbeatReports.add(report);
    return () => this.heartbeatReports.delete(report);
  }

  /** What the components report, merged; one whose report throws is left out (the beat, and the instance's listing, must not fail for it). */
  private heartbeatParts(): HeartbeatParts {
    return mergeParts([...this.heartbeatReports].flatMap((report) => {
      try {
        return [report()];
      } catch {
        return [];
      }
    }));
  }

  /**
   * While a close under way is still writing what Redis has not confirmed (Revocations), or a key ring
   * catches up after a freeze (at most 4 s), the command connection reconnects at most
   * {@link HURRIED_RECONNECT_DELAY_MS} apart instead of backing off up to `reconnectMaxDelayMs` (5 s):
   * Redis back after a failover, or a connection closed during a freeze, is then used within that
   * wait. Returns the function that ends it. Nothing once this connection is closed.
   * @internal
   */
  hurryReconnects(): () => void {
    if (this.closed) return () => undefined;
    this.hurried++;
    // A reconnect already scheduled at the full backoff would run out the close's deadline: now, once
    // ioredis' timer for it is cleared (ioredis keeps it in `reconnectTimeout`, which disconnect()
    // clears). Left running, that timer was orphaned when the early attempt failed and ioredis
    // scheduled the next, and it reopened the connection after close() (a review of 48963bd). Where
    // the timer is not found (another ioredis), nothing is hurried. A cluster schedules its own.
    const commands = this.commandClient;
    const pending = commands as { reconnectTimeout?: ReturnType<typeof setTimeout> | null } | undefined;
    if (commands instanceof Redis && commands.status === 'reconnecting' && pending?.reconnectTimeout) {
      clearTimeout(pending.reconnectTimeout);
      pending.reconnectTimeout = null;
      commands.connect().catch(() => undefined);
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.hurried--;
    };
  }

  private async closeOnce(): Promise<void> {
    const waitMs = Math.max(BEFORE_CLOSE_WAIT_MS, ...[...this.closeFirst.values()].map((ms) => ms + BEFORE_CLOSE_MARGIN_MS));
    if (!(await waitAtMost(Promise.allSettled([...this.closeFirst.keys()].map((close) => close())), waitMs))) {
      this.config.logger.warn(`closing the connections with a key ring or revocations on them still closing after ${waitMs} ms (Redis slow or out of reach): what they had not written is lost, a lock they held stays until it expires`);
    }
    this.closeFirst.clear();
    // The instance's heartbeat entry is removed while the connection is still open (bounded to 1 s).
    await this.heartbeat?.stop();
    this.closed = true;
    this.closing.abort();
    this.subscriptions.close();
    this.topology?.stop();
    this.tlsSessions?.close();
    this.renewal?.stop();
    this.iam?.close();
    const clients = [...this.clients.keys()];
    this.clients.clear();
    this.renewHooks.clear();
    await Promise.all([...clients.map((client) => retire(client, CLOSE_QUIT_TIMEOUT_MS, closedWhileWaiting)), ...this.retiring]);
  }

  /**
   * Replaces `old` by a new connection of its role that is ready before `old` closes: commands go
   * to the new one from then on (those in flight on `old`, or queued on it for its reconnect, finish
   * before its QUIT, within {@link RENEWAL_QUIT_TIMEOUT_MS}), a dedicated connection's owner moves
   * its work over. Resolves false when `old` needs no renewal, and
   * `'later'` while it is still being handed over: claimed by {@link dedicated} and not ready yet,
   * or itself the successor of a renewal still under way (its owner's hook running).
   */
  private async renew(old: RedisClient): Promise<RenewalOutcome> {
    const role = this.clients.get(old);
    const hook = this.renewHooks.get(old);
    if (this.closed || role === undefined || old.status === 'end') return false;
    // Still being handed over (a dedicated() claim, or a renewal's successor): asked again later.
    if (this.claiming.has(old)) return 'later';
    if (role !== 'commands' && hook === undefined) {
      this.discardIfUnclaimed(role, old);
      return false;
    }
    // The stand-by token too (for connections ioredis opens by itself, e.g. a cluster's subscriber) is fresh before the successor connects.
    await this.iam?.tokens.refresh();
    const successor = this.open(role);
    this.claiming.add(successor);
    try {
      return await this.handOver(old, role, hook, successor);
    } finally {
      this.claiming.delete(successor);
    }
  }

  /** The rest of {@link renew}, once `successor` is opened: ready, then in use, then `old` closed. */
  private async handOver(old: RedisClient, role: ConnectionRole, hook: RenewDedicated | undefined, successor: RedisClient): Promise<RenewalOutcome> {
    let next: RedisClient;
    try {
      next = await this.settleDedicated(successor, role);
    } catch (error) {
      // Closed meanwhile, or `old` released by its owner (a stopped tail): nothing to renew, no failure.
      if (this.closed || !this.clients.has(old)) return false;
      throw error;
    }
    try {
      if (this.closed) throw new KccClosedError('connection is closed');
      if (hook) await hook(next);
      else this.commandClient = next;
    } catch (error) {
      this.clients.delete(next);
      this.renewal?.forget(next);
      next.disconnect();
      // The owner stopped using the connection (a stopped tail, a closed provider): nothing to renew.
      if (error instanceof KccClosedError) {
        this.renewHooks.delete(old);
        return false;
      }
      throw error;
    }
    if (hook) {
      this.renewHooks.delete(old);
      // Not when the owner released `next` right after taking it (a tail stopped in the meantime): the hook would hold it again.
      if (this.clients.has(next)) this.renewHooks.set(next, hook);
    }
    this.clients.delete(old);
    this.counters.renewals++;
    this.config.logger.info('Redis connection renewed before its age limit', { role });
    const stranded = () =>
      this.closed
        ? closedWhileWaiting()
        : new KccConnectionError(`the ${role} connection was renewed while the command waited for it to reconnect, and it had not reconnected within ${RENEWAL_QUIT_TIMEOUT_MS / 60_000} minutes; the command was not answered: retry it`);
    const retiring = retire(old, RENEWAL_QUIT_TIMEOUT_MS, stranded, this.closing.signal, true);
    this.retiring.add(retiring);
    try {
      await retiring;
    } finally {
      this.retiring.delete(retiring);
    }
    return true;
  }

  /**
   * A prewarmed connection nobody has claimed by its renewal point (ready, or still connecting) is
   * closed: handed over later, it would be past that point with no renewal to come, and the server
   * would close it at its age limit. The next {@link dedicated} of its role opens a new one, whose
   * age counts from then. Nothing runs on an unclaimed connection: it is simply disconnected.
   */
  private discardIfUnclaimed(role: DedicatedRole, client: RedisClient): void {
    const list = this.warm.get(role);
    const index = list?.findIndex((warm) => warm.client === client) ?? -1;
    if (index < 0) return;
    const [warm] = list!.splice(index, 1);
    warm!.abort.abort(); // a wait still connecting ends now, unlogged (nobody asked for it)
    this.clients.delete(client);
    client.disconnect();
  }

  private assertOpen(): void {
    if (this.closed) throw new KccClosedError('connection is closed');
  }

  private open(role: ConnectionRole): RedisClient {
    const { config } = this;
    const { username } = this.credentials.credentials;
    // Without cluster mode only: a cluster follows a failover by its topology (MOVED), per node.
    const readonly = config.clusterMode ? undefined : this.readonlyStreak(role);
    const options: RedisOptions = {
      ...(this.iam ? this.iam.redisOptions() : { username, password: this.credentials.password as unknown as string, ...(this.resumingConnector && { Connector: this.resumingConnector }) }),
      // One TLS context (the trusted CA parsed once) for all of this instance's connections: parsing
      // it per connection costs about 0.5 ms of CPU each at start-up.
      tls: config.tls ? this.tlsOptions(config.tls) : undefined,
      connectionName: `${config.connectionName}:${role}`,
      // RESP2: the reply shapes this client parses (XREAD, HMGET) are the documented ones; RESP3 adds nothing we use.
      protocol: 2,
      disableClientInfo: true, // CLIENT SETINFO is outside the ACL (only CLIENT SETNAME is allowed)
      connectTimeout: config.connectTimeoutMs,
      // A node that vanished (no reset reaches us) would hold every command until TCP gives up,
      // about 15 minutes: no byte for this long while a command waits closes the socket, and the
      // connection reconnects (resolving the endpoint again) and sends what was in flight again.
      // A reader's blocking read waits up to MAX_BLOCKING_READ_MS for a reply as a matter of course.
      socketTimeout: this.socketTimeoutOf(role),
      lazyConnect: true,
      retryStrategy: (times) => this.backoff(role, readonly ? readonly.attempt(times) : times),
      reconnectOnError: (error) => (readonly ? readonly.onError(error) : isReadonly(error) ? 2 : false),
      // Blocking readers and subscribers wait out outages; commands give up after ioredis' default.
      maxRetriesPerRequest: role === 'commands' ? COMMAND_RETRIES : null,
    };
    const client: RedisClient = config.clusterMode
      ? new Cluster([{ host: config.host, port: config.port }], {
          // The cluster manages its node connections; per-node lazyConnect/retry settings would fight it.
          redisOptions: withoutNodeLifecycle(options),
          // ElastiCache's TLS certificates name the node hosts; keep the host names CLUSTER SLOTS returns.
          dnsLookup: (address, callback) => callback(null, address),
          clusterRetryStrategy: (times) => this.backoff(role, times),
          // The ready check runs CLUSTER INFO, which the access string denies; CLUSTER SLOTS is granted.
          enableReadyCheck: false,
          // SSUBSCRIBE goes to a connection to the primary that owns the channel's slot, opened on
          // first use and moved by ioredis when the slot moves (one per instance: a namespace's
          // sharded channels share its slot).
          shardedSubscribers: role === 'subscriber',
          // ioredis PINGs each sharded subscriber once an interval (a connection that only listens has
          // nothing else to time out on); the socket timeout, shorter, closes a silent one first, so
          // that it is warned and counted as any other.
          shardedSubscriberHealthCheckInterval: config.socketTimeoutMs + SHARDED_HEALTH_CHECK_MARGIN_MS,
          // The periodic topology read is this.topology's, on open connections (ioredis' own opens a
          // new connection for each read).
          lazyConnect: true,
        })
      : firstConnectWithoutReadyCheck(new Redis({ ...options, host: config.host, port: config.port, enableReadyCheck: false }));
    if (client instanceof Cluster) withoutClientInfo(client);
    this.clients.set(client, role);
    // Not on a serverless cache: it shows one virtual shard, whose map does not change as it scales
    // (docs/serverless.md), and each read there is an ECPU billed, 60 a minute per instance.
    if (client instanceof Cluster && role !== 'reader' && !this.config.serverless) this.topology ??= this.watchTopology();
    this.renewal?.track(client);
    client.on('error', (error: Error) => this.onClientError(role, error));
    // A cluster reports its nodes' failures (WRONGPASS after a rotation among them) as 'node error'.
    if (client instanceof Cluster) {
      const onNodeError = (error: Error, node?: unknown) => this.onClientError(role, error, typeof node === 'string' ? node : undefined);
      client.on('node error', onNodeError);
      // The sharded subscribers' connections report theirs under another name (ioredis 6, ClusterSubscriberGroup).
      client.on('nodeError', onNodeError);
      client.on('+node', (node: Redis) => {
        node.once('ready', () => {
          if (role === 'commands') this.commandConnects++;
          this.emit('node-ready', role);
        });
        // A node's own failure ends when that node's connection is back (the cluster stays ready meanwhile).
        node.on('ready', () => this.outageEnded(role, `${node.options.host}:${node.options.port}`));
      });
    }
    client.on('ready', () => {
      if (role === 'commands') this.commandConnects++;
      if (readonly && client instanceof Redis) readonly.onReady(client);
      this.everReady.add(role);
      this.lastConnectionError = undefined;
      this.outageEnded(role);
      this.emit('ready', role);
    });
    client.connect().catch(() => {
      // Failures are handled by the error listener and by ready(); nothing may escape as unhandled.
    });
    return client;
  }

  /** A {@link ReadonlyStreak} for a connection of `role`, said in the log when it starts and ends. */
  private readonlyStreak(role: ConnectionRole): ReadonlyStreak {
    const where = `${this.config.host}:${this.config.port}`;
    return new ReadonlyStreak((attempt) => this.reconnectDelay(attempt), {
      started: () => {
        if (this.closed) return;
        this.config.logger.warn(
          `the ${role} connection to ${where} met a read-only replica (READONLY): after a failover the endpoint may resolve to the old primary for a while (DNS); ` +
            `reconnecting, backing off, until it reaches the primary; a write refused again after ${READONLY_RESENDS} of them is rejected (a revocation stays applied here and is written again: stats.unwritten)`,
        );
      },
      ended: (reconnects) => {
        if (!this.closed) this.config.logger.info(`the ${role} connection to ${where} reaches a primary again, after ${reconnects} reconnects for READONLY`);
      },
    });
  }

  private tlsOptions(tls: Exclude<ResolvedConnection['tls'], false>): ConnectionOptions {
    return {
      secureContext: (this.secureContext ??= createSecureContext({ ca: tls.ca })),
      servername: tls.servername ?? (isIP(this.config.host) ? undefined : this.config.host),
    };
  }

  /**
   * ioredis moves sharded subscriptions when the old owner says the slot left (SUNSUBSCRIBE) or
   * answers MOVED, after one topology read; a node that has not heard of the move yet answers the old
   * topology and the subscription would stay behind. A periodic read bounds that, and moves commands
   * off a primary that froze once its replica is promoted. A reader follows MOVED and its socket
   * timeout, and is off the request path: it goes without.
   */
  private watchTopology(): ClusterTopology {
    const clusters = (roles: readonly ConnectionRole[]) => [...this.clients].filter(([client, role]) => client instanceof Cluster && roles.includes(role)).map(([client]) => client as Cluster);
    return new ClusterTopology(() => (this.commandClient instanceof Cluster ? this.commandClient : undefined), () => clusters(['commands', 'subscriber']), TOPOLOGY_READ_MS);
  }

  private backoff(role: ConnectionRole, times: number): number | null {
    if (this.closed) return null;
    const delay = this.reconnectDelay(times);
    const jittered = role === 'commands' && this.hurried > 0 ? Math.min(delay, HURRIED_RECONNECT_DELAY_MS) : delay;
    this.counters.reconnects++;
    this.emit('reconnecting', role, jittered);
    return jittered;
  }

  /** The delay before reconnect attempt `times`: doubling from reconnectBaseDelayMs up to reconnectMaxDelayMs, with jitter (half to all of it). */
  private reconnectDelay(times: number): number {
    const { reconnectBaseDelayMs: base, reconnectMaxDelayMs: max } = this.config;
    const delay = Math.min(base * 2 ** Math.min(times - 1, 20), max);
    return Math.round(delay / 2 + Math.random() * (delay / 2));
  }

  /** How long a connection of `role` waits for a byte while a command is unanswered (a reader's blocking read waits as a matter of course). */
  private socketTimeoutOf(role: ConnectionRole): number {
    return role === 'reader' ? this.config.socketTimeoutMs + MAX_BLOCKING_READ_MS : this.config.socketTimeoutMs;
  }

  /** `node`: the cluster node (`host:port`) whose connection failed, in cluster mode. */
  private onClientError(role: ConnectionRole, error: Error, node?: string): void {
    // First listener of every client: AUTH's arguments (password, token) leave the error before anyone sees it.
    redactAuthArguments(error);
    if (this.closed) return;
    if (isSocketTimeout(error)) {
      this.onSocketTimeout(role, node);
    } else if (isAuthError(error) && this.iam) {
      this.iam.tokens.rejected();
      this.counters.authFailures++;
      this.emit('auth-failure', role, false);
    } else if (isAuthError(error)) {
      void this.refreshCredentials(role).catch((refreshError: unknown) => {
        this.config.logger.warn('re-reading Redis credentials failed', { error: String(refreshError) });
      });
    } else {
      this.onConnectionFailure(role, error, node);
    }
  }

  /**
   * A connection of `role` that had been ready failed (refused, reset, DNS, TLS): said at most once a
   * minute per role, with the error, so that the warnings that follow (stale revocations, a key ring
   * not read) have their cause in the log; its end is said once, at the same level.
   */
  private onConnectionFailure(role: ConnectionRole, error: Error, node?: string): void {
    const line = errorLine(error);
    this.lastConnectionError = line;
    if (!this.everReady.has(role)) return;
    const where = node ?? `${this.config.host}:${this.config.port}`;
    const key = `${role} ${where}`;
    const now = performance.now();
    const outage = this.outages.get(key) ?? { since: undefined, said: false, saidAt: Number.NEGATIVE_INFINITY };
    outage.since ??= now;
    this.outages.set(key, outage);
    if (outage.said || now - outage.saidAt < PACED_WARNING_INTERVAL_MS) return;
    outage.said = true;
    outage.saidAt = now;
    this.config.logger.warn(`the ${role} connection to ${where} failed: reconnecting with backoff (up to reconnectMaxDelayMs)`, { error: line });
  }

  /** The connection of `role` (to `where`; every one of the role when not given) is ready again. */
  private outageEnded(role: ConnectionRole, where?: string): void {
    for (const [key, outage] of this.outages) {
      if (outage.since === undefined || !(where === undefined ? key.startsWith(`${role} `) : key === `${role} ${where}`)) continue;
      if (outage.said) this.config.logger.warn(`the ${key.replace(' ', ' connection to ')} works again, ${Math.round((performance.now() - outage.since) / 1000)} s after it failed`);
      outage.since = undefined;
      outage.said = false;
    }
  }

  /**
   * Redis refused this instance's credentials and a re-read gave the same (or there is nothing to
   * re-read): an instance left on a rotated-away password says so at most once a minute, with what to
   * check, where before only a counter and an event told (an on-call review).
   */
  private sayCredentialsRefused(role: ConnectionRole): void {
    const who = userNamed(this.credentials.credentials.username);
    this.warnPaced(
      'credentials refused',
      this.credentials.refreshable
        ? `Redis refused the ${role} connection's login as ${who}, and re-reading the credentials gave the same: check that this instance reads the app-env's secret (KCC_REDIS_SECRET_ID: the stack output's secretArn) and whether its last rotation failed half way (docs/operations-rotation.md#when-a-rotation-fails); reconnecting`
        : `Redis refused the ${role} connection's login as ${who}; the credentials were given as fixed values, so a rotated password is never picked up: give the secret (KCC_REDIS_SECRET_ID) instead, or restart with the new password; reconnecting`,
    );
  }

  /** The latest error a connection reported after it had been ready, as a log line (name and message; never a command's arguments). @internal */
  get lastFailure(): string | undefined {
    return this.lastConnectionError;
  }

  /** A connection of `role` closed for want of a reply (ioredis' socket timeout, or a subscriber's unanswered PING). */
  private onSocketTimeout(role: ConnectionRole, node?: string): void {
    if (this.closed) return;
    this.counters.socketTimeouts++;
    this.lastConnectionError = `no reply within socketTimeoutMs (${this.socketTimeoutOf(role)} ms)`;
    this.config.logger.warn(`the ${role} connection to ${node ?? `${this.config.host}:${this.config.port}`} got no reply within ${this.socketTimeoutOf(role)} ms (socketTimeoutMs): closed it, reconnecting; commands in flight are sent again (a node that vanished, a failover, or this process stalled)`);
  }

  private async refreshCredentials(role: ConnectionRole): Promise<void> {
    const { changed, joined } = await this.credentials.refreshAndTell();
    // Only the caller that started this re-read reports it; every caller applies its result (idempotent).
    if (!joined) {
      this.counters.authFailures++;
      this.emit('auth-failure', role, changed);
    }
    if (!changed) {
      if (!joined) this.sayCredentialsRefused(role);
      return;
    }
    // Every connection reads the password through the refresher's stand-in at its next AUTH; only a
    // changed user name has to be written into ioredis' options.
    const { username } = this.credentials.credentials;
    for (const client of this.clients.keys()) {
      const targets: (RedisOptions | undefined)[] = [];
      if (client instanceof Cluster) {
        // New node connections are built from the pool's own copy of the options (ioredis 6), so
        // that copy must learn a new user name too, not only the cluster's options and live nodes.
        const pool = (client as unknown as { connectionPool?: { redisOptions?: RedisOptions } }).connectionPool;
        targets.push(client.options.redisOptions, pool?.redisOptions, ...client.nodes().map((node) => node.options));
      } else {
        targets.push(client.options);
      }
      for (const target of targets) if (target && target.username !== username) target.username = username;
    }
    if (!joined) this.config.logger.info('Redis credentials re-read after an authentication failure', { username: SHAPES.userName.test(username) ? username : userNamed(username) });
  }

  /** Waits until `client` is ready, re-reading credentials on auth failures, within connectTimeoutMs. */
  private ready(client: RedisClient, role: ConnectionRole, signal?: AbortSignal): Promise<void> {
    if (client.status === 'ready') return Promise.resolve();
    if (this.closed || signal?.aborted) return Promise.reject(new KccClosedError(`${role} connection closed before it was ready`));
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      let refusals = 0;
      const cleanup = () => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        this.closing.signal.removeEventListener('abort', onClose);
        signal?.removeEventListener('abort', onClose);
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      // Closed while connecting (close() during a prewarm): the socket may take a while to go; the wait ends now.
      const onClose = () => {
        cleanup();
        reject(new KccClosedError(`${role} connection closed before it was ready`));
      };
      const onError = (error: Error) => {
        lastError = error;
        refusals = isRefused(error) ? refusals + 1 : 0;
        // Retrying cannot fix fixed credentials that are refused, an untrusted certificate, or a port nobody listens on.
        const permanent = permanentFailure(error, refusals);
        if (isAuthError(error) && !this.credentials.refreshable) {
          cleanup();
          reject(this.describe(error));
        } else if (permanent) {
          cleanup();
          reject(new KccConnectionError(`${role} connection to ${this.config.host}:${this.config.port} failed: ${permanent}`, { cause: error }));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const why = lastError ? this.describe(lastError).message : 'no answer';
        reject(new KccConnectionError(`${role} connection to ${this.config.host}:${this.config.port} not ready after ${this.config.connectTimeoutMs} ms: ${why}`, { cause: lastError && redisErrorSummary(lastError) }));
      }, this.config.connectTimeoutMs);
      client.on('ready', onReady);
      client.on('error', onError);
      this.closing.signal.addEventListener('abort', onClose);
      signal?.addEventListener('abort', onClose);
    });
  }

  /**
   * The error a caller gets for a failure of Redis: an authentication failure becomes a
   * KccAuthError whose cause is a summary of Redis' answer (name, message, command name); any other
   * error keeps its identity, with the arguments of every command attached to it (or nested in it)
   * replaced by their count: they can hold whatever the app stores.
   * `readFailure`, a failed re-read of the credentials, is named by its name and message only.
   */
  private describe(error: unknown, readFailure?: unknown): Error {
    redactCommandArguments(error);
    if (isAuthError(error) && this.iam) {
      return new KccAuthError(this.iam.rejection((error as Error).message.split(' ')[0]!), { cause: redisErrorSummary(error) });
    }
    if (isAuthError(error)) {
      const source = readFailure !== undefined
        ? `and re-reading them failed (${readFailure instanceof Error ? `${readFailure.name}: ${readFailure.message}` : String(readFailure)}): check that the secret (or credentialsProvider) can be read`
        : this.credentials.refreshable ? 'even after re-reading them' : fixedCredentialsHint(this.config.host);
      return new KccAuthError(`Redis rejected the credentials of ${userNamed(this.username)} ${source} (${(error as Error).message.split(' ')[0]})`, { cause: redisErrorSummary(error) });
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  /** What `JSON.stringify` shows: where and as whom this connects, and its counters; never a credential or a connection's internals. */
  toJSON(): KccRedisSummary {
    return {
      host: this.config.host,
      port: this.config.port,
      clusterMode: this.config.clusterMode,
      keyPrefix: this.config.keyPrefix,
      username: this.username,
      auth: this.iam ? 'iam' : 'password',
      instanceId: this.config.instanceId,
      closed: this.closed,
      stats: this.stats,
    };
  }

  /** What `console.log` and `util.inspect` show: the same as {@link toJSON}. */
  [inspect.custom](_depth: number, options: object): string {
    return `KccRedis ${inspect(this.toJSON(), options)}`;
  }
}

/** A dedicated connection `connect` opened ahead of its use. */
interface WarmConnection {
  readonly client: RedisClient;
  /** Resolves with {@link client} once it is ready. */
  readonly opening: Promise<RedisClient>;
  /** Aborted when the connection is discarded unclaimed: ends the wait for it. */
  readonly abort: AbortController;
  /** Taken by a dedicated() call, which reports its failure. */
  claimed: boolean;
  /** Failed (settled): skipped by dedicated(). */
  failed: boolean;
}

/**
 * ioredis' ready check sends INFO once AUTH is answered and parses its reply (several kB), only to
 * hold the connection while the server loads its dataset. A new connection skips it: start-up (and
 * each IAM renewal) saves the round trip and the parse, and run() waits out a LOADING reply instead,
 * for up to connectTimeoutMs (the bound connect() put on the whole handshake, ready check included).
 * From the first ready on, the check is back for every reconnect: a server restarted under a running
 * app may load for longer than that, and ioredis then holds the queued commands (and the reconnect's
 * `ready`) until it is done.
 */
function firstConnectWithoutReadyCheck(client: Redis): Redis {
  client.once('ready', () => {
    client.options.enableReadyCheck = true;
  });
  return client;
}

/** How much longer than `socketTimeoutMs` ioredis waits between PINGs of a sharded subscriber, and for each reply. */
const SHARDED_HEALTH_CHECK_MARGIN_MS = 1_000;

/** How long {@link KccRedis.close} lets a connection finish what it holds before its socket is simply closed. */
const CLOSE_QUIT_TIMEOUT_MS = 1_000;
/**
 * The least {@link KccRedis.close} waits for what runs on the connection to close (a KeyRing's 2 s);
 * longer for a component whose own bound is longer (Revocations: closeTimeoutMs + 2 s), see beforeClose.
 */
const BEFORE_CLOSE_WAIT_MS = 5_000;
/** How much longer than a component's own bound {@link KccRedis.close} waits for it: its bound ends first, and it says what it gave up. */
const BEFORE_CLOSE_MARGIN_MS = 1_000;
/** The longest a reconnect of the command connection waits while a close is still writing ({@link KccRedis.hurryReconnects}). */
const HURRIED_RECONNECT_DELAY_MS = 500;
/**
 * How long a connection replaced by a renewal may take to finish what it holds (a blocking read, a
 * slow command, commands waiting for its reconnect): renewal points fall 1.2 to 3 hours before
 * ElastiCache's 12-hour cut, so this can be generous.
 */
const RENEWAL_QUIT_TIMEOUT_MS = 5 * 60_000;

/** What close() rejects a command with that waited for its connection to come up (never connected yet, or reconnecting). */
function closedWhileWaiting(): KccClosedError {
  return new KccClosedError('connection closed (close()) while the command waited for the connection to Redis to come up (a connect or a reconnect); it was not answered');
}

/**
 * Closes a connection politely: QUIT is answered after the commands sent before it, so those in
 * flight finish; with `letReconnect` (a renewal: Redis is up, the successor is ready), a connection
 * waiting to reconnect with commands queued is let reconnect first, so that they are sent. All within
 * `timeoutMs`, cut to {@link CLOSE_QUIT_TIMEOUT_MS} once `signal` aborts: a peer that vanished
 * without closing the socket would hold a reply until TCP gives up. Then the socket is closed, and
 * whatever the connection still holds is rejected with `stranded()`: no command is left pending.
 */
async function retire(client: RedisClient, timeoutMs: number, stranded: () => Error, signal?: AbortSignal, letReconnect = false): Promise<void> {
  if (client.status === 'end') return;
  const deadline = quitDeadline(timeoutMs, signal);
  try {
    // close() does not wait for a reconnect: Redis may be gone for good, and every connection closed
    // would add its wait (what it holds is rejected below instead).
    if (letReconnect && client.status !== 'ready' && client.status !== 'wait' && holdsCommands(client)) {
      await Promise.race([readyEndOrEmpty(client), deadline.reached]);
    }
    if (client.status === 'ready') await Promise.race([client.quit().catch(() => undefined), deadline.reached]);
  } finally {
    deadline.clear();
  }
  const down = client.status === 'reconnecting';
  // What a connection that is not ready holds (waiting to reconnect, or its reconnect's handshake
  // under way) is rejected as stranded() first: disconnect() would reject it with a bare "Connection
  // is closed." (a cluster: "None of startup nodes is available"), or, what was in flight when the
  // socket dropped, not at all while a reconnect is connecting.
  if (client.status !== 'ready') rejectHeld(client, stranded());
  client.disconnect();
  if (client instanceof Cluster) await endStrandedCluster(client, stranded, down);
}

/** Resolves after `timeoutMs`, or {@link CLOSE_QUIT_TIMEOUT_MS} after `signal` aborts if that is sooner. */
function quitDeadline(timeoutMs: number, signal: AbortSignal | undefined): { readonly reached: Promise<void>; clear(): void } {
  const end = performance.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const reached = new Promise<void>((resolve) => {
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(resolve, Math.max(0, ms));
      timer.unref();
    };
    onAbort = () => arm(Math.min(end - performance.now(), CLOSE_QUIT_TIMEOUT_MS));
    if (signal?.aborted) onAbort();
    else arm(timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return {
    reached,
    clear: () => {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Resolves when `client` is ready (what it holds is sent), ended, or holds nothing any more (ioredis
 * rejected it after maxRetriesPerRequest): then there is nothing left to wait for.
 */
function readyEndOrEmpty(client: RedisClient): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      client.off('ready', done);
      client.off('end', done);
      client.off('reconnecting', emptied);
      resolve();
    };
    const emptied = () => {
      if (!holdsCommands(client)) done();
    };
    client.on('ready', done);
    client.on('end', done);
    client.on('reconnecting', emptied);
  });
}

/**
 * The ioredis queues a connection holds commands in until it is ready again (not in its typings;
 * each is optional here, so an ioredis that renames one degrades to ioredis' own behaviour instead
 * of throwing; the tests of close() and renewal with queued commands then fail).
 */
interface HeldCommands {
  readonly offlineQueue?: { readonly length: number };
  readonly commandQueue?: { readonly length: number };
  prevCommandQueue?: { readonly length: number; shift(): { readonly command: { reject(error: Error): void } } | undefined } | null;
  flushQueue?: (error: Error, options?: { offlineQueue: boolean; commandQueue: boolean }) => void;
  setStatus?: (status: 'end') => void;
}

/** Whether `client` holds commands for its reconnect: queued while it was down, or in flight when it dropped (ioredis resends those). */
function holdsCommands(client: RedisClient): boolean {
  const held = client as unknown as HeldCommands;
  return (held.offlineQueue?.length ?? 0) > 0 || (held.commandQueue?.length ?? 0) > 0 || (held.prevCommandQueue?.length ?? 0) > 0;
}

/**
 * Rejects with `error` the commands `client` holds for its reconnect: queued while it was down, or
 * in flight when it dropped (ioredis keeps those for the next ready connection). Not the command
 * queue of a connection in its handshake: that holds the handshake's own commands.
 */
function rejectHeld(client: RedisClient, error: Error): void {
  const held = client as unknown as HeldCommands;
  if (typeof held.flushQueue !== 'function' || !holdsCommands(client)) return;
  held.flushQueue(error, { offlineQueue: true, commandQueue: false });
  for (let item = held.prevCommandQueue?.shift(); item; item = held.prevCommandQueue?.shift()) item.command.reject(error);
  held.prevCommandQueue = null;
}

/**
 * A cluster that was connected ends once its node sockets close: given {@link CLOSE_QUIT_TIMEOUT_MS}
 * for that, one still not ended is ended here, what it holds rejected as stranded() (one that was
 * down, waiting to reconnect, ioredis ends at once).
 */
async function endStrandedCluster(cluster: Cluster, stranded: () => Error, down: boolean): Promise<void> {
  // One that was down (no node connected) has no socket left to close: no 'end' will come.
  if (cluster.status !== 'end' && !down) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        cluster.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, CLOSE_QUIT_TIMEOUT_MS);
      timer.unref();
      cluster.on('end', done);
    });
  }
  // Its nodes keep ending after the first, and each end sets the cluster back to 'close', where a
  // command (the next one of a run() in progress) would wait in the offline queue for a reconnect
  // that never comes: from now on it is refused instead.
  const options = (cluster as unknown as { options?: { enableOfflineQueue?: boolean } }).options;
  if (options) options.enableOfflineQueue = false;
  const held = cluster as unknown as HeldCommands;
  if (cluster.status === 'end' || typeof held.setStatus !== 'function' || typeof held.flushQueue !== 'function') return;
  held.setStatus('end');
  if (holdsCommands(cluster)) held.flushQueue(stranded());
}

/**
 * What to check when Redis rejects credentials that cannot be re-read (an explicit password or
 * KCC_REDIS_PASSWORD). On loopback that is a local server (the harness `kcc-redis local`), where a
 * secret id means nothing; elsewhere a secret id lets the client follow a rotation.
 */
export function fixedCredentialsHint(host: string): string {
  const local = host === 'localhost' || host === '::1' || /^127\./.test(host);
  return local
    ? 'and they are fixed (explicit option or environment): check the password; for the local harness, load the <app>-<env>.env file that `kcc-redis local` wrote (it holds the current one)'
    : 'and they are fixed (explicit option or environment): check the password; against ElastiCache, pass secretId (KCC_REDIS_SECRET_ID) instead, so that a rotated password is re-read';
}
