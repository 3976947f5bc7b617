import { EventEmitter } from 'node:events';
import type { webcrypto } from 'node:crypto';
import type { JWK } from 'jose';
import type { KccRedis } from '../connection.js';
import { KccClosedError, KccKeyRingError, KccLockTimeoutError, KccNotReadyError } from '../errors.js';
import { EventLog, type EventLogTail } from '../event-log.js';
import { Locks } from '../lock.js';
import { Store } from '../store.js';
import { type ClientAssertionRequest, type ClientAuthFunction, type SigningKey, privateKeyJwtClientAuth, signClientAssertion } from './client-assertion.js';
import { type KeyRingOptions, type ResolvedKeyRingOptions, resolveKeyRingOptions } from './key-ring-options.js';
import { type RingView, type RotationPlan, type StoredRing, parseStoredRing, planRotation, viewAt } from './ring-data.js';
import { generateSigningKey, importPrivateKey } from './signing-key.js';

/** Name of the ring's versioned value in the namespace. */
export const KEY_RING_NAME = 'keyring';
/**
 * Name of the key ring's event log in the namespace. Low volume, read by a blocking tail; kept apart
 * from the revocation log so a logout burst never wakes every instance's key-ring reader.
 */
export const KEY_RING_LOG_NAME = 'keyring-events';
/** Event type appended (atomically with the write) whenever the ring changes. */
export const KEY_RING_CHANGED = 'keyring-changed';
const LOCK_NAME = 'keyring-rotation';

/** A public JWKS document, as served at the client's `jwks_uri`. */
export interface JsonWebKeySet {
  readonly keys: readonly JWK[];
}

export interface KeyRingHealth {
  /** `ready`: a good ring is loaded; `degraded`: the last read was refused (tampered, corrupt, undecryptable) and the last good ring is in use. */
  readonly status: 'ready' | 'degraded' | 'closed';
  readonly version: number;
  readonly activeKid: string | undefined;
  readonly lastLoadedAt: number;
  readonly lastError: string | undefined;
}

export interface KeyRingEvents {
  /** The ring (or which key is active) changed. */
  change: [info: { version: number; activeKid: string | undefined; publishedKids: string[] }];
  /** A ring read from Redis was refused; the last good ring stays in use. */
  degraded: [reason: string];
  /** A good ring was loaded again after a refusal. */
  recovered: [];
}

export interface RotateOptions {
  /** Activate the new key now and drop the old keys from the JWKS at once (compromised key). */
  readonly immediate?: boolean;
}

export interface RotateResult {
  /** False when another instance rotated (or a next key was already pending); `kid` is then that key. */
  readonly rotated: boolean;
  readonly kid: string;
  readonly activatesAt: number;
}

interface LoadedRing {
  readonly version: number;
  /** The stored text: a ring that differs in any way (a lost write, a rewind) is reloaded. */
  readonly raw: string;
  readonly ring: StoredRing;
  readonly privateKeys: ReadonlyMap<string, webcrypto.CryptoKey>;
}

/**
 * One signing-key ring per app-env, shared by every instance through Redis: all sign with the same
 * active key, all serve the same JWKS (active, next, and previous keys until their grace ends).
 * Private keys are stored only as JWEs under a key-encryption key that never goes to Redis.
 *
 * @example
 * const ring = await KeyRing.start(redis, { keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID });
 * app.get('/jwks', () => ring.jwks());
 * const config = await discovery(issuer, clientId, undefined, ring.clientAuth());
 */
export class KeyRing extends EventEmitter<KeyRingEvents> {
  private readonly store: Store;
  private readonly locks: Locks;
  private readonly log: EventLog<{ version: number }>;
  private loaded: LoadedRing | undefined;
  private view: RingView | undefined;
  private jwksDocument: JsonWebKeySet = { keys: [] };
  private tail: EventLogTail | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private boundaryTimer: NodeJS.Timeout | undefined;
  private lastError: string | undefined;
  private lastLoadedAt = 0;
  private closed = false;
  private loading: Promise<'absent' | 'loaded' | 'refused'> | undefined;

