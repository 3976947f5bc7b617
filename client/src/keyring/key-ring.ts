import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { JWK } from 'jose';
import { emitGuarded } from '../guarded-emit.js';
import type { KccRedis } from '../connection.js';
import type { HeartbeatKeyRing } from '../heartbeat.js';
import { KccClosedError, KccKeyRingError, KccLockTimeoutError, KccNotReadyError } from '../errors.js';
import type { EventLogTail } from '../event-log.js';
import type { KccLogger } from '../logger.js';
import { OptionProblems, requireOptionsObject } from '../option-checks.js';
import { PauseWatch } from '../pause-watch.js';
import { waitAtMost } from '../time-limit.js';
import { type ClientAssertionRequest, type ClientAuthFunction, type SigningKey, privateKeyJwtClientAuth, signClientAssertion } from './client-assertion.js';
import { type KeyRingOptions, type ResolvedKeyRingOptions, planKeyRingOptions } from './key-ring-options.js';
import { type KeyRingStatus, inspectKeyRing } from './key-ring-status.js';
import { KeptKeys } from './kept-keys.js';
import { MAX_KEYS, type RingView, type RotationPlan, type StoredRing, planRotation, viewAt } from './ring-data.js';
import { RingKeeper } from './ring-keeper.js';
import { type StoredRingText, readStoredRing } from './ring-read.js';
import { KEY_RING_CHANGED, KEY_RING_CHECK, KEY_RING_KEYS } from './ring-keys.js';
import { type NewestEntries, RingLog, readNewestRingLog } from './ring-log.js';
import { type RingRefusalReason, reencryptRing } from './ring-seal.js';
import { generateSigningKey } from './signing-key.js';

/** Where a ring's connection logger is read, by what is built on the ring (not part of the public API). */
export const RING_LOGGER = Symbol('kcc-redis.ring-logger');

const LOCK_NAME = KEY_RING_KEYS.lock;
/** The longest close() waits for the ring's work in flight (a connection that is down would hold it for ioredis' retries). */
const CLOSE_WAIT_MS = 2_000;
/**
 * The longest a client assertion or a JWKS request waits for the ring to catch up with Redis when its
 * periodic read is overdue: 2 s, or the connection's `socketTimeoutMs` and a second where that is
 * longer but at most 4 s (a connection left silent by a freeze is replaced only after the socket
 * timeout: the docs' Lambda settings say 2 s). Never above 4 s, below the 5 s Keycloak's HTTP client
 * waits for a JWKS; with a longer socket timeout a silent connection could not be replaced in time
 * anyway, and the wait stays 2 s.
 */
const CATCH_UP_MIN_WAIT_MS = 2_000;
const CATCH_UP_MAX_WAIT_MS = 4_000;
const CATCH_UP_AFTER_SOCKET_TIMEOUT_MS = 1_000;
/** How late, beyond refreshIntervalMs, the periodic read may come (a busy event loop, a slow reply) before it counts as overdue. */
const READ_OVERDUE_SLACK_MS = 1_000;

/** The reads a start begins before its options are resolved (they need no key-encryption key). */
interface StartReads {
  readonly ring: Promise<StoredRingText | undefined>;
  readonly log: Promise<NewestEntries>;
}

/** A public JWKS document, as served at the client's `jwks_uri`. */
export interface JsonWebKeySet {
  readonly keys: readonly JWK[];
}

export interface KeyRingHealth {
  /**
   * `ready`: Redis holds the ring this instance signs with; `degraded`: the last read of Redis was
   * refused (tampered, rewound, under an unknown key-encryption key, keys not active yet on this
   * clock) and the ring held here signs,
   * until Redis holds a good ring again (this instance writes its ring back when it can); or Redis
   * has not answered a read of the ring for longer than `activationDelayMs` (at least twice
   * `refreshIntervalMs`): a rotation written since may be active elsewhere, and the ring held here
   * still signs, until a read succeeds again.
   */
  readonly status: 'ready' | 'degraded' | 'closed';
  /** Generation of the ring held (0 before the first). */
  readonly generation: number;
  readonly activeKid: string | undefined;
  /** When this instance last adopted a newer ring (ms since the epoch). */
  readonly lastLoadedAt: number;
  /** When the latest read of the ring that Redis answered was sent, whatever it held (ms since the epoch; 0 before the first). */
  readonly lastReadAt: number;
  /** Why the last read was refused, or since when the ring has not been read, while degraded. */
  readonly lastError: string | undefined;
  /**
   * Whether the ring's periodic read is overdue: Redis has not answered a read of the ring for more
   * than `refreshIntervalMs` and a second (this process was frozen or paused, or Redis is out of
   * reach), also after a catch-up that ran out. The ring held here may then lack a key another
   * instance activated at once (an emergency rotation), so the plugin's JWKS route answers
   * `Cache-Control: no-cache` meanwhile: no cache keeps such a set without asking again.
   */
  readonly readOverdue: boolean;
}

