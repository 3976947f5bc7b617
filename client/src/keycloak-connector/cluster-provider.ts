import { randomUUID } from 'node:crypto';
import type { AbstractClusterProvider, ClusterConfig, Listener, LockOptions, SubscriberListener } from '@dapperduckling/keycloak-connector-server';
import { Bus, type BusHandler } from '../bus.js';
import { KccRedis } from '../connection.js';
import { type DropCounts, type DropReason, emptyDropCounts, encodeEnvelope, isOversized } from '../envelope.js';
import { KccClosedError, KccConfigError, KccConnectionError, KccInputError, KccNotReadyError } from '../errors.js';
import { KEY_RING_DEFAULTS, type KeyRingOptions, keyEncryptionKeyOptionProblems, resolveKeyEncryptionKeys } from '../keyring/key-ring-options.js';
import { ConnectorSeal, MESSAGE_AHEAD_SLACK_MS, MESSAGE_MAX_AGE_MS, type Refusal, type ValueRefusal } from './connector-seal.js';
import { HeardMessages } from './heard-messages.js';
import { OptionProblems, kindOf, requireOptionsObject } from '../option-checks.js';
import { isPlainObject } from '../plain-object.js';
import { connectionOptionProblems } from '../resolve-options.js';
import { pause, withTimeout } from '../time-limit.js';
import { type KccLogger, defaultLogger, kccLogger } from '../logger.js';
import { Locks } from '../lock.js';
import type { KccConnectionOptions } from '../options.js';
import { RecentIds } from '../recent-ids.js';
import { Store } from '../store.js';
import { type KccClusterEvent, forwardConnectionEvents } from './connection-events.js';
import { type UpstreamClusterBase, loadUpstreamClusterBase } from './upstream.js';

/** Envelope type of every message the connector publishes through this provider. */
export const CONNECTOR_MESSAGE_TYPE = 'keycloak-connector';

export interface KccClusterProviderOptions {
  /** An open connection to use; the caller closes it. @default a connection opened by `connectOrThrow()` from `connection`, closed by `disconnect()` */
  readonly redis?: KccRedis;
  /** Options of the connection `connectOrThrow()` opens when no `redis` is given (environment: `KCC_REDIS_*`, `CLUSTER_REDIS_*`). @default {} */
  readonly connection?: KccConnectionOptions;
  /** Prefix of the connector's keys and channels inside the app-env's namespace. @default 'connector:' */
  readonly namespace?: string;
  /** Called for every incoming message dropped (oversized, malformed), after counting. Must not throw. */
  readonly onDrop?: (reason: DropReason) => void;
  /** Passed to upstream's base class, which logs through it. */
  readonly pinoLogger?: ClusterConfig['pinoLogger'];
  /**
   * Where the app-env's key-encryption key comes from, as for the key ring (the same options and
   * environment variables): everything the connector stores and publishes through the provider is
   * sealed under it (docs/migration-keycloak-connector.md). Read at `connectOrThrow()`.
   * @default the environment: KCC_KEYRING_KEK_SECRET_ID or KCC_KEYRING_KEK
   */
  readonly keyEncryptionKeys?: ConnectorKeyEncryptionKeys;
}

/** The key ring options that name the key-encryption key's source. */
export type ConnectorKeyEncryptionKeys = Pick<
  KeyRingOptions,
  'keyEncryptionKey' | 'keyEncryptionKeySecretId' | 'keyEncryptionKeyProvider' | 'unsafeAllowPlaintextPrivateKeys' | 'region' | 'env'
>;

/** What our provider offers besides upstream's contract. */
export interface KccClusterProviderExtras {
  /** The connection; throws before `connectOrThrow()`. */
  readonly redis: KccRedis;
  /** Incoming messages dropped, by reason (one that did not open under the key-encryption keys, or was sent more than 5 minutes before, or is dated more than a minute ahead, is `invalid`). */
  readonly dropped: DropCounts;
  /** Values read from Redis that did not open under the key-encryption keys, or were past the expiry sealed with them: taken as absent. */
  readonly refused: number;
  /**
   * The Redis key an upstream key is stored under: `<prefix>{<app>-<env>}:<namespace>h1.<HMAC>`, the
   * upstream key hidden under the key-encryption key (upstream's name a refresh token's jti).
   */
  redisKey(key: string): string;
  /** The Redis channel an upstream channel is published on: `<prefix><namespace>h1.<HMAC>`, hidden as keys are. */
  redisChannel(channel: string): string;
}

/** Upstream's cluster provider, implemented on a {@link KccRedis} connection. */
export type KccClusterProvider = AbstractClusterProvider<KccClusterEvent> & KccClusterProviderExtras;

/** Something closed with the provider's connection (a key ring started on it). */
interface Closeable {
  close(): Promise<void>;
}

const closeables = new WeakMap<object, Set<Closeable>>();

/** What an upstream value, channel or lock is named from (hidden by an HMAC): one domain each, so that no two collide. */
const valueName = (key: string) => `value\n${key}`;
const channelName = (channel: string) => `channel\n${channel}`;
const lockName = (key: string) => `lock\n${key}`;

