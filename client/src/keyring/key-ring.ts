import { EventEmitter } from 'node:events';
import { isPlainObject } from '../plain-object.js';
import { KEK_HISTORY_LENGTH } from '../contract/user-secret.js';
import { inspect } from 'node:util';
import type { JWK } from 'jose';
import type { KccRedis } from '../connection.js';
import { KccClosedError, KccKeyRingError, KccLockTimeoutError, KccNotReadyError } from '../errors.js';
import { EventLog, type EventLogTail } from '../event-log.js';
import { type LockHandle, Locks } from '../lock.js';
import { Store, type Versioned } from '../store.js';
import { type ClientAssertionRequest, type ClientAuthFunction, type SigningKey, privateKeyJwtClientAuth, signClientAssertion } from './client-assertion.js';
import { type KeyEncryptionKey, jweKekFingerprint } from './key-encryption.js';
import { type KeyRingOptions, type ResolvedKeyRingOptions, resolveKeyRingOptions } from './key-ring-options.js';
import { type KeyRingStatus, inspectKeyRing } from './key-ring-status.js';
import { MAX_COMPROMISED_KIDS, RING_FORMAT_VERSION, type RingView, type RotationPlan, type StoredRing, planRotation, viewAt } from './ring-data.js';
import { type RingFacts, judgeRing } from './ring-judge.js';
import { KEY_RING_CHANGED, KEY_RING_CHECK, KEY_RING_KEYS } from './ring-keys.js';
import { RingRefusal, type RingRefusalReason, type UsableRing, openRing, reencryptRing, sealRing, unlockRing } from './ring-seal.js';
import { generateSigningKey } from './signing-key.js';

const KEY_RING_NAME = KEY_RING_KEYS.ring;
const LOCK_NAME = KEY_RING_KEYS.lock;

/** A public JWKS document, as served at the client's `jwks_uri`. */
export interface JsonWebKeySet {
  readonly keys: readonly JWK[];
}

export interface KeyRingHealth {
  /**
   * `ready`: Redis holds the ring this instance signs with; `degraded`: the last read of Redis was
   * refused (tampered, rewound, under an unknown key-encryption key) and the ring held here signs,
   * until Redis holds a good ring again (this instance writes its ring back when it can).
   */
  readonly status: 'ready' | 'degraded' | 'closed';
  /** Generation of the ring held (0 before the first). */
  readonly generation: number;
  readonly activeKid: string | undefined;
  readonly lastLoadedAt: number;
  /** Why the last read was refused, while degraded. */
  readonly lastError: string | undefined;
}

/** Counters of one {@link KeyRing}, for diagnostics and metrics. */
export interface KeyRingStats {
  /** Rings read from Redis and refused, by reason. */
  readonly refused: Readonly<Partial<Record<RingRefusalReason, number>>>;
  /** Times this instance wrote the ring it holds back over a missing or refused one. */
  readonly restored: number;
  /** Times this instance rewrote the ring under the current key-encryption key. */
  readonly reencrypted: number;
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
  /** The ring (or which key is active) changed. */
  change: [info: { generation: number; activeKid: string | undefined; publishedKids: string[] }];
  /** A ring read from Redis was refused; the ring held here stays in use. */
  degraded: [reason: string];
  /** Redis holds a good ring again. */
  recovered: [];
  /** This instance wrote the ring it holds back to Redis (Redis lost it, or held one that was refused). */
  restored: [info: { generation: number; replaced: RingRefusalReason | 'absent' }];
}

export interface RotateOptions {
  /** Activate the new key now, drop every older key from the JWKS at once and retire them as compromised. */
  readonly immediate?: boolean;
}

export interface RotateResult {
  /** False when another instance rotated (or a next key was already pending); `kid` is then that key. */
  readonly rotated: boolean;
  readonly kid: string;
  readonly activatesAt: number;
}

/**
 * Data of the ring's log events. A change carries the generation written, tagged under the
 * key-encryption key that wrote it: a starting instance learns from the log which generation Redis
 * should hold at least, which an attacker without the key-encryption key cannot raise.
 */
interface RingEvent {
  readonly generation?: number;
  readonly kek?: string;
  readonly tag?: string;
}