/** Counters of one {@link KeyRing}, for diagnostics and metrics. */
export interface KeyRingStats {
  /** Rings read from Redis and refused, by reason. */
  readonly refused: Readonly<Partial<Record<RingRefusalReason, number>>>;
  /** Times this instance wrote the ring it holds back over a missing or refused one. */
  readonly restored: number;
  /** Times this instance rewrote the ring under the current key-encryption key. */
  readonly reencrypted: number;
  /** New keys this instance wrote: `initial` (the first key of an empty namespace), `scheduled`, `immediate` (emergency). */
  readonly rotations: Readonly<Record<'initial' | 'scheduled' | 'immediate', number>>;
}

/** What {@link KeyRing} shows when printed, inspected or serialized: no key, no key-encryption key. */
export interface KeyRingSummary {
  readonly health: KeyRingHealth;
  readonly publishedKids: string[];
  /** Fingerprint of the current key-encryption key. */
  readonly kek: string;
  readonly stats: KeyRingStats;
}

export interface KeyRingEvents {
  /** The ring changed, or which key is active or which keys are published (a key reaching its time). */
  change: [info: { generation: number; activeKid: string | undefined; publishedKids: string[] }];
  /** A ring read from Redis was refused; the ring held here stays in use. */
  degraded: [reason: string];
  /** Redis holds a good ring again. */
  recovered: [];
  /**
   * This instance wrote the ring it holds back to Redis (Redis lost it, or held one that was refused).
   * `carriedOver`: kids of the refused ring kept published for `retireGraceMs` (a ring an instance
   * created while Redis had lost this one; see the signing-keys guide).
   */
  restored: [info: { generation: number; replaced: RingRefusalReason | 'absent'; carriedOver: readonly string[] }];
}

export interface RotateOptions {
  /** Activate the new key now, drop every older key from the JWKS at once and retire them as compromised. */
  readonly immediate?: boolean;
}

/** Every option of {@link RotateOptions} (the compiler keeps the list whole). */
const ROTATE_OPTION_NAMES = { immediate: true } satisfies Record<keyof RotateOptions, true>;

export interface RotateResult {
  /**
   * False when a next key was already pending, or another caller rotated meanwhile; `kid` is then
   * that key: pending while `activatesAt` is ahead, else the key another instance's emergency
   * rotation activated. A new generation without a new key (a rewrite under the current
   * key-encryption key, a write-back) does not count: the call rotates.
   */
  readonly rotated: boolean;
  readonly kid: string;
  readonly activatesAt: number;
}

/**
 * One signing-key ring per app-env, shared by every instance through Redis: all sign with the same
 * active key, all serve the same JWKS (active, next, and previous keys until their grace ends).
 * Private keys are stored only as JWEs under a key-encryption key that never goes to Redis, and the
 * whole ring is authenticated under a key derived from it; an instance never goes back to an older
 * generation or to a key retired as compromised.
 *
 * @example
 * const ring = await KeyRing.start(redis, { keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID });
 * app.get('/jwks', () => ring.currentJwks());
 * const config = await discovery(issuer, clientId, undefined, ring.clientAuth());
 */
export class KeyRing extends EventEmitter<KeyRingEvents> {
  private readonly log: RingLog;
  /** Holds the newest good ring and keeps Redis in line with it. */
  private readonly keeper: RingKeeper;
  private view: RingView | undefined;
  private jwksDocument: JsonWebKeySet = { keys: [] };
  private tail: EventLogTail | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** The ring's work in flight (syncs, ticks, rotations): close() waits for it, so a lock it holds is released while the connection is open. */
  private readonly working = new Set<Promise<unknown>>();
  private unhook: (() => void) | undefined;
  /** Removes this ring's part of the heartbeat: at the start of close (a closing ring is not a degraded one). */
  private unreport: (() => void) | undefined;
  private closeRun: Promise<void> | undefined;
  private boundaryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Whether the `degraded` event for a ring not read in time was emitted (and `recovered` not yet). */
  private staleReported = false;
  /** The catch-up with Redis that client assertions wait for, shared by those signed meanwhile. */
  private catchingUp: Promise<void> | undefined;
  /** The last catch-up that ran out, after the read at `readAt` (monotonic), and the watch for a pause of the process since. */
  private catchUpGaveUp: { readonly readAt: number; readonly watch: PauseWatch } | undefined;
  /** Retired keys kept in the JWKS ({@link keepPublished}). */
  private readonly kept: KeptKeys;
  private readonly rotations = { initial: 0, scheduled: 0, immediate: 0 };