/** When a value or message not taken was last reported, by what and why (this process). */
const lastRefusalReportAt = new Map<string, number>();
const UNSEALED_REPORT_INTERVAL_MS = 60_000;
/** What each refusal is said as, after "a keycloak-connector value / message in Redis". */
const REFUSALS: { readonly value: Record<ValueRefusal, string>; readonly message: Record<Refusal, string> } = {
  value: {
    unopened: 'did not open under the key-encryption keys held: ignored (a cache miss); it was altered or written without the key-encryption key (another writer of Redis), or this instance has another key-encryption key than the rest',
    expired: 'was past the expiry sealed with it: ignored (a cache miss); a writer of Redis put an expired value back or removed its expiry, the write came late (a failover delayed it), or instances disagree on the time (the server refuses TIME and host clocks differ)',
  },
  message: {
    unopened: 'did not open under the key-encryption keys held: dropped; it was altered or written without the key-encryption key (another writer of Redis), or this instance has another key-encryption key than the rest',
    expired: `was sent more than ${MESSAGE_MAX_AGE_MS / 60_000} minutes before: dropped; a writer of Redis sent an old message again, its publish waited that long (Redis out of reach), or instances disagree on the time (the server refuses TIME and host clocks differ)`,
    ahead: `was dated more than ${MESSAGE_AHEAD_SLACK_MS / 1000} s ahead of this instance's estimate of the server's time: dropped; instances disagree on the time (the server refuses TIME and host clocks differ)`,
  },
};

/**
 * Between tries of a {@link KccClusterProvider.lock} that Redis refused or did not answer: after a
 * failover the primary endpoint may resolve to the old primary, now a read-only replica, for 6 to 30 s
 * (https://repost.aws/knowledge-center/elasticache-correct-readonly-error), where reads still work.
 */
const LOCK_RETRY_MS = 250;

/** Errors of the provider's own state (closed, not connected) or of its input, not of Redis: thrown as they are. */
const isNotRedisFault = (error: unknown) =>
  error instanceof KccClosedError || error instanceof KccNotReadyError || error instanceof KccInputError || error instanceof KccConfigError || error instanceof TypeError || error instanceof RangeError;

/** True for providers made by {@link kccClusterProvider}. */
export function isKccClusterProvider(value: unknown): value is KccClusterProvider {
  return typeof value === 'object' && value !== null && closeables.has(value);
}

/** Closes `closeable` when `provider` disconnects (before a connection it owns is closed). */
export function closeWithProvider(provider: KccClusterProvider, closeable: Closeable): () => void {
  closeables.get(provider)?.add(closeable);
  return () => void closeables.get(provider)?.delete(closeable);
}

/**
 * A cluster provider for `@dapperduckling/keycloak-connector-server` on the client's connection:
 * TLS, the app-env's ACL user and namespace (every key through `redis.key()`, every channel
 * through `redis.channel()`), password rotation without failed commands, reconnects with backoff.
 * Messages carry the sender's instance id and are size-limited and checked; a subscriber that asks
 * for it (`ignoreOwnMessages`) never sees what its provider published (another provider's messages
 * on the same connection it does see). TTLs and lock TTLs are seconds, as upstream.
 *
 * The options are checked when it is called: a `KccConfigError` names every problem (those of
 * `connection` as `connection.<option>`). What the environment or the stack's secret supplies
 * (`KCC_REDIS_*`, `CLUSTER_REDIS_*`) is read and checked at `connectOrThrow()`.
 *
 * @example
 * import { keycloakConnectorFastify } from '@dapperduckling/keycloak-connector-server';
 * import { kccClusterProvider, kccKeyProvider } from '@kcc-redis/client/keycloak-connector';
 *
 * await fastify.register(keycloakConnectorFastify(), {
 *   ...config,
 *   clusterProvider: await kccClusterProvider(),   // env: KCC_REDIS_SECRET_ID, or CLUSTER_REDIS_HOST/PORT/USERNAME/PASSWORD/PREFIX
 *   keyProvider: kccKeyProvider(),                 // env: KCC_KEYRING_KEK_SECRET_ID
 * });
 */
export async function kccClusterProvider(options: KccClusterProviderOptions = {}): Promise<KccClusterProvider> {
  requireOptionsObject(options, 'kccClusterProvider options', "kccClusterProvider({ connection: { url: 'rediss://host:6379' } }), or kccClusterProvider() to read the connection from the environment");
  (await checkClusterProviderOptions(options)).throwIfAny('kccClusterProvider options');
  definedProvider ??= loadUpstreamClusterBase().then(defineProvider, (error: unknown) => {
    definedProvider = undefined;
    throw error;
  });
  const Provider = await definedProvider;
  return new Provider(options);
}

/**
 * Every problem of the options that can be told before connecting, so that a misconfigured app
 * fails where it wires the connector up, not at its first connect: the provider's own options and
 * what is wrong in `connection` as given (its problems named `connection.<option>`). What the
 * environment or the stack's secret supplies at connect time (`KCC_REDIS_*`, `CLUSTER_REDIS_*`: the
 * url, user, password, key prefix) is not required here; `connectOrThrow()` resolves and checks it.
 */