/** Log entries a starting instance looks at for the newest generation written. */
const LOG_ENTRIES_CHECKED = 32;

/** The ring an instance holds: the newest good one it has seen. */
interface HeldRing {
  /** The stored text; Redis holding exactly this means nothing changed. */
  readonly raw: string;
  readonly usable: UsableRing;
}

/** Outcome of one read of Redis. */
type LoadResult =
  | { readonly state: 'absent' | 'held' | 'adopted' }
  | { readonly state: 'refused'; readonly reason: RingRefusalReason; readonly stored: Versioned };

/** Refusals after which the ring held here is written back: Redis holds nothing an honest instance would keep. */
const RESTORABLE: ReadonlySet<RingRefusalReason> = new Set(['malformed', 'bad-authentication', 'invalid', 'undecryptable', 'rollback', 'fork', 'compromised-kid', 'kek-downgrade']);

/**
 * One signing-key ring per app-env, shared by every instance through Redis: all sign with the same
 * active key, all serve the same JWKS (active, next, and previous keys until their grace ends).
 * Private keys are stored only as JWEs under a key-encryption key that never goes to Redis, and the
 * whole ring is authenticated under a key derived from it; an instance never goes back to an older
 * generation or to a key retired as compromised.
 *
 * @example
 * const ring = await KeyRing.start(redis, { keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID });
 * app.get('/jwks', () => ring.jwks());
 * const config = await discovery(issuer, clientId, undefined, ring.clientAuth());
 */
export class KeyRing extends EventEmitter<KeyRingEvents> {
  private readonly store: Store;
  private readonly locks: Locks;
  private readonly log: EventLog<RingEvent>;
  /** The newest generation the ring's log shows was written (verified): a ring below it was rewound or replayed. */
  private logGeneration = 0;
  private held: HeldRing | undefined;
  /** Every kid seen retired as compromised (bounded): never adopted again. */
  private readonly compromised = new Set<string>();
  private view: RingView | undefined;
  private jwksDocument: JsonWebKeySet = { keys: [] };
  private tail: EventLogTail | undefined;
  private timers: NodeJS.Timeout[] = [];
  private boundaryTimer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  /** The stored text last refused, and why. */
  private lastRefused: string | undefined;
  private lastRefusalReason: RingRefusalReason | undefined;
  private lastLoadedAt = 0;
  private closed = false;
  private loading: Promise<LoadResult> | undefined;
  private syncing: Promise<void> | undefined;
  private readonly counters = { refused: {} as Partial<Record<RingRefusalReason, number>>, restored: 0, reencrypted: 0 };