  /**
   * Loads the ring (creating the first key of an empty namespace, by exactly one instance) and
   * resolves as soon as this instance can sign.
   */
  static async start(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRing> {
    requireOptionsObject(options, 'KeyRing.start options', "KeyRing.start(redis, { keyEncryptionKeySecretId: '…' })");
    // Options with a problem are refused before anything is sent to Redis or AWS.
    const readKeys = planKeyRingOptions(options, redis.config.logger, redis.config.region, redis.config.connectTimeoutMs);
    // The stored ring and the log's newest entries need no key-encryption key to be read: the round
    // trip runs while the key-encryption keys are derived or fetched.
    const reads: StartReads = { ring: readStoredRing(redis, KEY_RING_KEYS.ring), log: readNewestRingLog(redis) };
    reads.ring.catch(() => undefined);
    reads.log.catch(() => undefined);
    return KeyRing.startResolved(redis, await readKeys(), reads);
  }

  /**
   * {@link start} with options already resolved (`resolveKeyRingOptions`, which may read the
   * key-encryption key from Secrets Manager): the Fastify plugin resolves them while it connects.
   * @internal
   */
  static async startResolved(redis: KccRedis, resolved: ResolvedKeyRingOptions, reads?: StartReads, signal?: AbortSignal): Promise<KeyRing> {
    if (resolved.unsafePlaintext) {
      redis.config.logger.warn('UNSAFE: private signing keys are stored in Redis under a well-known key (unsafeAllowPlaintextPrivateKeys); local development only');
    }
    const ring = new KeyRing(redis, resolved);
    ring.unhook = redis.beforeClose(() => ring.close());
    ring.unreport = redis.reportInHeartbeat(() => ({ keyRing: ring.heartbeatReport() }));
    // `signal` (the Fastify plugin's, on a connection the app passed in) closes the ring being started, as closing the connection would.
    const abort = (): void => void ring.close();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      if (signal?.aborted) throw new KccClosedError('key ring closed before starting');
      // Tracked: a close meanwhile (KccRedis.close closes the ring first) waits for it, and it stops at its next step.
      await ring.track(ring.begin(reads));
      ring.assertOpen();
    } catch (error) {
      await ring.close();
      throw error;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    return ring;
  }

  /**
   * Reads the app-env's ring and verifies it (authentication, format, private keys), changing
   * nothing in Redis: for status reports and operator tools. Reads the key-encryption keys as
   * {@link start} does.
   *
   * @example
   * const status = await KeyRing.inspect(redis, { keyEncryptionKeySecretId });
   * if (status.state === 'verified') console.log(status.generation, status.activeKid, status.nextKid);
   */
  static async inspect(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRingStatus> {
    requireOptionsObject(options, 'KeyRing.inspect options', "KeyRing.inspect(redis, { keyEncryptionKeySecretId: '…' })");
    return inspectKeyRing(redis, options);
  }

  private constructor(
    private readonly redis: KccRedis,
    private readonly options: ResolvedKeyRingOptions,
  ) {
    super();
    this.log = new RingLog(redis, options.eventLogMaxAgeMs);
    this.keeper = new RingKeeper(redis, options, this.log);
    this.kept = new KeptKeys(this.keeper, options, redis.config.logger, (look) => this.background(look));
    this.keeper.on('adopted', () => this.rebuildView(true));
    this.keeper.on('degraded', (reason) => this.notify('degraded', reason));
    // Not while the ring also went unread too long: reportStaleness says `recovered` once both are over.
    this.keeper.on('recovered', () => {
      if (!this.staleReported) this.notify('recovered');
    });
    this.keeper.on('restored', (info) => this.notify('restored', info));
  }

  /**
   * The public JWKS: the active key, the next key, and retired keys until their grace ends. Served from
   * memory, never waiting: where an identity provider fetches it, serve {@link currentJwks} instead.
   */
  jwks(): JsonWebKeySet {
    this.currentView();
    return this.jwksDocument;
  }

  /**
   * {@link jwks}, after a catch-up with Redis when the ring's periodic read is overdue (as
   * {@link signClientAssertion} does; 2 to 4 s at most). After a freeze (an AWS Lambda environment between
   * invocations) the set held here may lack a key another instance activated meanwhile, and an
   * identity provider that caches it would refuse that instance's assertions until it fetches again.
   * The plugin's JWKS route serves this.
   *
   * @example
   * app.get('/.well-known/jwks.json', () => ring.currentJwks());
   */
  async currentJwks(): Promise<JsonWebKeySet> {
    if (this.readOverdue()) await this.catchUp();
    return this.jwks();
  }

  /**
   * The key to sign with now, from the ring held here (synchronous: it never waits for Redis; a client
   * assertion through {@link clientAuth} or {@link signClientAssertion} first catches up with Redis when
   * the ring's periodic read is overdue). Throws when the ring has no active key (never after a
   * successful start).
   */
  signingKey(): SigningKey {
    const view = this.currentView();
    const active = view.active;
    const key = active && this.keeper.ring?.usable.privateKeys.get(active.kid);
    if (!active || !key) throw new KccNotReadyError('the key ring has no active signing key');
    return { kid: active.kid, alg: active.alg, key };
  }

  /**
   * Signs a Keycloak-compatible `private_key_jwt` client assertion with the active key. When the ring
   * has gone unread longer than `refreshIntervalMs` (and a second), as after this process was frozen
   * (an AWS Lambda environment between invocations), it first reads the ring from Redis, waiting 2 s
   * at most (`socketTimeoutMs` and a second where that is up to 4 s), so that a rotation written meanwhile is not missed.
   *
   * @example
   * const assertion = await ring.signClientAssertion({ clientId: 'my-app', audience: 'https://sso.example/realms/main' });
   */
  async signClientAssertion(request: ClientAssertionRequest): Promise<string> {
    return signClientAssertion(await this.currentSigningKey(), request);
  }

  /**
   * An openid-client v6 `ClientAuth` that signs with the key active at each call, so a rotation
   * needs no rediscovery; catches up with Redis first as {@link signClientAssertion} does.
   *
   * @example
   * const config = await client.discovery(new URL(issuer), 'my-app', undefined, ring.clientAuth());
   */
  clientAuth(): ClientAuthFunction {
    return privateKeyJwtClientAuth(() => this.currentSigningKey());
  }

  /**
   * {@link signingKey}, after a catch-up with Redis when the periodic read of the ring is overdue: this
   * process was frozen or paused (no timer ran, no event was read), or Redis did not answer. A rotation
   * written meanwhile may not be held here, and an emergency one drops the held key from every JWKS
   * at once. A catch-up waits 2 s (`socketTimeoutMs` and a second where that is up to 4 s); one that
   * runs out answers with the ring held here, and none is tried again until Redis answers a read, or
   * until this process was paused (frozen, suspended, its event loop stalled for more than 2 s): an
   * outage does not make every assertion wait. What {@link signClientAssertion} and
   * {@link clientAuth} sign with; for signing anything else with the ring's key.
   */
  async currentSigningKey(): Promise<SigningKey> {
    if (this.readOverdue()) await this.catchUp();
    return this.signingKey();
  }

  /** Whether the ring went unread longer than `refreshIntervalMs` and a second. */
  private readTimeOverdue(): boolean {
    const readAt = this.keeper.lastReadAtMonotonic;
    if (this.closed || readAt === 0) return false;
    const overdueAfter = this.options.refreshIntervalMs + READ_OVERDUE_SLACK_MS;
    // Either clock: whether the monotonic one advances across a freeze of the whole environment is not known.
    return performance.now() - readAt > overdueAfter || Date.now() - this.keeper.lastReadAt > overdueAfter;
  }

  /** Whether to catch up with Redis before answering. */
  private readOverdue(): boolean {
    if (!this.readTimeOverdue()) return false;
    const readAt = this.keeper.lastReadAtMonotonic;
    // After a catch-up ran out (Redis out of reach), none is tried until a read succeeds (an outage
    // does not make every assertion wait), unless the process was paused since (a freeze right after
    // it, Redis back by the thaw): then one is. Asks alone cannot tell a quiet period from a freeze.
    const gaveUp = this.catchUpGaveUp;
    return gaveUp?.readAt !== readAt || gaveUp.watch.paused;
  }

  private catchUp(): Promise<void> {
    this.catchingUp ??= (async () => {
      const started = performance.now();
      let waiting = true;
      // Looks at the clocks from the start: a pause during the wait (a freeze, its timer firing at the
      // thaw) counts, not only one after it ran out.
      const watch: PauseWatch = new PauseWatch(
        (): boolean => !this.closed && (waiting || (this.catchUpGaveUp?.watch === watch && this.keeper.lastReadAtMonotonic === this.catchUpGaveUp.readAt)),
      );
      const afterSocketTimeout = this.redis.config.socketTimeoutMs + CATCH_UP_AFTER_SOCKET_TIMEOUT_MS;
      const waitMs = afterSocketTimeout <= CATCH_UP_MAX_WAIT_MS ? Math.max(CATCH_UP_MIN_WAIT_MS, afterSocketTimeout) : CATCH_UP_MIN_WAIT_MS;
      // A connection reconnecting (closed during a freeze) does so now, not after ioredis' backoff.
      const release = this.redis.hurryReconnects();
      try {
        await waitAtMost(this.track(this.keeper.sync()), waitMs);
      } finally {
        release();
        waiting = false;
      }
      // Caught up by a read sent since, or by one sent just before that is recent enough (a load under
      // way that the sync joined); not by one sent before a freeze, which tells the ring as it was then.
      if (this.keeper.lastReadAtMonotonic >= started || !this.readTimeOverdue()) return watch.stop();
      const readAt = this.keeper.lastReadAtMonotonic;
      this.catchUpGaveUp?.watch.stop();
      // A watch that saw a pause during the wait (Redis may be back) lets the next ask catch up again.
      this.catchUpGaveUp = { readAt, watch };
      this.redis.config.logger.warn(
        `key ring: not read from Redis for ${Math.floor((performance.now() - readAt) / 1000)} s (this process was paused or frozen, Redis does not answer, or the ring read waits for the key-encryption keys), ` +
          `and a read did not come within ${waitMs} ms: client assertions sign with kid ${this.view?.active?.kid ?? 'none'} and the JWKS is served as held here, ` +
          'without waiting again until Redis answers a read (or this process was paused); a rotation written meanwhile may be active on other instances',
      );
    })().finally(() => {
      this.catchingUp = undefined;
    });
    return this.catchingUp;
  }

  /**
   * Publishes a new key, active after `activationDelayMs` (or at once with `immediate`). Exactly one
   * of any number of concurrent callers across instances rotates; the others get its result.
   */
  async rotate(options: RotateOptions = {}): Promise<RotateResult> {
    // Checked before anything: `immediate: 'true'` (a string from the environment) read as false would
    // rotate on schedule, leaving a compromised key signing for activationDelayMs.
    requireOptionsObject(options, 'KeyRing.rotate options', 'ring.rotate({ immediate: true })');
    const problems = new OptionProblems();
    problems.boolean('immediate', options.immediate, false);
    problems.unknownKeys(options, ROTATE_OPTION_NAMES);
    problems.throwIfAny('KeyRing.rotate options');
    this.assertOpen();
    return this.track(this.rotateNow(options));
  }

  private async rotateNow(options: RotateOptions): Promise<RotateResult> {
    await this.keeper.sync();
    const seen = this.generation;
    // A rotation by someone else shows as a key not in the ring now; a new generation alone does not
    // (a rewrite under the current key-encryption key, a write-back carrying keys that never sign).
    const seenKids = new Set(this.keeper.ring?.usable.ring.keys.map((k) => k.kid));
    const mode = options.immediate === true ? 'immediate' : 'scheduled';
    // Monotonic: a wall-clock step during the wait must neither end it early nor stretch it.
    const deadline = performance.now() + this.options.lockTtlMs * 2;
    // The generation waited past: moved on with each change seen, or a change already seen would end every wait at once.
    let waitedPast = seen;
    for (;;) {
      const lock = await this.keeper.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
      if (lock) {
        try {
          return await this.rotateLocked(seen, seenKids, mode);
        } finally {
          await lock.release();
        }
      }
      // Checked right after a try, so the last thing before giving up is a try.
      if (performance.now() > deadline) throw new KccLockTimeoutError('could not take the key-ring rotation lock in time');
      // Someone else is rotating. A normal rotation is satisfied by theirs; an emergency one waits its turn.
      const changed = await this.keeper.waitForGenerationAbove(waitedPast, Math.min(this.options.lockTtlMs, 1_000));
      // Closed meanwhile: no lock is taken for a ring that no longer runs (its close waits for this call at most 2 s).
      this.assertOpen();
      waitedPast = Math.max(waitedPast, this.generation);
      const theirs = changed && mode === 'scheduled' ? this.rotatedSince(seenKids) : undefined;
      if (theirs) return { rotated: false, kid: theirs.kid, activatesAt: theirs.activatesAt };
    }
  }

  /**
   * Keeps `kid` in the JWKS, past `retireGraceMs` after it stopped signing, until the returned function
   * is called: for a signer that cannot move to the active key, such as upstream keycloak-connector's
   * token cache, which signs refresh-token grants with the key of the connector's start for as long as
   * the process runs (`kccKeyProvider` keeps that key). While a retired key kept here is due to leave
   * the JWKS within half the grace (at least two `refreshIntervalMs`), this instance moves its leaving
   * a grace later, under the ring's lock (one write for the whole fleet), and every instance serves
   * it. A kept key that left the JWKS anyway (no instance could keep it in time: Redis out of reach,
   * every keeper frozen) is published again while the ring still stores it (until a rotation or a
   * rewrite under a new key-encryption key drops it).
   * Once no instance keeps it, it leaves the JWKS within a grace (or four `refreshIntervalMs`, if
   * longer). An emergency rotation removes it at once as ever: a compromised key is never kept. With
   * `retireGraceMs` 0 nothing is kept.
   */
  keepPublished(kid: string): () => void {
    const release = this.kept.keep(kid);
    this.background(this.kept.look());
    return release;
  }

  /** Current state, for health endpoints. */
  health(): KeyRingHealth {
    const lastError = this.keeper.lastError ?? this.staleness();
    return {
      status: this.closed ? 'closed' : lastError ? 'degraded' : 'ready',
      generation: this.generation,
      activeKid: this.view?.active?.kid,
      lastLoadedAt: this.keeper.lastLoadedAt,
      lastReadAt: this.keeper.lastReadAt,
      lastError,
      readOverdue: this.readTimeOverdue(),
    };
  }

  /**
   * How long the ring may go unread before this instance says it is degraded: `activationDelayMs`,
   * the least time between a rotation's write and any instance signing with its key, so up to then the
   * key held here is still the one every instance signs with. At least twice `refreshIntervalMs`: an
   * idle instance reads the ring only that often.
   */
  private get staleAfterMs(): number {
    return Math.max(this.options.activationDelayMs, 2 * this.options.refreshIntervalMs);
  }

  /** Why the ring held here may be out of date (Redis not read in time), or undefined. */
  private staleness(now = Date.now()): string | undefined {
    const readAt = this.keeper.lastReadAt;
    if (this.closed || readAt === 0 || now - readAt <= this.staleAfterMs) return undefined;
    return (
      `the key ring has not been read from Redis since ${new Date(readAt).toISOString()} (${Math.floor((now - readAt) / 1000)} s, more than ${this.staleAfterMs / 1000} s): ` +
      `a rotation written since may be active on other instances; still signing with kid ${this.view?.active?.kid ?? 'none'} of generation ${this.generation} held here`
    );
  }

  /**
   * Says once when the ring goes unread too long (`degraded`, unless a refused ring already made it
   * so), and once when a read succeeds again (`recovered`, unless a refused ring still keeps it so).
   */
  private reportStaleness(): void {
    const stale = this.staleness();
    if (stale !== undefined && !this.staleReported) {
      this.staleReported = true;
      this.redis.config.logger.warn(stale);
      if (!this.keeper.lastError) this.notify('degraded', stale);
    } else if (stale === undefined && this.staleReported) {
      this.staleReported = false;
      if (!this.keeper.lastError && !this.closed) this.notify('recovered');
    }
  }

  /** @internal The logger of the ring's connection: what a component built on the ring warns through when it was given none. */
  get [RING_LOGGER](): KccLogger {
    return this.redis.config.logger;
  }

  /** Counters, for diagnostics and metrics (a snapshot). */
  get stats(): KeyRingStats {
    return { ...this.keeper.stats, rotations: { ...this.rotations } };
  }

  /**
   * Stops timers and the event-log tail, and waits (at most 2 s) for a sync or rotation in flight,
   * so that a lock it holds is released. The Redis connection stays open (it is the caller's).
   */
  close(): Promise<void> {
    // One close for every caller (the app, KccRedis.close): each resolves once the work is done. Its
    // hook stays until then, so a KccRedis.close() running beside it waits for it too.
    this.unreport?.();
    this.closeRun ??= this.closeOnce().finally(() => this.unhook?.());
    return this.closeRun;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    this.keeper.stop();
    this.timers.forEach((timer) => clearInterval(timer));
    clearTimeout(this.boundaryTimer);
    this.kept.stop();
    await this.tail?.stop();
    // A sync or rotation under the ring's lock releases it when done; the caller may close the
    // connection right after this resolves, and a release sent then would leave the lock held for
    // its TTL, and a start that finds no ring waiting on it.
    if (!(await waitAtMost(Promise.allSettled([...this.working]), CLOSE_WAIT_MS))) {
      this.redis.config.logger.warn(`key ring closed with a sync or rotation still running after ${CLOSE_WAIT_MS} ms (Redis slow or out of reach): a lock it holds stays until it expires (lockTtlMs)`);
    }
  }

  /** What this instance's heartbeat entry says of the ring. */
  private heartbeatReport(): HeartbeatKeyRing {
    const health = this.health();
    return { status: health.status === 'ready' ? 'ready' : 'degraded', generation: health.generation, ...(health.activeKid === undefined ? {} : { activeKid: health.activeKid }) };
  }

  /** What `JSON.stringify` shows: the ring's public state and the key-encryption key's fingerprint, never a key. */
  toJSON(): KeyRingSummary {
    return { health: this.health(), publishedKids: this.view?.published.map((k) => k.kid) ?? [], kek: this.options.keks.current.fingerprint, stats: this.stats };
  }

  /** What `console.log` and `util.inspect` show: the same as {@link toJSON}. */
  [inspect.custom](_depth: number, options: object): string {
    return `KeyRing ${inspect(this.toJSON(), options)}`;
  }

  private get generation(): number {
    return this.keeper.generation;
  }

  private async begin(reads?: StartReads): Promise<void> {
    // One round trip: the log's newest entries (the newest generation written, and the position the
    // tail starts from, both from one read) and the ring, read together. Their order does not matter:
    // a ring written after the log read and before the ring read is in the ring; one written after the
    // ring read is after the position, so the tail reads it; one written after the ring read and before
    // the log read shows as a log generation above the ring's and is waited for below.
    const [logNewest, result] = await Promise.all([this.keeper.readLogGeneration(reads?.log), this.keeper.load(reads?.ring)]);
    this.assertOpen(); // no reader connection opened for a ring closed meanwhile
    const tail = await this.log.tail(
      (event) => {
        if (event.type === KEY_RING_CHANGED || event.type === KEY_RING_CHECK) this.background(this.keeper.sync());
      },
      { from: logNewest.position, onGap: () => this.background(this.keeper.sync()) },
    );
    // Closed while the tail started (an abort, on a connection that stays open): its close did not see this tail.
    if (this.closed) {
      await tail.stop();
      throw new KccClosedError('key ring closed while starting');
    }
    this.tail = tail;
    const logGeneration = logNewest.generation;
    const waited = result.state === 'absent' || this.generation < logGeneration;
    if (waited) await this.keeper.awaitNewestRing();
    this.assertOpen(); // closed while it waited: no ring is created or adopted
    if (result.state === 'absent' && !this.keeper.ring) await this.createFirstKey();
    else if (!this.keeper.ring) throw new KccKeyRingError(this.keeper.startRefusal());
    // Just read and adopted: no need to read it again, only to rewrite it if it is under an earlier key-encryption key.
    else if (!waited && result.state === 'adopted') await this.keeper.reencryptIfEarlierKek();
    else await this.keeper.sync(); // e.g. under an earlier key-encryption key: rewrite it under the current one
    this.assertOpen(); // no timers for a ring closed while it started
    const every = (ms: number, run: () => Promise<unknown>) => {
      const timer = setInterval(() => void this.track(run()), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.refreshIntervalMs, () => this.tick());
    every(this.options.keyEncryptionKeyRefreshIntervalMs, async () => {
      if (!this.closed && (await this.options.keks.refresh())) this.background(this.keeper.sync());
    });
  }

  private async createFirstKey(): Promise<void> {
    const deadline = performance.now() + this.options.lockTtlMs * 2;
    for (;;) {
      const lock = await this.keeper.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
      if (lock) {
        try {
          // Closed while it took the lock or read: no ring is created (the lock is released below).
          this.assertOpen();
          // Another instance may have written the first key while this one waited for the lock.
          const { state } = await this.keeper.load();
          this.assertOpen();
          if (state === 'absent') await this.writeNewKey(0, undefined, 'immediate');
          else if (!this.keeper.ring) throw new KccKeyRingError(this.keeper.startRefusal());
        } finally {
          await lock.release();
        }
        return;
      }
      // Tried again between waits: a holder that died leaves the lock until its TTL, and then nobody else creates the ring.
      if (performance.now() > deadline) {
        throw new KccLockTimeoutError(`no key ring appeared within ${this.options.lockTtlMs * 2} ms while another instance held the creation lock`);
      }
      if (await this.keeper.waitForGenerationAbove(0, Math.min(this.options.lockTtlMs, 1_000))) return;
      this.assertOpen();
    }
  }

  /**
   * Under the lock: makes sure Redis holds the ring held here, then, unless a next key is pending or
   * someone rotated since generation `seen` (a key not among `seenKids` signs or will), writes the next one.
   */
  private async rotateLocked(seen: number, seenKids: ReadonlySet<string>, mode: RotationPlan['mode']): Promise<RotateResult> {
    const stored = await this.keeper.heldInRedis();
    const view = this.currentView();
    const theirs = this.generation !== seen && mode === 'scheduled' ? this.rotatedSince(seenKids) : undefined;
    if (theirs) return { rotated: false, kid: theirs.kid, activatesAt: theirs.activatesAt };
    if (view.next && mode === 'scheduled') return { rotated: false, kid: view.next.kid, activatesAt: view.next.activatesAt };
    return this.writeNewKey(stored?.version ?? 0, this.keeper.ring?.usable.ring, mode);
  }

  /** The key another rotation added since the ring held `seenKids`: the next key, or the active one, if it is new; else undefined. */
  private rotatedSince(seenKids: ReadonlySet<string>): { kid: string; activatesAt: number } | undefined {
    const view = this.currentView();
    return [view.next, view.active].find((k) => k !== undefined && !seenKids.has(k.kid));
  }

  /** Generates a key, adds it to `ring` as planned for `mode`, and writes the result over `storeVersion` (compare-and-set). */
  private async writeNewKey(storeVersion: number, ring: StoredRing | undefined, mode: RotationPlan['mode']): Promise<RotateResult> {
    const now = Date.now();
    const kek = this.options.keks.current;
    const generated = await generateSigningKey(this.options.algorithm);
    const added = { kid: generated.kid, alg: generated.alg, publicJwk: generated.publicJwk, privateJwe: await kek.encrypt(generated.privateJwk, generated.kid) };
    // Earlier keys move to the current key-encryption key with the same write.
    const base = ring ? await reencryptRing(ring, this.options.keks, now) : { keys: [], compromised: [] };
    const { droppedEarly, ...planned } = planRotation(base, added, { mode, now, activationDelayMs: this.options.activationDelayMs, retireGraceMs: this.options.retireGraceMs });
    const written = await this.keeper.write(storeVersion, { ...ring, ...planned });
    if (written && droppedEarly.length > 0) {
      this.redis.config.logger.warn(
        `key ring rotation: the ring holds at most ${MAX_KEYS} keys, so retired key(s) ${droppedEarly.join(', ')} left the JWKS before retireGraceMs ended; ` +
          'tokens they signed no longer verify. Rotate less often than retireGraceMs / 14 (rotateEveryMs, manual rotations) or shorten retireGraceMs; keys kept published (keepPublished: kccKeyProvider keeps the key each connector started on) count too, so restart long-running connector instances',
      );
    }
    // Only possible if the lock expired mid-rotation: the other writer's ring stands.
    if (!written) return this.unchanged();
    this.rotations[ring ? mode : 'initial']++;
    return { rotated: true, kid: generated.kid, activatesAt: planned.keys.at(-1)!.activatesAt };
  }

  /** Runs one sync at a time; a failure is logged, never left as an unhandled rejection. */
  private background(work: Promise<unknown>): void {
    this.track(work).catch((error: unknown) => this.redis.config.logger.warn('key ring sync failed; will retry', { error: String(error) }));
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.working.add(work);
    const done = () => this.working.delete(work);
    work.then(done, done);
    return work;
  }

  /** The result of a rotation that did not happen here: the ring's next (or active) key. */
  private unchanged(): RotateResult {
    const view = this.keeper.ring ? this.currentView() : undefined;
    const key = view?.next ?? view?.active;
    if (!key) throw new KccKeyRingError(this.keeper.lastError ?? 'the key ring in Redis has no usable key');
    return { rotated: false, kid: key.kid, activatesAt: key.activatesAt };
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    // Before the read too: one that hangs (Redis unreachable) must not delay saying so.
    this.reportStaleness();
    try {
      await this.keeper.sync();
      const view = this.currentView();
      if (view.active && !view.next && view.active.activatesAt + this.options.rotateEveryMs <= Date.now()) await this.rotate();
      await this.kept.look();
    } catch (error) {
      this.redis.config.logger.warn('key ring refresh failed; will retry', { error: String(error) });
    }
    this.reportStaleness();
  }

  private currentView(): RingView {
    if (!this.view || Date.now() >= this.view.validUntil) this.rebuildView(false);
    return this.view!;
  }

  private rebuildView(ringChanged: boolean): void {
    const held = this.keeper.ring;
    if (!held) return;
    const previousActive = this.view?.active?.kid;
    const previousPublished = this.view?.published.map((k) => k.kid).join();
    const view = viewAt(held.usable.ring, Date.now());
    this.view = view;
    this.jwksDocument = Object.freeze({ keys: Object.freeze(view.published.map((k) => Object.freeze({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' }))) });
    clearTimeout(this.boundaryTimer);
    if (Number.isFinite(view.validUntil) && !this.closed) {
      // setTimeout caps at 2^31-1 ms; a later boundary is reached by the periodic refresh.
      this.boundaryTimer = setTimeout(() => this.rebuildView(false), Math.min(view.validUntil - Date.now() + 1, 2 ** 31 - 1));
      this.boundaryTimer.unref();
    }
    // A key reaching its time (a next key activating, a retired one leaving the JWKS) changes the view too.
    if (ringChanged || view.active?.kid !== previousActive || view.published.map((k) => k.kid).join() !== previousPublished) {
      this.notify('change', { generation: this.generation, activeKid: view.active?.kid, publishedKids: view.published.map((k) => k.kid) });
    }
    // A rotation (here or by another instance) may leave a kept key less time than the next read is away.
    if (ringChanged && this.kept.size > 0) this.background(this.kept.look());
  }

  /** Emits to the app's listeners; one that throws is logged (an adoption or a timer must not stop halfway). */
  private notify<E extends keyof KeyRingEvents>(event: E, ...args: KeyRingEvents[E]): void {
    emitGuarded(this.redis.config.logger, `key ring's "${event}"`, () => (this.emit as (event: E, ...args: KeyRingEvents[E]) => boolean)(event, ...args));
  }

  private assertOpen(): void {
    if (this.closed) throw new KccClosedError('key ring is closed');
  }
}