  /**
   * Loads the ring (creating the first key of an empty namespace, by exactly one instance) and
   * resolves as soon as this instance can sign.
   */
  static async start(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRing> {
    const resolved = await resolveKeyRingOptions(options);
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

  private constructor(
    private readonly redis: KccRedis,
    private readonly options: ResolvedKeyRingOptions,
  ) {
    super();
    this.store = new Store(redis);
    this.locks = new Locks(redis);
    const isVersion = (d: unknown): d is { version: number } => typeof (d as { version?: unknown })?.version === 'number';
    this.log = new EventLog(redis, { name: KEY_RING_LOG_NAME, maxAgeMs: options.eventLogMaxAgeMs, validate: isVersion });
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
    const key = active && this.loaded?.privateKeys.get(active.kid);
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
    await this.load();
    const seenVersion = this.loaded?.version ?? 0;
    const deadline = Date.now() + this.options.lockTtlMs * 2;
    for (;;) {
      const lock = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
      if (lock) {
        try {
          return await this.rotateLocked(seenVersion, options.immediate === true ? 'immediate' : 'scheduled');
        } finally {
          await lock.release();
        }
      }
      // Someone else is rotating. A normal rotation is satisfied by theirs; an emergency one waits its turn.
      const changed = await this.waitForVersionAbove(seenVersion, Math.min(this.options.lockTtlMs, 1_000));
      if (changed && !options.immediate) {
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
      version: this.loaded?.version ?? 0,
      activeKid: this.view?.active?.kid,
      lastLoadedAt: this.lastLoadedAt,
      lastError: this.lastError,
    };
  }

  /** Stops timers and the event-log tail. The Redis connection stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.boundaryTimer);
    await this.tail?.stop();
  }

  private async begin(): Promise<void> {
    // Tail first, so no change between the read below and the tail's start is missed.
    this.tail = await this.log.tail(
      (event) => {
        if (event.type === KEY_RING_CHANGED) this.reload();
      },
      { onGap: () => this.reload() },
    );
    const state = await this.load();
    if (state === 'absent') await this.createFirstKey();
    else if (!this.loaded) throw new KccKeyRingError(this.lastError ?? 'key ring refused');
    this.refreshTimer = setInterval(() => void this.tick(), this.options.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  private async createFirstKey(): Promise<void> {
    const lock = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
    if (lock) {
      try {
        // Another instance may have written the first key while this one waited for the lock.
        if ((await this.load()) === 'absent') await this.writeRing(0, { keys: [] }, 'immediate');
        else if (!this.loaded) throw new KccKeyRingError(this.lastError ?? 'key ring refused');
      } finally {
        await lock.release();
      }
      return;
    }
    if (!(await this.waitForVersionAbove(0, this.options.lockTtlMs * 2))) {
      throw new KccLockTimeoutError(`no key ring appeared within ${this.options.lockTtlMs * 2} ms while another instance held the creation lock`);
    }
  }

  /** Under the lock: re-reads the ring and, unless someone rotated since `seenVersion`, writes the next one. */
  private async rotateLocked(seenVersion: number, mode: RotationPlan['mode']): Promise<RotateResult> {
    const current = await this.store.getVersioned(KEY_RING_NAME);
    const version = current?.version ?? 0;
    const ring = current ? parseStoredRing(current.value) : { keys: [] };
    const view = viewAt(ring, Date.now());
    const existing = view.next ?? view.active;
    if (version !== seenVersion && mode === 'scheduled' && existing) {
      await this.load();
      return { rotated: false, kid: existing.kid, activatesAt: existing.activatesAt };
    }
    if (view.next && mode === 'scheduled') return { rotated: false, kid: view.next.kid, activatesAt: view.next.activatesAt };
    return this.writeRing(version, ring, mode);
  }

  /** Generates a key, adds it to `ring` as planned for `mode`, and writes the result over `version` (compare-and-set). */
  private async writeRing(version: number, ring: StoredRing, mode: RotationPlan['mode']): Promise<RotateResult> {
    const generated = await generateSigningKey(this.options.algorithm);
    const added = {
      kid: generated.kid,
      alg: generated.alg,
      publicJwk: generated.publicJwk,
      privateJwe: await this.options.kek.encrypt(generated.privateJwk, generated.kid),
    };
    const next = planRotation(ring, added, { mode, now: Date.now(), activationDelayMs: this.options.activationDelayMs, retireGraceMs: this.options.retireGraceMs });
    const result = await this.store.compareAndSet(KEY_RING_NAME, version, JSON.stringify(next), {
      event: this.log.eventFor(KEY_RING_CHANGED, { version: version + 1 }),
    });
    await this.load();
    // Only possible if the lock expired mid-rotation: the other writer's ring stands.
    if (!result.ok) return this.unchanged();
    return { rotated: true, kid: generated.kid, activatesAt: next.keys.at(-1)!.activatesAt };
  }

  /** Loads in the background; a failure is logged, never left as an unhandled rejection. */
  private reload(): void {
    this.load().catch((error: unknown) => this.redis.config.logger.warn('key ring reload failed; will retry', { error: String(error) }));
  }

  /**
   * Redis lost the ring altogether (a node restarted without persistence, a cache with no replica):
   * write the last good ring back, so instances that start now load it instead of making a new one.
   */
  private async restoreRing(): Promise<void> {
    const lock = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
    if (!lock || !this.loaded) return;
    try {
      const restored = await this.store.compareAndSet(KEY_RING_NAME, 0, this.loaded.raw, {
        event: this.log.eventFor(KEY_RING_CHANGED, { version: 1 }),
      });
      if (restored.ok) this.redis.config.logger.warn('the key ring was missing in Redis; restored the last good ring');
    } finally {
      await lock.release();
    }
    await this.load();
  }

  /** The result of a rotation that did not happen here: the ring's next (or active) key. */
  private unchanged(): RotateResult {
    const view = this.loaded ? this.currentView() : undefined;
    const key = view?.next ?? view?.active;
    if (!key) throw new KccKeyRingError(this.lastError ?? 'the key ring in Redis has no usable key');
    return { rotated: false, kid: key.kid, activatesAt: key.activatesAt };
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      if ((await this.load()) === 'absent' && this.loaded) await this.restoreRing();
      const view = this.currentView();
      if (view.active && !view.next && view.active.activatesAt + this.options.rotateEveryMs <= Date.now()) await this.rotate();
    } catch (error) {
      this.redis.config.logger.warn('key ring refresh failed; will retry', { error: String(error) });
    }
  }

  /**
   * Reads the ring if Redis has a newer version: `absent` (no ring yet), `loaded` (a good ring is in
   * use, possibly this one) or `refused` (the stored ring is bad; the last good one, if any, stays).
   */
  private load(): Promise<'absent' | 'loaded' | 'refused'> {
    this.loading ??= this.loadOnce().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadOnce(): Promise<'absent' | 'loaded' | 'refused'> {
    const stored = await this.store.getVersioned(KEY_RING_NAME);
    if (!stored) return 'absent';
    // Same version and same text: nothing to do. Anything else — newer, older (Redis lost a write in a
    // failover), or the same version with other content — is loaded, so instances never diverge.
    if (this.loaded && stored.version === this.loaded.version && stored.value === this.loaded.raw && !this.lastError) return 'loaded';
    try {
      const ring = parseStoredRing(stored.value);
      const now = Date.now();
      const privateKeys = new Map<string, webcrypto.CryptoKey>();
      for (const key of ring.keys.filter((k) => k.expiresAt === null || k.expiresAt > now)) {
        const privateJwk = await this.options.kek.decrypt(key.privateJwe, key.kid);
        privateKeys.set(key.kid, await importPrivateKey(key.alg, key.kid, key.publicJwk, privateJwk));
      }
      if (!viewAt(ring, now).active) throw new Error('ring has no active key');
      this.loaded = { version: stored.version, raw: stored.value, ring, privateKeys };
      this.lastLoadedAt = now;
      if (this.lastError) {
        this.lastError = undefined;
        this.emit('recovered');
      }
      this.rebuildView(true);
      return 'loaded';
    } catch (error) {
      const reason = `key ring version ${stored.version} in Redis refused: ${(error as Error).message}`;
      if (reason !== this.lastError) {
        this.redis.config.logger.warn(`${reason}; keeping ring version ${this.loaded?.version ?? 'none'}`);
        this.lastError = reason;
        this.emit('degraded', reason);
      }
      return 'refused';
    }
  }

  private currentView(): RingView {
    if (!this.view || Date.now() >= this.view.validUntil) this.rebuildView(false);
    return this.view!;
  }

  private rebuildView(ringChanged: boolean): void {
    if (!this.loaded) return;
    const previousActive = this.view?.active?.kid;
    const view = viewAt(this.loaded.ring, Date.now());
    this.view = view;
    this.jwksDocument = Object.freeze({ keys: Object.freeze(view.published.map((k) => Object.freeze({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' }))) });
    clearTimeout(this.boundaryTimer);
    if (Number.isFinite(view.validUntil) && !this.closed) {
      // setTimeout caps at 2^31-1 ms; a later boundary is reached by the periodic refresh.
      this.boundaryTimer = setTimeout(() => this.rebuildView(false), Math.min(view.validUntil - Date.now() + 1, 2 ** 31 - 1));
      this.boundaryTimer.unref();
    }
    if (ringChanged || view.active?.kid !== previousActive) {
      this.emit('change', { version: this.loaded.version, activeKid: view.active?.kid, publishedKids: view.published.map((k) => k.kid) });
    }
  }

  private async waitForVersionAbove(version: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((this.loaded?.version ?? 0) > version) return true;
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
    return (this.loaded?.version ?? 0) > version;
  }

  private assertOpen(): void {
    if (this.closed) throw new KccClosedError('key ring is closed');
  }
}