async function checkClusterProviderOptions(options: KccClusterProviderOptions): Promise<OptionProblems> {
  const problems = new OptionProblems();
  problems.unknownKeys(options, { redis: true, connection: true, namespace: true, onDrop: true, pinoLogger: true, keyEncryptionKeys: true } satisfies Record<keyof KccClusterProviderOptions, true>);
  const { redis, connection, namespace, onDrop, pinoLogger, keyEncryptionKeys } = options as Partial<Record<keyof KccClusterProviderOptions, unknown>>;
  problems.object('keyEncryptionKeys', keyEncryptionKeys, "keyEncryptionKeys: { keyEncryptionKeySecretId: '<kekSecretArn>' }, or leave it out to read the environment");
  // Checked before connecting: unsafeAllowPlaintextPrivateKeys: 'false' would seal under the well-known key.
  if (isPlainObject(keyEncryptionKeys)) for (const problem of keyEncryptionKeyOptionProblems(keyEncryptionKeys, 'keyEncryptionKeys.')) problems.add(problem);
  if (redis !== undefined && typeof (redis as Partial<KccRedis> | null)?.openSubscriber !== 'function') {
    problems.add(`redis: ${kindOf(redis)}, not a KccRedis connection; give redis: await KccRedis.connect(…), or leave it out (the provider connects from connection, or the environment)`);
  }
  if (redis !== undefined && connection !== undefined) {
    problems.add('redis, connection: give one of them, not both (redis is a connection you own; connection is how the provider opens its own)');
  }
  problems.object('connection', connection, "connection: { url: 'rediss://host:6379' }, or leave it out to read the environment");
  if (isPlainObject(connection)) for (const problem of await connectionOptionProblems(connection)) problems.add(`connection.${problem}`);
  if (namespace !== undefined && typeof namespace !== 'string') problems.add(`namespace: must be a string, the prefix of the connector's keys and channels, e.g. 'connector:' (got ${kindOf(namespace)})`);
  if (onDrop !== undefined && typeof onDrop !== 'function') problems.add(`onDrop: must be a function (reason) => void (got ${kindOf(onDrop)})`);
  if (pinoLogger !== undefined && (typeof pinoLogger !== 'object' || pinoLogger === null)) problems.add(`pinoLogger: must be a pino logger (got ${kindOf(pinoLogger)})`);
  return problems;
}

let definedProvider: Promise<ReturnType<typeof defineProvider>> | undefined;

const HELD = Symbol('held channels');

/**
 * For tests and diagnostics (not exported by the package): the channels a provider keeps a Bus
 * for, and those it keeps listeners for. Both count only channels with a listener, or one being
 * subscribed; the connector subscribes a fresh channel on every cache miss.
 */
export function heldChannels(provider: KccClusterProvider): { readonly buses: number; readonly listened: number } {
  return (provider as unknown as { [HELD](): { buses: number; listened: number } })[HELD]();
}

/** How many of its own message ids a provider keeps (at least; up to twice): each comes back within a round trip. */
const OWN_MESSAGES_KEPT = 4_096;