  /**
   * Loads the ring (creating the first key of an empty namespace, by exactly one instance) and
   * resolves as soon as this instance can sign.
   */
  static async start(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRing> {
    const resolved = await resolveKeyRingOptions(options, redis.config.logger);
    if (resolved.unsafePlaintext) {
      redis.config.logger.warn('UNSAFE: private signing keys are stored in Redis under a well-known key (unsafeAllowPlaintextPrivateKeys); local development only');
    }
    const ring = new KeyRing(redis, resolved);
    try {
      await ring.begin();
    } catch (error) {
      await ring.close();
      throw error;
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
  static inspect(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRingStatus> {
    return inspectKeyRing(redis, options);
  }

  private constructor(
    private readonly redis: KccRedis,
    private readonly options: ResolvedKeyRingOptions,
  ) {
    super();
    this.store = new Store(redis);
    this.locks = new Locks(redis);
    this.log = new EventLog(redis, { name: KEY_RING_KEYS.log, maxAgeMs: options.eventLogMaxAgeMs, validate: (d): d is RingEvent => isPlainObject(d) });
  }

  /** The public JWKS: the active key, the next key, and retired keys until their grace ends. Served from memory. */
  jwks(): JsonWebKeySet {
    this.currentView();
    return this.jwksDocument;
  }

  /** The key to sign with now. Throws when the ring has no active key (never after a successful start). */
  signingKey(): SigningKey {
    const view = this.currentView();
    const active = view.active;
    const key = active && this.held?.usable.privateKeys.get(active.kid);
    if (!active || !key) throw new KccNotReadyError('the key ring has no active signing key');
    return { kid: active.kid, alg: active.alg, key };
  }

  /**
   * Signs a Keycloak-compatible `private_key_jwt` client assertion with the active key.
   *
   * @example
   * const assertion = await ring.signClientAssertion({ clientId: 'my-app', audience: 'https://sso.example/realms/main' });
   */
  signClientAssertion(request: ClientAssertionRequest): Promise<string> {
    return signClientAssertion(this.signingKey(), request);
  }

  /**
   * An openid-client v6 `ClientAuth` that signs with the key active at each call, so a rotation
   * needs no rediscovery.
   *
   * @example
   * const config = await client.discovery(new URL(issuer), 'my-app', undefined, ring.clientAuth());
   */
  clientAuth(): ClientAuthFunction {
    return privateKeyJwtClientAuth(() => this.signingKey());
  }

  /**
   * Publishes a new key, active after `activationDelayMs` (or at once with `immediate`). Exactly one
   * of any number of concurrent callers across instances rotates; the others get its result.
   */
  async rotate(options: RotateOptions = {}): Promise<RotateResult> {
    this.assertOpen();
    await this.sync();
    const seen = this.generation;
    const mode = options.immediate === true ? 'immediate' : 'scheduled';
    const deadline = Date.now() + this.options.lockTtlMs * 2;
    for (;;) {
      const lock = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
      if (lock) {
        try {
          return await this.rotateLocked(seen, mode);
        } finally {
          await lock.release();
        }
      }
      // Someone else is rotating. A normal rotation is satisfied by theirs; an emergency one waits its turn.
      const changed = await this.waitForGenerationAbove(seen, Math.min(this.options.lockTtlMs, 1_000));
      if (changed && mode === 'scheduled') {
        const pending = this.currentView();
        const key = pending.next ?? pending.active;
        if (key) return { rotated: false, kid: key.kid, activatesAt: key.activatesAt };
      }
      if (Date.now() > deadline) throw new KccLockTimeoutError('could not take the key-ring rotation lock in time');
    }
  }

  /** Current state, for health endpoints. */
  health(): KeyRingHealth {
    return {
      status: this.closed ? 'closed' : this.lastError ? 'degraded' : 'ready',
      generation: this.generation,
      activeKid: this.view?.active?.kid,
      lastLoadedAt: this.lastLoadedAt,
      lastError: this.lastError,
    };
  }

  /** Counters, for diagnostics and metrics (a snapshot). */
  get stats(): KeyRingStats {
    return { refused: { ...this.counters.refused }, restored: this.counters.restored, reencrypted: this.counters.reencrypted };
  }

  /** Stops timers and the event-log tail. The Redis connection stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.forEach((timer) => clearInterval(timer));
    clearTimeout(this.boundaryTimer);
    await this.tail?.stop();
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
    return this.held?.usable.ring.generation ?? 0;
  }

  private async begin(): Promise<void> {
    // Tail first, so no change between the read below and the tail's start is missed.
    this.tail = await this.log.tail(
      (event) => {
        if (event.type === KEY_RING_CHANGED || event.type === KEY_RING_CHECK) this.background(this.sync());
      },
      { onGap: () => this.background(this.sync()) },
    );
    this.logGeneration = await this.newestLoggedGeneration();
    const result = await this.load();
    if (result.state === 'absent' || this.generation < this.logGeneration) await this.awaitNewestRing();
    if (result.state === 'absent' && !this.held) await this.createFirstKey();
    else if (!this.held) throw new KccKeyRingError(this.startRefusal());
    else await this.sync(); // e.g. under an earlier key-encryption key: rewrite it under the current one
    const every = (ms: number, run: () => Promise<unknown>) => {
      const timer = setInterval(() => void run(), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.refreshIntervalMs, () => this.tick());
    every(this.options.keyEncryptionKeyRefreshIntervalMs, async () => {
      if (!this.closed && (await this.options.keks.refresh())) this.background(this.sync());
    });
  }

  /**
   * At start, Redis holds no ring or one older than its log shows was written (a ring key deleted,
   * rewound or replayed): asks running instances to write back the newest they hold, and waits for
   * it. With none coming, a missing ring is created anew (above the logged generation); an older one
   * is refused: this instance does not sign with a ring it knows to be superseded.
   */
  private async awaitNewestRing(): Promise<void> {
    if (this.logGeneration === 0) return;
    const found = this.generation;
    await this.log.append(KEY_RING_CHECK, {});
    if (await this.waitForGenerationAbove(this.logGeneration - 1, Math.min(this.options.lockTtlMs, 10_000))) return;
    if (found === 0) return;
    throw new KccKeyRingError(
      `the key ring in Redis is generation ${found}, but its event log shows generation ${this.logGeneration} was written: Redis was rewound or the ring replayed, ` +
        'and no running instance wrote the newer ring back. Start an instance that still holds it, or rotate with a new ring: delete the ring key, then start an instance',
    );
  }

  /** Why this instance cannot start on the ring in Redis, and the way out. */
  private startRefusal(): string {
    const key = this.redis.key(KEY_RING_NAME);
    const fresh = `delete the ring (DEL ${key}) and start an instance: it creates new signing keys, which Keycloak fetches from the JWKS URL`;
    switch (this.lastRefusalReason) {
      case 'unknown-kek':
        return (
          `${this.lastError}. Check that this instance reads the app-env's key-encryption-key secret (KCC_KEYRING_KEK_SECRET_ID). ` +
          `A ring written under a key that the secret no longer keeps (more than its ${KEK_HISTORY_LENGTH} earlier keys ago) cannot be read: ${fresh}`
        );
      case 'newer-format':
        return `${this.lastError}. Upgrade this instance to the release that wrote it`;
      default:
        return `${this.lastError ?? 'key ring refused'}. A running instance that holds a good ring writes it back; with none running, ${fresh}`;
    }
  }

  /** The highest generation the ring's log shows was written, counting only events tagged under a key-encryption key held. */
  private async newestLoggedGeneration(): Promise<number> {
    let newest = 0;
    const entries = await this.redis.run((r) => r.xrevrange(this.log.key, '+', '-', 'COUNT', LOG_ENTRIES_CHECKED));
    for (const [, fields] of entries) {
      const at = fields.indexOf('e');
      let data: unknown;
      try {
        data = at >= 0 && at % 2 === 0 ? (JSON.parse(fields[at + 1] ?? '') as { data?: unknown }).data : undefined;
      } catch {
        continue;
      }
      if (!isPlainObject(data) || !Number.isSafeInteger(data.generation) || typeof data.kek !== 'string' || typeof data.tag !== 'string') continue;
      const kek = this.options.keks.find(data.kek);
      if (kek?.checkTag(this.generationStatement(data.generation as number), data.tag)) newest = Math.max(newest, data.generation as number);
    }
    return newest;
  }

  private generationStatement(generation: number): string {
    return `${this.redis.keyPrefix}\n${generation}`;
  }

  /** The log event of a write of `generation` under `kek`. */
  private changed(generation: number, kek: KeyEncryptionKey): RingEvent {
    return { generation, kek: kek.fingerprint, tag: kek.tag(this.generationStatement(generation)) };
  }

  private async createFirstKey(): Promise<void> {
    const lock = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
    if (lock) {
      try {
        // Another instance may have written the first key while this one waited for the lock.
        if ((await this.load()).state === 'absent') await this.writeNewKey(0, undefined, 'immediate');
        else if (!this.held) throw new KccKeyRingError(this.lastError ?? 'key ring refused');
      } finally {
        await lock.release();
      }
      return;
    }
    if (!(await this.waitForGenerationAbove(0, this.options.lockTtlMs * 2))) {
      throw new KccLockTimeoutError(`no key ring appeared within ${this.options.lockTtlMs * 2} ms while another instance held the creation lock`);
    }
  }

  /** Under the lock: makes sure Redis holds the ring held here, then, unless someone rotated since generation `seen`, writes the next one. */
  private async rotateLocked(seen: number, mode: RotationPlan['mode']): Promise<RotateResult> {
    const stored = await this.heldInRedis();
    const view = this.currentView();
    const existing = view.next ?? view.active;
    if (this.generation !== seen && mode === 'scheduled' && existing) return { rotated: false, kid: existing.kid, activatesAt: existing.activatesAt };
    if (view.next && mode === 'scheduled') return { rotated: false, kid: view.next.kid, activatesAt: view.next.activatesAt };
    return this.writeNewKey(stored?.version ?? 0, this.held?.usable.ring, mode);
  }

  /**
   * Under the lock: the stored version of the ring held here, after writing it back if Redis lost it
   * or holds one that is refused; undefined when neither Redis nor this instance has a ring.
   */
  private async heldInRedis(): Promise<Versioned | undefined> {
    // Each round either finds the ring held here, adopts a newer one, or writes the held one back.
    for (let round = 0; round < 4; round++) {
      const stored = await this.store.getVersioned(KEY_RING_NAME);
      if (stored !== undefined && stored.value === this.held?.raw) {
        this.recovered();
        return stored;
      }
      const result = await this.load();
      const replaced = result.state === 'absent' ? 'absent' : result.state === 'refused' && RESTORABLE.has(result.reason) ? result.reason : undefined;
      if (replaced !== undefined) {
        if (!this.held) return undefined;
        await this.writeBack(stored?.version ?? 0, replaced);
      } else if (result.state === 'refused') {
        throw new KccKeyRingError(this.lastError ?? 'key ring refused');
      }
    }
    throw new KccKeyRingError('the key ring in Redis kept changing while this instance tried to write it');
  }

  /** Generates a key, adds it to `ring` as planned for `mode`, and writes the result over `storeVersion` (compare-and-set). */
  private async writeNewKey(storeVersion: number, ring: StoredRing | undefined, mode: RotationPlan['mode']): Promise<RotateResult> {
    const now = Date.now();
    const kek = this.options.keks.current;
    const generated = await generateSigningKey(this.options.algorithm);
    const added = { kid: generated.kid, alg: generated.alg, publicJwk: generated.publicJwk, privateJwe: await kek.encrypt(generated.privateJwk, generated.kid) };
    // Earlier keys move to the current key-encryption key with the same write.
    const base = ring ? await reencryptRing(ring, this.options.keks, now) : { keys: [], compromised: [] };
    const planned = planRotation(base, added, { mode, now, activationDelayMs: this.options.activationDelayMs, retireGraceMs: this.options.retireGraceMs });
    const written = await this.write(storeVersion, { ...ring, ...planned });
    // Only possible if the lock expired mid-rotation: the other writer's ring stands.
    if (!written) return this.unchanged();
    return { rotated: true, kid: generated.kid, activatesAt: planned.keys.at(-1)!.activatesAt };
  }

  /**
   * Writes `ring` as the next generation (above every generation this instance has held), sealed
   * under the current key-encryption key, over `storeVersion`; then reads it back.
   */
  private async write(storeVersion: number, ring: Omit<StoredRing, 'v' | 'namespace' | 'generation' | 'writtenAt'> & Partial<StoredRing>): Promise<boolean> {
    // Above the log's newest too: a ring created anew after Redis lost one never looks like a rollback.
    const generation = Math.max(this.generation, this.logGeneration) + 1;
    const document: StoredRing = { ...ring, v: RING_FORMAT_VERSION, namespace: this.redis.keyPrefix, generation, writtenAt: Date.now() };
    const kek = this.options.keks.current;
    const text = await sealRing(document, kek);
    const result = await this.store.compareAndSet(KEY_RING_NAME, storeVersion, text, { event: this.log.eventFor(KEY_RING_CHANGED, this.changed(generation, kek)) });
    await this.load();
    return result.ok;
  }

  /** Runs one sync at a time; a failure is logged, never left as an unhandled rejection. */
  private background(work: Promise<unknown>): void {
    work.catch((error: unknown) => this.redis.config.logger.warn('key ring sync failed; will retry', { error: String(error) }));
  }

  /**
   * Brings Redis and this instance in line: adopts a newer good ring; writes the ring held here back
   * when Redis lost it or holds one no honest instance would keep (rewound, replayed, tampered);
   * rewrites it under the current key-encryption key when it is under an earlier one.
   */
  private sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (this.closed) return;
    const result = await this.load();
    const restore = result.state === 'absent' || (result.state === 'refused' && RESTORABLE.has(result.reason));
    if (restore && this.held) await this.locked(() => this.heldInRedis());
    else if (result.state !== 'refused' && this.underEarlierKek()) await this.locked(() => this.reencryptLocked());
  }

  /** Runs `work` under the ring's lock; does nothing when another instance holds it (it is doing the same). */
  private async locked(work: () => Promise<unknown>): Promise<void> {
    const lock: LockHandle | undefined = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
    if (!lock) return;
    try {
      await work();
    } finally {
      await lock.release();
    }
  }

  /** Writes the ring held here back over `storeVersion` (its generation unchanged: it is that ring). */
  private async writeBack(storeVersion: number, replaced: RingRefusalReason | 'absent'): Promise<void> {
    const held = this.held!;
    const result = await this.store.compareAndSet(KEY_RING_NAME, storeVersion, held.raw, {
      event: this.log.eventFor(KEY_RING_CHANGED, this.changed(held.usable.ring.generation, held.usable.kek)),
    });
    if (!result.ok) return;
    this.counters.restored++;
    const what = replaced === 'absent' ? 'was missing' : `was refused (${replaced})`;
    this.redis.config.logger.warn(`the key ring in Redis ${what}; wrote back generation ${held.usable.ring.generation} held here`);
    this.emit('restored', { generation: held.usable.ring.generation, replaced });
  }

  /** Under the lock: rewrites the ring held here under the current key-encryption key, if Redis still holds it. */
  private async reencryptLocked(): Promise<void> {
    const stored = await this.store.getVersioned(KEY_RING_NAME);
    if (!this.held || stored?.value !== this.held.raw || !this.underEarlierKek()) return;
    const ring = await reencryptRing(this.held.usable.ring, this.options.keks, Date.now());
    if (await this.write(stored.version, ring)) {
      this.counters.reencrypted++;
      this.redis.config.logger.info('key ring rewritten under the current key-encryption key', { generation: this.generation, kek: this.options.keks.current.fingerprint });
    }
  }

  /** Whether the ring held here, or one of its private keys, is under an earlier key-encryption key than the current one. */
  private underEarlierKek(): boolean {
    const usable = this.held?.usable;
    if (!usable) return false;
    const current = this.options.keks.current.fingerprint;
    if (usable.kek.fingerprint !== current) return true;
    const now = Date.now();
    return usable.ring.keys.some((k) => (k.expiresAt === null || k.expiresAt > now) && jweKekFingerprint(k.privateJwe, k.kid) !== current);
  }

  /** The result of a rotation that did not happen here: the ring's next (or active) key. */
  private unchanged(): RotateResult {
    const view = this.held ? this.currentView() : undefined;
    const key = view?.next ?? view?.active;
    if (!key) throw new KccKeyRingError(this.lastError ?? 'the key ring in Redis has no usable key');
    return { rotated: false, kid: key.kid, activatesAt: key.activatesAt };
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
      const view = this.currentView();
      if (view.active && !view.next && view.active.activatesAt + this.options.rotateEveryMs <= Date.now()) await this.rotate();
    } catch (error) {
      this.redis.config.logger.warn('key ring refresh failed; will retry', { error: String(error) });
    }
  }

  /** Reads the ring in Redis (one read at a time) and adopts it if it is good and not older than the one held. */
  private load(): Promise<LoadResult> {
    this.loading ??= this.loadOnce().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadOnce(): Promise<LoadResult> {
    const stored = await this.store.getVersioned(KEY_RING_NAME);
    if (!stored) return { state: 'absent' };
    if (this.held && stored.value === this.held.raw) {
      this.recovered();
      return { state: 'held' };
    }
    try {
      const usable = await this.open(stored.value);
      this.adopt(stored.value, usable);
      return { state: 'adopted' };
    } catch (error) {
      if (!(error instanceof RingRefusal)) throw error;
      this.refuse(error, stored);
      return { state: 'refused', reason: error.reason, stored };
    }
  }

  /** Verifies, judges against the ring held here, and unlocks a stored ring; re-reads the key-encryption keys once if it names one not held. */
  private async open(text: string): Promise<UsableRing> {
    for (let attempt = 0; ; attempt++) {
      try {
        const opened = await openRing(text, this.options.keks, this.redis.keyPrefix);
        const verdict = judgeRing(this.facts(opened), this.held && this.facts(this.held.usable), this.compromised);
        if (verdict) throw new RingRefusal(verdict, this.verdictMessage(verdict, opened.ring));
        return await unlockRing(opened, this.options.keks, Date.now());
      } catch (error) {
        if (error instanceof RingRefusal && error.reason === 'unknown-kek' && attempt === 0 && (await this.options.keks.refresh())) continue;
        throw error;
      }
    }
  }

  private facts(opened: { ring: StoredRing; digest: string; kek: { fingerprint: string } }): RingFacts {
    return {
      generation: opened.ring.generation,
      digest: opened.digest,
      kids: opened.ring.keys.map((k) => k.kid),
      compromised: opened.ring.compromised,
      kekRank: this.options.keks.rank(opened.kek.fingerprint) ?? Number.POSITIVE_INFINITY,
    };
  }

  private verdictMessage(verdict: RingRefusalReason, ring: StoredRing): string {
    const held = this.generation;
    switch (verdict) {
      case 'rollback':
        return `generation ${ring.generation} is older than generation ${held} held here (a rewound or replayed ring)`;
      case 'fork':
        return `generation ${ring.generation} differs from the one held here and loses to it`;
      case 'compromised-kid':
        return `it holds kid "${ring.keys.find((k) => this.compromised.has(k.kid))?.kid}", retired as compromised`;
      case 'kek-downgrade':
        return `it is authenticated under an earlier key-encryption key than generation ${held} held here`;
      default:
        return verdict;
    }
  }

  private adopt(raw: string, usable: UsableRing): void {
    this.held = { raw, usable };
    for (const kid of usable.ring.compromised) this.compromised.add(kid);
    while (this.compromised.size > MAX_COMPROMISED_KIDS * 4) this.compromised.delete(this.compromised.values().next().value!);
    this.lastLoadedAt = Date.now();
    this.recovered();
    this.rebuildView(true);
  }

  private refuse(refusal: RingRefusal, stored: Versioned): void {
    // Counted once per stored text: re-reading the same bad ring is not another attack.
    if (stored.value !== this.lastRefused) this.counters.refused[refusal.reason] = (this.counters.refused[refusal.reason] ?? 0) + 1;
    this.lastRefused = stored.value;
    this.lastRefusalReason = refusal.reason;
    const reason = `key ring version ${stored.version} in Redis refused: ${refusal.reason}: ${refusal.message}`;
    if (reason === this.lastError) return;
    this.redis.config.logger.warn(`${reason}; keeping generation ${this.held ? this.generation : 'none'}`);
    this.lastError = reason;
    this.emit('degraded', reason);
  }

  private recovered(): void {
    if (!this.lastError) return;
    this.lastError = undefined;
    this.emit('recovered');
  }

  private currentView(): RingView {
    if (!this.view || Date.now() >= this.view.validUntil) this.rebuildView(false);
    return this.view!;
  }

  private rebuildView(ringChanged: boolean): void {
    if (!this.held) return;
    const previousActive = this.view?.active?.kid;
    const view = viewAt(this.held.usable.ring, Date.now());
    this.view = view;
    this.jwksDocument = Object.freeze({ keys: Object.freeze(view.published.map((k) => Object.freeze({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' }))) });
    clearTimeout(this.boundaryTimer);
    if (Number.isFinite(view.validUntil) && !this.closed) {
      // setTimeout caps at 2^31-1 ms; a later boundary is reached by the periodic refresh.
      this.boundaryTimer = setTimeout(() => this.rebuildView(false), Math.min(view.validUntil - Date.now() + 1, 2 ** 31 - 1));
      this.boundaryTimer.unref();
    }
    if (ringChanged || view.active?.kid !== previousActive) {
      this.emit('change', { generation: this.generation, activeKid: view.active?.kid, publishedKids: view.published.map((k) => k.kid) });
    }
  }

  private async waitForGenerationAbove(generation: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.generation > generation) return true;
      // The tail triggers a load within milliseconds; polling is the bounded fallback.
      await new Promise<void>((resolve) => {
        const onChange = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.off('change', onChange);
          resolve();
        }, 50);
        this.once('change', onChange);
      });
      await this.load();
    }
    return this.generation > generation;
  }

  private assertOpen(): void {
    if (this.closed) throw new KccClosedError('key ring is closed');
  }
}