function defineProvider({ AbstractClusterProvider: Base, BaseClusterEvents: Events }: UpstreamClusterBase) {
  return class KccRedisClusterProvider extends Base<KccClusterEvent> implements KccClusterProviderExtras {
    // Private (#): the options may hold the Redis password; util.inspect and JSON.stringify of the
    // provider (or of upstream's key provider holding it) must not show them.
    readonly #options: KccClusterProviderOptions;
    private readonly namespace: string;
    private readonly drops: DropCounts = emptyDropCounts();
    /**
     * One Bus per upstream channel with envelope listeners; `handlers`: those added to it and not
     * removed yet (subscriptions under way included). Dropped with its last handler.
     */
    private readonly buses = new Map<string, { readonly buses: readonly Bus[]; handlers: number }>();
    /** How to stop each listener, by channel and listener (envelope and raw listeners alike); a channel without listeners has no entry. */
    private readonly stops = new Map<string, Map<Listener | SubscriberListener, () => Promise<void>>>();
    private connection: KccRedis | undefined;
    private sealing: ConnectorSeal | undefined;
    private kekTimer: NodeJS.Timeout | undefined;
    private locks: Locks | undefined;
    private values: Store | undefined;
    private connecting: Promise<true> | undefined;
    /** The disconnect under way: until it ends the connection stays set, and no new subscription is kept. */
    private disconnecting: Promise<boolean> | undefined;
    /** Counts disconnects begun: a subscription begun before one is not kept. */
    private disconnects = 0;
    private detach: (() => void) | undefined;
    /**
     * Ids of the messages this provider published lately: what `ignoreOwnMessages` leaves out.
     * Upstream's "own" is the provider's (a random sender id each); the sender a message carries is
     * the connection's instance id, which several providers on one caller-owned connection share.
     */
    private readonly published = new RecentIds(OWN_MESSAGES_KEPT);
    /** Values read from Redis that did not open (taken as absent). */
    private refusedValues = 0;
    /** The hidden names each upstream lock held here was taken under. */
    private readonly heldLocks = new Map<string, { readonly names: string[]; readonly until: number }>();

    constructor(options: KccClusterProviderOptions) {
      super({ ...(options.pinoLogger ? { pinoLogger: options.pinoLogger } : {}) });
      this.#options = options;
      this.namespace = options.namespace ?? 'connector:';
      closeables.set(this, new Set());
    }

    get redis(): KccRedis {
      if (!this.connection) throw new KccNotReadyError('the cluster provider is not connected: call connectOrThrow() first (the connector does)');
      return this.connection;
    }

    get dropped(): DropCounts {
      return { ...this.drops };
    }

    get refused(): number {
      return this.refusedValues;
    }

    redisKey(key: string): string {
      return this.redis.key(this.hiddenKeys(key)[0]!);
    }

    redisChannel(channel: string): string {
      return this.redis.channel(this.hiddenChannels(channel)[0]!);
    }

    /** The names (relative to the app-env's prefix) `key` may be stored under: current key-encryption key first, then the previous one's. */
    private hiddenKeys(key: string): string[] {
      return this.seal().names(valueName(key)).map((name) => `${this.namespace}${name}`);
    }

    /**
     * The channels (relative) upstream channel `channel` is listened to on: the current key-encryption
     * key's and the previous one's. A message goes out on the channel of every key held (publish), so
     * that a listener made before rotations (the caches' invalidations) hears it while its key is held.
     */
    private hiddenChannels(channel: string): string[] {
      return this.seal().names(channelName(channel)).map((name) => `${this.namespace}${name}`);
    }

    /**
     * The lock names (relative to the namespace the locks add) of upstream lock `key`: under the current
     * key-encryption key and the one before, both taken, so that an instance that has not read a rotation
     * yet (which takes the earlier name) and one that has cannot both hold it (a refresh twice, which a
     * Keycloak revoking used refresh tokens refuses).
     */
    private hiddenLocks(key: string): string[] {
      return this.heldLocks.get(key)?.names ?? this.seal().names(lockName(key));
    }

    /** What a value or message is sealed for: its upstream key or channel, in the app-env's namespace (not the hidden name, which changes with the key). */
    private context(kind: 'key' | 'channel', name: string): string {
      return kind === 'key' ? this.redis.key(`${this.namespace}${name}`) : this.redis.channel(`${this.namespace}${name}`);
    }

    override connectOrThrow(): Promise<true> {
      // Asked for during a disconnect: connects once that disconnect is done (it would find the connection being closed).
      if (this.disconnecting) return this.disconnecting.catch(() => undefined).then(() => this.connectOrThrow());
      this.connecting ??= this.connect().catch((error: unknown) => {
        this.connecting = undefined;
        throw error;
      });
      return this.connecting;
    }

    override isConnected(isSubscriber: boolean): boolean {
      if (isSubscriber) return this.connection?.subscriberReady ?? false;
      try {
        return this.connection?.client.status === 'ready';
      } catch {
        return false; // closed
      }
    }

    /**
     * Closes the key rings started on the connection and stops every listener, then closes the
     * connection (unless it was passed as `redis`). Until the rings and listeners are closed (a ring
     * may take up to 2 s) the connection stays the provider's: the connector's own calls made
     * meanwhile (`unlock()`, `publish()`, ...) still run, so a lock it releases then is released;
     * a subscription is no longer kept. A second call waits for the first.
     */
    override disconnect(): Promise<boolean> {
      if (!this.disconnecting) {
        this.disconnects++;
        this.disconnecting = this.disconnectOnce().finally(() => (this.disconnecting = undefined));
      }
      return this.disconnecting;
    }

    private async disconnectOnce(): Promise<boolean> {
      await this.connecting?.catch(() => undefined); // a connect in flight finishes first, then is undone
      const connection = this.connection;
      if (!connection) return true;
      this.detach?.();
      this.detach = undefined;
      const owned = closeables.get(this) ?? new Set();
      await Promise.all([...owned].map((c) => c.close().catch((error: unknown) => this.logger.warn('closing a key ring with the cluster provider failed', { error: String(error) }))));
      owned.clear();
      await this.stopAllListeners();
      // Only now: the connector's calls made while the rings closed ran on the connection.
      this.connection = undefined;
      this.locks = undefined;
      this.values = undefined;
      this.sealing = undefined;
      clearInterval(this.kekTimer);
      this.kekTimer = undefined;
      this.connecting = undefined;
      if (!this.#options.redis) await connection.close();
      return true;
    }

    override async publish<T = unknown>(channel: string, message: T): Promise<boolean> {
      try {
        const redis = this.redis;
        // On the channel of each key held, sealed under that key: a listener made before a rotation, or on an
        // instance that has not read it yet, listens on an earlier key's channel (one envelope id for all).
        const id = randomUUID();
        const copies = this.seal().messageCopies(channelName(channel), this.context('channel', channel), JSON.stringify(message === undefined ? null : message), id, await redis.serverClock.now());
        this.published.add(id);
        await Promise.all(
          copies.map(({ name, sealed }) => {
            const { json } = encodeEnvelope(redis.instanceId, CONNECTOR_MESSAGE_TYPE, sealed, redis.config.maxMessageBytes, id);
            return redis.publish(redis.channel(`${this.namespace}${name}`), json);
          }),
        );
        return true;
      } catch (error) {
        this.logger.warn('publishing a keycloak-connector message failed', { error: String(error) });
        return false;
      }
    }

    override async subscribe(channel: string, listener: SubscriberListener, ignoreOwnMessages = false): Promise<boolean> {
      return this.change('subscribing to', channel, async () => {
        const session = this.subscribable();
        const redis = this.redis;
        // Each message once: it comes on the current and the previous key's channels from an instance that
        // has read a rotation, and a writer of Redis can send a sealed one again.
        const heard = new HeardMessages();
        const stop = await this.subscribedWithin(this.onBus(channel, ({ id, sender, data }) => {
          if (ignoreOwnMessages && sender === redis.instanceId && this.published.has(id)) return;
          this.deliver(channel, async () => {
            const now = await redis.serverClock.now();
            const opened = typeof data === 'string' ? await this.seal().openMessage(this.context('channel', channel), data, now) : ({ refused: 'unopened' } as const);
            if ('refused' in opened) return this.refuse('message', opened.refused);
            // The id outside the seal is the sender's to claim; the one inside is what was sealed with it.
            if (opened.id !== id) return this.refuse('message', 'unopened');
            if (!heard.hear(id, opened.sentAt, now)) return;
            return listener(JSON.parse(opened.text) as unknown, sender);
          });
        }));
        await this.remember(channel, listener, stop, session);
      });
    }

    /**
     * A subscription waits for the subscriber connection, which retries for as long as Redis is down;
     * upstream awaits subscribe() before its own waits (a cache miss, a token refresh), so an outage
     * would hold those requests for all of it. Past `connectTimeoutMs` this gives up (subscribe()
     * answers false, which upstream takes as "not subscribed"); a subscription completing later is
     * undone at once.
     */
    private async subscribedWithin(subscribing: Promise<() => Promise<void>>): Promise<() => Promise<void>> {
      const limitMs = this.redis.config.connectTimeoutMs;
      let gaveUp = false;
      subscribing.then((stop) => (gaveUp ? stop().catch(() => undefined) : undefined), () => undefined);
      return withTimeout(subscribing, limitMs, () => {
        gaveUp = true;
        return new KccConnectionError(`the subscriber connection was not ready within ${limitMs} ms (connectTimeoutMs): not subscribed`);
      });
    }

    override async unsubscribe(channel: string, listener: SubscriberListener, silently = false): Promise<boolean> {
      let removed = false;
      const ok = await this.change('unsubscribing from', channel, async () => {
        removed = await this.forget(channel, listener);
      });
      return ok && (removed || silently);
    }

    protected override handleSubscribe(channel: string, listener: Listener): Promise<boolean> {
      return this.change('subscribing to', channel, async () => {
        const session = this.subscribable();
        const redis = this.redis;
        const heard = new HeardMessages();
        const stop = await redis.subscribe(this.redisChannel(channel), (message) => {
          // What any instance may write (maxMessageBytes at its largest), not this one's own limit.
          if (isOversized(message)) return this.drop('oversized');
          this.deliver(channel, async () => {
            const now = await redis.serverClock.now();
            const opened = await this.seal().openMessage(this.context('channel', channel), message, now);
            if ('refused' in opened) return this.refuse('message', opened.refused);
            if (!heard.hear(opened.id, opened.sentAt, now)) return;
            return listener(opened.text);
          });
        });
        await this.remember(channel, listener, stop, session);
      });
    }

    protected override handleUnsubscribe(channel: string, listener: Listener): Promise<boolean> {
      return this.change('unsubscribing from', channel, async () => {
        await this.forget(channel, listener);
      });
    }

    protected override async handlePublish(channel: string, message: string): Promise<boolean> {
      try {
        const copies = this.seal().messageCopies(channelName(channel), this.context('channel', channel), message, randomUUID(), await this.redis.serverClock.now());
        await Promise.all(copies.map(({ name, sealed }) => this.redis.publish(this.redis.channel(`${this.namespace}${name}`), sealed)));
        return true;
      } catch (error) {
        this.logger.warn('publishing a keycloak-connector message failed', { error: String(error) });
        return false;
      }
    }

    /** The value stored under `key`, or null when there is none or it did not open (altered, moved, written without the key-encryption key). */
    override async get(key: string): Promise<string | null> {
      let stored: string | null = null;
      for (const name of this.hiddenKeys(key)) if ((stored = await this.requireStore().get(name)) !== null) break;
      if (stored === null) return null;
      const opened = await this.seal().openValue(this.context('key', key), stored, await this.redis.serverClock.now());
      if ('refused' in opened) {
        this.refuse('value', opened.refused);
        return null;
      }
      return opened.text;
    }

    /**
     * Resolves false when Redis refused or did not answer the write (a read-only replica while the
     * primary endpoint's DNS catches up after a failover, an outage), said on the logger: upstream's
     * cache stores a token refresh's result after Keycloak answered it, and a throw there discarded the
     * new tokens, leaving the user signed out (their refresh token already used).
     */
    override async store(key: string, value: string | number | Buffer, ttl: number | null, lockKey?: string): Promise<boolean> {
      const ttlMs = ttl === null || ttl === 0 ? undefined : secondsToMs(ttl, 'ttl');
      try {
        return await this.withinConnectTimeout(this.storeSealed(key, value, ttlMs, lockKey));
      } catch (error) {
        if (isNotRedisFault(error)) throw error;
        this.redisFault('storing a keycloak-connector value', 'answered false: the connector keeps what it got (a token refresh\'s new tokens reach the user), other instances miss it in Redis', error);
        return false;
      }
    }

    private async storeSealed(key: string, value: string | number | Buffer, ttlMs: number | undefined, lockKey: string | undefined): Promise<boolean> {
      // Under the current key's name, and the previous key's (sealed under that key): an instance that has
      // not read a rotation yet reads there, holding only the earlier key.
      // Its expiry goes inside the seal too: a writer of Redis cannot put it back once expired, nor make it last.
      const expiresAt = ttlMs === undefined ? null : (await this.redis.serverClock.now()) + ttlMs;
      const [current, ...earlier] = this.seal().valueCopies(valueName(key), this.context('key', key), typeof value === 'string' ? value : value.toString(), expiresAt, 2);
      const ttl$ = ttlMs === undefined ? {} : { ttlMs };
      const name = `${this.namespace}${current!.name}`;
      if (lockKey !== undefined) {
        if (!(await this.requireLocks().held(this.hiddenLocks(lockKey)[0]!).setIfHeld(name, current!.sealed, ttl$))) return false;
      } else {
        await this.requireStore().set(name, current!.sealed, ttl$);
      }
      for (const copy of earlier) await this.requireStore().set(`${this.namespace}${copy.name}`, copy.sealed, ttl$);
      return true;
    }

    /**
     * Deletes `key`; resolves true once it is gone (also when it did not exist, as upstream). The
     * connector's contract is `remove(key)`. Upstream's Redis provider also takes a lock key (delete
     * only while holding that lock); that guard is not offered, and a second argument is refused
     * (TypeError) rather than ignored, which would delete unguarded.
     */
    override async remove(key: string, ...rest: unknown[]): Promise<boolean> {
      if (rest[0] !== undefined) {
        throw new TypeError('remove(key, lockKey): a delete guarded by a lock is not supported (the connector calls remove(key)); release the lock with unlock() or write under it with store(key, value, ttl, lockKey)');
      }
      for (const name of this.hiddenKeys(key)) await this.requireStore().delete(name);
      return true;
    }

    /**
     * Tried again every {@link LOCK_RETRY_MS} while Redis refuses or does not answer the write, for up to
     * `connectTimeoutMs`; then resolves false, said on the logger. Upstream's cache takes false as "held
     * by another instance": it waits for that instance's result until its own deadline (10 s by
     * default), then calls Keycloak without the lock. A throw ended the token refresh with no result,
     * and the user was signed out for the length of a failover.
     */
    override async lock(lockOptions: LockOptions, force = false): Promise<boolean> {
      const ttlMs = secondsToMs(lockOptions.ttl, 'lockOptions.ttl');
      const started = performance.now();
      const deadline = started + this.redis.config.connectTimeoutMs;
      const abandoned: Promise<boolean>[] = [];
      // One acquisition, however many tries: a try that finds the lock taken by an earlier one of
      // this call (which ran, but whose reply was lost, or which was given up on and ran after) has it.
      const nonce = randomUUID();
      for (;;) {
        // Each try within what is left: a command waits out ioredis' reconnects (about a minute) while Redis is out of reach.
        const attempt = this.lockOnce(lockOptions, ttlMs, force, nonce);
        try {
          return await withTimeout(attempt, Math.max(1, deadline - performance.now()), () => new KccConnectionError('Redis did not answer in time'));
        } catch (error) {
          if (isNotRedisFault(error)) throw error;
          abandoned.push(attempt);
          if (performance.now() + LOCK_RETRY_MS >= deadline) {
            this.redisFault('taking a keycloak-connector lock', `answered false after ${Math.round(performance.now() - started)} ms (connectTimeoutMs ${this.redis.config.connectTimeoutMs}): the connector goes on without it once its own wait ends`, error);
            // A try given up on that takes the lock later is released then: held by no one, it would stand for its TTL.
            for (const late of abandoned) late.then((taken) => taken && this.unlock(lockOptions), () => undefined).catch(() => undefined);
            return false;
          }
          await pause(LOCK_RETRY_MS);
        }
      }
    }

    private async lockOnce(lockOptions: LockOptions, ttlMs: number, force: boolean, nonce: string): Promise<boolean> {
      const names = this.seal().names(lockName(lockOptions.key));
      const taken: string[] = [];
      const releaseTaken = () => Promise.all(taken.map((held) => this.requireLocks().held(held).release().catch(() => false)));
      try {
        for (const name of names) {
          if ((await this.requireLocks().acquire(name, ttlMs, { force, nonce })) === undefined) {
            await releaseTaken();
            return false;
          }
          taken.push(name);
        }
      } catch (error) {
        await releaseTaken();
        throw error;
      }
      // The names it was taken under: a key-encryption-key re-read before its store() or unlock() changes
      // them. Until the lock's end: upstream skips unlock() once past it.
      const now = performance.now();
      for (const [key, held] of this.heldLocks) if (held.until < now) this.heldLocks.delete(key);
      this.heldLocks.set(lockOptions.key, { names, until: now + ttlMs });
      return true;
    }

    /**
     * Resolves false when Redis refused or did not answer (the lock then ends at its TTL), said on the
     * logger: upstream unlocks in a `finally`, where a throw failed the token refresh that had
     * succeeded, and kept its own per-instance wait for that token held.
     */
    override async unlock(lockOptions: LockOptions, force = false): Promise<boolean> {
      const names = this.hiddenLocks(lockOptions.key);
      this.heldLocks.delete(lockOptions.key);
      try {
        const released = await this.withinConnectTimeout(Promise.all(names.map((name) => (force ? this.requireLocks().forceRelease(name) : this.requireLocks().held(name).release()))));
        return released[0]!;
      } catch (error) {
        if (isNotRedisFault(error)) throw error;
        this.redisFault('releasing a keycloak-connector lock', 'answered false: the lock ends at its TTL', error);
        return false;
      }
    }

    private async connect(): Promise<true> {
      this.emitEvent(Events.PRE_CONNECTION);
      const redis = this.#options.redis ?? (await KccRedis.connect(this.#options.connection ?? {}, ['subscriber']));
      try {
        const { keks, unsafePlaintext } = await resolveKeyEncryptionKeys(this.#options.keyEncryptionKeys ?? {}, redis.config.logger, undefined, redis.config.region, redis.config.connectTimeoutMs);
        if (unsafePlaintext) {
          redis.config.logger.warn('UNSAFE: the keycloak-connector\'s cache and messages are sealed under the well-known local key (unsafeAllowPlaintextPrivateKeys): anyone who can write Redis can plant a token set the connector logs in with. Local development only');
        }
        this.sealing = new ConnectorSeal(keks);
        // Read again now and then: names and seals follow the current key, so one not read yet after a
        // rotation is not met by a ring or value naming it (it is, at the latest, at the next read).
        clearInterval(this.kekTimer);
        const sealing = this.sealing;
        this.kekTimer = setInterval(() => void sealing.refresh().catch(() => undefined), KEY_RING_DEFAULTS.keyEncryptionKeyRefreshIntervalMs);
        this.kekTimer.unref();
        await redis.openSubscriber(); // upstream asks isConnected(true) before it subscribes
      } catch (error) {
        clearInterval(this.kekTimer);
        this.kekTimer = undefined;
        this.sealing = undefined;
        if (!this.#options.redis) await redis.close();
        throw error;
      }
      this.connection = redis;
      // Lock keys are the connector's own keys (`redisKey(lockKey)`), as upstream: one owner token per provider.
      this.locks = new Locks(redis, { namespace: this.namespace, owner: `${redis.instanceId}:${randomUUID()}` });
      this.values = new Store(redis);
      const onResubscribed = () => this.emitEvent(Events.SUBSCRIBER_RECONNECTED, Date.now() / 1000);
      redis.on('resubscribed', onResubscribed);
      const detachEvents = forwardConnectionEvents(redis, { emit: (event, ...args) => this.emitEvent(event, ...args), error: (error) => this.emitEvent(Events.ERROR, error) });
      this.detach = () => {
        redis.off('resubscribed', onResubscribed);
        detachEvents();
      };
      this.emitEvent(Events.CONNECTED);
      return true;
    }

    /**
     * Adds `handler` to the Bus of an upstream channel, made on first use (its drops count into this
     * provider's); returns the function that removes it. The Bus is dropped when its last handler is
     * removed, counted from the moment each is added: a subscribe racing the channel's last
     * unsubscribe either joins the Bus before it is counted empty or makes a new one.
     */
    private async onBus(channel: string, handler: BusHandler<unknown>): Promise<() => Promise<void>> {
      // On the current key's channel and the previous key's: an instance that has not read a rotation yet
      // publishes on the earlier ones only. A message comes on both from an instance that has: subscribe() hears it once.
      const names = this.hiddenChannels(channel);
      const entry = this.buses.get(channel) ?? { buses: names.map((name) => new Bus(this.redis, { channel: name, receiveOwn: true, onDrop: (reason) => this.drop(reason) })), handlers: 0 };
      this.buses.set(channel, entry);
      entry.handlers++;
      const release = () => {
        // Not a Bus of an earlier connection (disconnect() let go of them all).
        if (--entry.handlers === 0 && this.buses.get(channel) === entry) this.buses.delete(channel);
      };
      let stops: (() => Promise<void>)[];
      try {
        stops = await Promise.all(entry.buses.map((bus) => bus.subscribe(handler)));
      } catch (error) {
        release();
        throw error;
      }
      return () => {
        const stopping = Promise.all(stops.map((stop) => stop())).then(() => undefined); // each removes the handler before it awaits anything
        release();
        return stopping;
      };
    }

    /** Refuses a subscription during a disconnect; else the count of disconnects begun, for {@link remember}. */
    private subscribable(): number {
      if (this.disconnecting) throw new KccNotReadyError('the cluster provider is disconnecting: not subscribed');
      return this.disconnects;
    }

    /**
     * Keeps how to stop a listener (one per channel and listener, as upstream: a second subscription
     * replaces the first). A subscription that completes after a disconnect began (`session`: the
     * disconnects begun when it did) is undone at once: that disconnect no longer stops it.
     */
    private async remember(channel: string, listener: Listener | SubscriberListener, stop: () => Promise<void>, session: number): Promise<void> {
      if (session !== this.disconnects) {
        await stop().catch(() => undefined);
        throw new KccNotReadyError('the cluster provider disconnected while subscribing: not subscribed');
      }
      let listeners = this.stops.get(channel);
      if (!listeners) this.stops.set(channel, (listeners = new Map()));
      const previous = listeners.get(listener);
      listeners.set(listener, stop);
      await previous?.();
    }

    private async forget(channel: string, listener: Listener | SubscriberListener): Promise<boolean> {
      const listeners = this.stops.get(channel);
      const stop = listeners?.get(listener);
      if (!listeners || !stop) return false;
      listeners.delete(listener);
      if (listeners.size === 0) this.stops.delete(channel);
      await stop();
      return true;
    }

    private async stopAllListeners(): Promise<void> {
      const stops = [...this.stops.values()].flatMap((listeners) => [...listeners.values()]);
      this.stops.clear();
      this.buses.clear();
      await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
    }

    [HELD](): { buses: number; listened: number } {
      return { buses: this.buses.size, listened: this.stops.size };
    }

    private deliver(channel: string, call: () => unknown): void {
      // Never inside the socket's message handler, and a failing listener never reaches the others.
      void Promise.resolve()
        .then(call)
        .catch((error: unknown) => this.logger.warn('a keycloak-connector listener failed; the message was still delivered to the others', { error: String(error) }));
    }

    private seal(): ConnectorSeal {
      if (!this.sealing) throw new KccNotReadyError('the cluster provider is not connected: call connectOrThrow() first (the connector does)');
      return this.sealing;
    }

    /**
     * A value or message not taken: it did not open, or a value was past its expiry or a message older
     * than the seal allows. Taken as absent (a cache miss) or dropped (counted as `invalid`), and said
     * at most once a minute per process: Redis was written without the key-encryption key, or what a
     * writer of it put back was sealed before (or instances disagree on the key).
     */
    private refuse(...[what, why]: ['value', ValueRefusal] | ['message', Refusal]): void {
      if (what === 'message') this.drop('invalid');
      else this.refusedValues++;
      // At most once a minute for each kind and reason: a writer of Redis cannot flood the log, nor keep a
      // real problem of another kind (instances on different key-encryption keys) out of it.
      const now = performance.now();
      const kind = `${what}:${why}`;
      if (now - (lastRefusalReportAt.get(kind) ?? Number.NEGATIVE_INFINITY) < UNSEALED_REPORT_INTERVAL_MS) return;
      lastRefusalReportAt.set(kind, now);
      // No key or channel name: upstream's hold a refresh token's jti, which its cookie check takes as a credential.
      const said = what === 'value' ? REFUSALS.value[why] : REFUSALS.message[why];
      this.logger.warn(`a keycloak-connector ${what} in Redis ${said} (said at most once a minute)`);
    }

    /** `work`, or a KccConnectionError once `connectTimeoutMs` passed (a command waits out ioredis' reconnects, about a minute, while Redis is out of reach). */
    private withinConnectTimeout<T>(work: Promise<T>): Promise<T> {
      const limitMs = this.redis.config.connectTimeoutMs;
      return withTimeout(work, limitMs, () => new KccConnectionError(`Redis did not answer within ${limitMs} ms (connectTimeoutMs)`));
    }

    /** A write Redis refused or did not answer, said at most once a minute for each kind (an outage fails every request's). */
    private redisFault(what: string, outcome: string, error: unknown): void {
      const now = performance.now();
      const kind = `fault:${what}`;
      if (now - (lastRefusalReportAt.get(kind) ?? Number.NEGATIVE_INFINITY) < UNSEALED_REPORT_INTERVAL_MS) return;
      lastRefusalReportAt.set(kind, now);
      // No key or lock name: upstream's hold a refresh token's jti.
      this.logger.warn(`${what} failed, ${outcome} (said at most once a minute)`, { error: String(error) });
    }

    private drop(reason: DropReason): void {
      this.drops[reason]++;
      this.#options.onDrop?.(reason);
    }

    private async change(what: string, channel: string, operation: () => Promise<void>): Promise<boolean> {
      try {
        await operation();
        return true;
      } catch (error) {
        // Not the channel's name: upstream's name a refresh token's jti, which its cookie check takes as enough.
        this.logger.warn(`${what} a keycloak-connector channel failed`, { error: String(error) });
        return false;
      }
    }

    private get logger(): KccLogger {
      return this.connection?.config.logger ?? (this.#options.connection?.logger ? kccLogger(this.#options.connection.logger) : defaultLogger);
    }

    private requireLocks(): Locks {
      if (!this.locks || !this.connection) throw new KccNotReadyError('the cluster provider is not connected: call connectOrThrow() first');
      return this.locks;
    }

    private requireStore(): Store {
      if (!this.values || !this.connection) throw new KccNotReadyError('the cluster provider is not connected: call connectOrThrow() first');
      return this.values;
    }
  };
}

/** Upstream's TTLs are seconds, possibly fractional (a token's remaining lifetime). */
function secondsToMs(seconds: number, name: string): number {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new TypeError(`${name}: ${seconds} must be a positive number of seconds`);
  return Math.ceil(seconds * 1000);
}
