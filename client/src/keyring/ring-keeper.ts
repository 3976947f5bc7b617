import { EventEmitter } from 'node:events';
import type { KccRedis } from '../connection.js';
import { KccKeyRingError } from '../errors.js';
import { type LockHandle, Locks } from '../lock.js';
import { SingleFlight } from '../single-flight.js';
import { Store, type Versioned } from '../store.js';
import { MAX_RING_BYTES, type StoredRingText, readStoredRing } from './ring-read.js';
import { type KeyEncryptionKey, jweKekFingerprint } from './key-encryption.js';
import type { ResolvedKeyRingOptions } from './key-ring-options.js';
import { CLOCK_SKEW_ALLOWANCE_MS, MAX_COMPROMISED_KIDS, RING_FORMAT_VERSION, type StoredKey, type StoredRing, parseStoredRing, viewAt } from './ring-data.js';
import { type RingFacts, judgeRing } from './ring-judge.js';
import { KEY_RING_KEYS } from './ring-keys.js';
import type { NewestEntries, RingLog } from './ring-log.js';
import { startRefusalMessage, unknownKekMeaning, verdictMessage } from './ring-refusal-messages.js';
import { carriedOverKeys } from './ring-carry-over.js';
import { type OpenedRing, RingRefusal, type RingRefusalReason, type UsableRing, openRing, reencryptRing, sealRing, unlockRing } from './ring-seal.js';
import { type ClockStamp, clockStamp } from '../pause-watch.js';
import { pacedWarner } from '../paced-warning.js';

const KEY_RING_NAME = KEY_RING_KEYS.ring;
const LOCK_NAME = KEY_RING_KEYS.lock;

/** The ring an instance holds: the newest good one it has seen. */
export interface HeldRing {
  /** The stored text; Redis holding exactly this means nothing changed. */
  readonly raw: string;
  readonly usable: UsableRing;
}

/** Outcome of one read of Redis. */
export type LoadResult =
  | { readonly state: 'absent' | 'held' | 'adopted' }
  | { readonly state: 'refused'; readonly reason: RingRefusalReason; readonly stored: Versioned; readonly opened?: OpenedRing };

/** Refusals after which the ring held here is written back: Redis holds nothing an honest instance would keep. */
const RESTORABLE: ReadonlySet<RingRefusalReason> = new Set(['malformed', 'bad-authentication', 'invalid', 'undecryptable', 'rollback', 'fork', 'compromised-kid', 'kek-downgrade']);

export interface RingKeeperEvents {
  /** A newer good ring is held. */
  adopted: [];
  degraded: [reason: string];
  recovered: [];
  restored: [info: RestoredInfo];
}

/** What a write-back replaced, and which of the refused ring's keys it keeps published (see `carriedOverKeys`). */
export interface RestoredInfo {
  readonly generation: number;
  readonly replaced: RingRefusalReason | 'absent';
  readonly carriedOver: readonly string[];
}

/**
 * Keeps one instance's ring and Redis in line: reads the stored ring, adopts it only if it is good
 * and not older than the one held (see `judgeRing`), refuses and counts anything else, writes the ring
 * held here back over a missing or refused one, and rewrites it under the current key-encryption
 * key. Every write goes through it: the next generation, sealed, by compare-and-set, logged.
 */
export class RingKeeper extends EventEmitter<RingKeeperEvents> {
  readonly locks: Locks;
  private readonly store: Store;
  /** The newest generation the ring's log shows was written (verified): a ring below it was rewound or replayed. */
  private logGeneration = 0;
  private held: HeldRing | undefined;
  /** Every kid seen retired as compromised (bounded): never adopted again. */
  private readonly compromised = new Set<string>();
  /** Kept kids said to be beyond keeping, with the key-encryption key their private key was under then. */
  private readonly unkeepable = new Set<string>();

  /**
   * Whether the private key of the stored `kid` is under a key-encryption key not held now, so it cannot
   * be kept ({@link keepPublishedUntil}): not worth the ring's lock. Judged at each call: the keys held
   * may come back, and a rewrite may move the key to the current one.
   */
  cannotKeep(kid: string): boolean {
    const key = this.held?.usable.ring.keys.find((k) => k.kid === kid);
    return key !== undefined && this.keyEncryptionKeyOf(key) === undefined;
  }

  private keyEncryptionKeyOf(key: StoredKey): KeyEncryptionKey | undefined {
    let fingerprint: string | undefined;
    try {
      fingerprint = jweKekFingerprint(key.privateJwe, key.kid);
    } catch {
      return undefined;
    }
    return fingerprint === undefined ? undefined : this.options.keks.find(fingerprint);
  }
  private lastErrorText: string | undefined;
  /** The stored text last refused, and why. */
  private lastRefused: string | undefined;
  private lastRefusalReason: RingRefusalReason | undefined;
  private loadedAt = 0;
  /** When the latest read of the ring that Redis answered was sent (whatever it held), ms since the epoch; 0 before the first. */
  private readAt = 0;
  /** The same moment on the monotonic clock (performance.now()); 0 before the first. */
  private readAtMonotonic = 0;
  private stopped = false;
  private loading: Promise<LoadResult> | undefined;
  private readonly syncs = new SingleFlight(() => this.syncOnce());
  private readonly counters = { refused: {} as Partial<Record<RingRefusalReason, number>>, restored: 0, reencrypted: 0 };
  /**
   * A refusal and a write-back, warned at most once a minute per reason: a holder of the app's
   * credentials writing a ring after ring (each a new version, so a new refusal's text) logged one or
   * two lines per write on every instance (found by fuzzing). The counters and events keep every one.
   */
  private readonly warnPaced: ReturnType<typeof pacedWarner>;

  constructor(
    private readonly redis: KccRedis,
    private readonly options: ResolvedKeyRingOptions,
    private readonly log: RingLog,
  ) {
    super();
    this.store = new Store(redis);
    this.locks = new Locks(redis);
    this.warnPaced = pacedWarner(redis.config.logger);
  }

  /** The ring held here, if any. */
  get ring(): HeldRing | undefined {
    return this.held;
  }

  get generation(): number {
    return this.held?.usable.ring.generation ?? 0;
  }

  /** Why the last read of Redis was refused, while it is. */
  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  get lastLoadedAt(): number {
    return this.loadedAt;
  }

  /** When the latest read of the ring that Redis answered was sent (ms since the epoch; 0 before the first). */
  get lastReadAt(): number {
    return this.readAt;
  }

  /** {@link lastReadAt} on the monotonic clock (performance.now(); 0 before the first). */
  get lastReadAtMonotonic(): number {
    return this.readAtMonotonic;
  }

  get stats(): { refused: Partial<Record<RingRefusalReason, number>>; restored: number; reencrypted: number } {
    return { refused: { ...this.counters.refused }, restored: this.counters.restored, reencrypted: this.counters.reencrypted };
  }

  stop(): void {
    this.stopped = true;
  }

  /** Reads which generation the ring's log shows was written (at start), and the log's newest entry id in the same read. */
  async readLogGeneration(read?: Promise<NewestEntries>): Promise<{ readonly generation: number; readonly position: string }> {
    const newest = await this.log.newest(this.options.keks, read);
    this.logGeneration = newest.generation;
    return newest;
  }

  /** Why this instance cannot start on the ring in Redis, and the way out. */
  startRefusal(): string {
    return startRefusalMessage(this.lastErrorText, this.lastRefusalReason, this.redis.key(KEY_RING_NAME), this.redis.key(KEY_RING_KEYS.log));
  }

  /** Runs `work` under the ring's lock; does nothing when another instance holds it (it is doing the same). Whether it ran. */
  async locked(work: () => Promise<unknown>): Promise<boolean> {
    if (this.stopped) return false;
    const lock: LockHandle | undefined = await this.locks.acquire(LOCK_NAME, this.options.lockTtlMs);
    if (!lock) return false;
    try {
      await work();
    } finally {
      await lock.release();
    }
    return true;
  }

  /**
   * At start, Redis holds no ring or one older than its log shows was written (a ring key deleted,
   * rewound or replayed): asks running instances to write back the newest they hold, and waits for
   * it. With none coming, a missing ring is created anew (above the logged generation); an older one
   * is refused: this instance does not sign with a ring it knows to be superseded.
   */
  async awaitNewestRing(): Promise<void> {
    if (this.logGeneration === 0) return;
    const found = this.generation;
    await this.log.requestCheck();
    if (await this.waitForGenerationAbove(this.logGeneration - 1, Math.min(this.options.lockTtlMs, 10_000))) return;
    if (found === 0) return;
    throw new KccKeyRingError(
      `the key ring in Redis is generation ${found}, but its event log shows generation ${this.logGeneration} was written: Redis was rewound or the ring replayed, ` +
        `and no running instance wrote the newer ring back. Start an instance that still holds it, or start over with new signing keys: DEL ${this.redis.key(KEY_RING_NAME)}, then start an instance`,
    );
  }

  /**
   * Under the lock: the stored version of the ring held here, after writing it back if Redis lost it
   * or holds one that is refused; undefined when neither Redis nor this instance has a ring.
   */
  async heldInRedis(): Promise<Versioned | undefined> {
    // Each round either finds the ring held here, adopts a newer one, or writes the held one back.
    for (let round = 0; round < 4; round++) {
      const sentAt = clockStamp();
      const stored = await readStoredRing(this.redis, KEY_RING_NAME);
      if (stored !== undefined && stored.value === this.held?.raw) {
        this.read(sentAt); // another ring is counted by the load below, once adopted or refused
        this.recovered();
        return stored;
      }
      const result = await this.load();
      const replaced = result.state === 'absent' ? 'absent' : result.state === 'refused' && RESTORABLE.has(result.reason) ? result.reason : undefined;
      if (replaced !== undefined) {
        if (!this.held) return undefined;
        // Keys are carried over only from a ring that lost on age (see carriedOverKeys); never from one under an earlier KEK or one bringing back a compromised kid.
        const losing = result.state === 'refused' && (result.reason === 'fork' || result.reason === 'rollback') ? result.opened : undefined;
        await this.writeBack(stored?.version ?? 0, replaced, losing);
      } else if (result.state === 'refused') {
        throw new KccKeyRingError(this.lastErrorText ?? 'key ring refused');
      }
    }
    throw new KccKeyRingError('the key ring in Redis kept changing while this instance tried to write it');
  }

  /**
   * Writes `ring` as the next generation (above every generation this instance has held), sealed
   * under the current key-encryption key, over `storeVersion`; then reads it back. Returns the
   * generation written, or 0 when the compare-and-set lost.
   */
  async write(storeVersion: number, ring: Omit<StoredRing, 'v' | 'namespace' | 'generation' | 'writtenAt'> & Partial<StoredRing>): Promise<number> {
    // Above the log's newest too: a ring created anew after Redis lost one never looks like a rollback.
    const generation = Math.max(this.generation, this.logGeneration) + 1;
    await this.assertClockNearServer();
    const document: StoredRing = { ...ring, v: RING_FORMAT_VERSION, namespace: this.redis.keyPrefix, generation, writtenAt: Date.now() };
    // What every reader checks, checked before writing: a ring they refuse would be written back over,
    // and its generation, logged, would stop instances from starting.
    try {
      parseStoredRing(JSON.stringify(document), this.redis.keyPrefix);
      if (!viewAt(document, document.writtenAt).active) throw new Error('ring has no active key');
    } catch (error) {
      throw new KccKeyRingError(`key ring generation ${generation} not written: readers would refuse it (${(error as Error).message})`);
    }
    const kek = this.options.keks.current;
    const text = await sealRing(document, kek);
    const result = await this.store.compareAndSet(KEY_RING_NAME, storeVersion, text, { event: this.log.changed(generation, kek) });
    await this.load();
    return result.ok ? generation : 0;
  }

  /**
   * Every time in a ring is its writer's clock: one far off would make every other instance switch
   * keys too early (a key Keycloak has not fetched yet signs) or refuse the ring (`not-yet-active`).
   * So a writer whose clock is off from the Redis server's by more than instances may differ writes
   * nothing. A server that refuses `TIME` is not asked again.
   */
  private async assertClockNearServer(): Promise<void> {
    const skewMs = await this.redis.serverClock.skew();
    if (skewMs === undefined || Math.abs(skewMs) <= CLOCK_SKEW_ALLOWANCE_MS) return;
    throw new KccKeyRingError(
      `key ring not written: this host's clock is ${skewSeconds(skewMs)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the Redis server's, ` +
        `more than the ${CLOCK_SKEW_ALLOWANCE_MS / 1000} s instances may differ; every time in the ring would be wrong for the others. ` +
        'Synchronise this host\'s clock (NTP, Amazon Time Sync Service) and try again',
    );
  }

  /**
   * Brings Redis and this instance in line: adopts a newer good ring; writes the ring held here back
   * when Redis lost it or holds one no honest instance would keep (rewound, replayed, tampered);
   * rewrites it under the current key-encryption key when it is under an earlier one.
   */
  sync(): Promise<void> {
    // The sync in flight may have read the ring before what this call reports was written: one more
    // after it (however many calls arrive meanwhile) reads a ring at least that new.
    return this.syncs.run();
  }

  private async syncOnce(): Promise<void> {
    if (this.stopped) return;
    const result = await this.load();
    const restore = result.state === 'absent' || (result.state === 'refused' && RESTORABLE.has(result.reason));
    if (restore && this.held) await this.locked(() => this.heldInRedis());
    else if (result.state !== 'refused' && this.underEarlierKek()) await this.locked(() => this.reencryptLocked());
  }

  /**
   * Writes the ring held here back over `storeVersion`: that ring itself (its generation unchanged),
   * or, when the refused ring `refused` has keys to keep published (`carriedOverKeys`), the next
   * generation with them added.
   */
  private async writeBack(storeVersion: number, replaced: RingRefusalReason | 'absent', refused?: OpenedRing): Promise<void> {
    const held = this.held!;
    const carried = refused ? await this.keysToCarryOver(refused, held.usable.ring) : [];
    if (carried.length > 0) {
      try {
        const generation = await this.write(storeVersion, { ...held.usable.ring, keys: [...held.usable.ring.keys, ...carried] });
        if (generation > 0) this.restored(generation, replaced, carried.map((k) => k.kid), carried[0]!.expiresAt);
        return;
      } catch (error) {
        if (!(error instanceof KccKeyRingError)) throw error;
        // A host clock too far from the server's: the ring held here, as it is, is still right to write back.
        this.redis.config.logger.warn(`${error.message}; writing back generation ${held.usable.ring.generation} held here without the refused ring's keys`);
      }
    }
    const result = await this.store.compareAndSet(KEY_RING_NAME, storeVersion, held.raw, {
      event: this.log.changed(held.usable.ring.generation, held.usable.kek),
    });
    if (result.ok) this.restored(held.usable.ring.generation, replaced, [], null);
  }

  /**
   * The refused ring's keys to keep published, once its private keys are checked (`unlockRing`
   * decrypts every key not expired, and only such keys are carried): a carried key whose private
   * half does not decrypt would make every reader refuse the ring.
   */
  private async keysToCarryOver(refused: OpenedRing, held: StoredRing): Promise<StoredKey[]> {
    const now = Date.now();
    const carried = carriedOverKeys(refused.ring, held, this.compromised, now, this.options.retireGraceMs);
    if (carried.length === 0) return [];
    try {
      await unlockRing(refused, this.options.keks, now);
    } catch {
      return [];
    }
    return carried;
  }

  private restored(generation: number, replaced: RingRefusalReason | 'absent', carriedOver: readonly string[], until: number | null): void {
    this.counters.restored++;
    const what = replaced === 'absent' ? 'was missing' : `was refused (${replaced})`;
    const kept = carriedOver.length === 0 ? '' : `, with kid(s) ${carriedOver.join(', ')} of the refused ring published until ${new Date(until!).toISOString()} (an instance signed with them while Redis had lost the ring)`;
    this.warnPaced(`restored:${replaced}`, `the key ring in Redis ${what}; wrote back generation ${generation} held here${kept}`);
    this.emit('restored', { generation, replaced, carriedOver });
  }

  /**
   * Under the lock: moves the time `kid` leaves the JWKS to `until`, if Redis still holds the ring held
   * here and the key, retired, leaves it before `extendBefore` (another instance may have moved it
   * since). A key already out of the JWKS but still stored (until a rotation or a rewrite under a new
   * key-encryption key drops it: this instance could not keep it in time, frozen or cut off from
   * Redis) is published again; one whose private key is under a key-encryption key no longer held
   * cannot be (said once). Only that key changes: its private key, decrypted to check it, moves to the
   * current key-encryption key; the others stay as stored (a rewrite of the whole ring would drop
   * every other key out of the JWKS, other kept keys among them). A compromised key is not in a ring
   * any more, so it is never kept.
   */
  async keepPublishedUntil(kid: string, until: number, extendBefore: number): Promise<boolean> {
    // False when another holds the lock (a rotation, another keeper): the caller looks again soon.
    return this.locked(async () => {
      const stored = await readStoredRing(this.redis, KEY_RING_NAME);
      const held = this.held;
      if (!held || stored?.value !== held.raw) return; // a newer ring: the next look uses it
      const ring = held.usable.ring;
      const key = ring.keys.find((k) => k.kid === kid);
      if (!key || key.expiresAt === null || key.expiresAt >= extendBefore) return;
      const kek = this.keyEncryptionKeyOf(key);
      if (!kek) {
        // Said once for the key-encryption key it is under (a key under another later is said again).
        const said = `${kid} ${key.privateJwe.slice(0, key.privateJwe.indexOf('.'))}`;
        if (!this.unkeepable.has(said)) {
          this.unkeepable.add(said);
          this.redis.config.logger.warn(`key ring: kid ${kid} cannot be kept published: its private key is under a key-encryption key this instance does not hold (now)`);
        }
        return;
      }
      const current = this.options.keks.current;
      const privateJwk = kek.decrypt(key.privateJwe, key.kid);
      const privateJwe = kek === current ? key.privateJwe : await current.encrypt(privateJwk, key.kid);
      await this.write(stored.version, { ...ring, keys: ring.keys.map((k) => (k.kid === kid ? { ...k, expiresAt: until, privateJwe } : k)) });
    });
  }

  /** Rewrites the ring held under the current key-encryption key if it (or a live key in it) is under an earlier one. */
  async reencryptIfEarlierKek(): Promise<void> {
    if (!this.stopped && this.underEarlierKek()) await this.locked(() => this.reencryptLocked());
  }

  /** Under the lock: rewrites the ring held here under the current key-encryption key, if Redis still holds it. */
  private async reencryptLocked(): Promise<void> {
    const stored = await readStoredRing(this.redis, KEY_RING_NAME);
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

  /**
   * Reads the ring in Redis (one read at a time) and adopts it if it is good and not older than the
   * one held. `read`: a read of the stored ring already under way (a starting instance's).
   */
  load(read?: Promise<StoredRingText | undefined>): Promise<LoadResult> {
    this.loading ??= this.loadOnce(read).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async loadOnce(read?: Promise<StoredRingText | undefined>): Promise<LoadResult> {
    // A read the caller sent (a start's) went out a little earlier: counted from here, a moment later.
    const sentAt = clockStamp();
    const stored = await (read ?? readStoredRing(this.redis, KEY_RING_NAME));
    // Counted once what it held is adopted or refused: until then (opening a ring may wait for the
    // key-encryption keys) the ring held here is not the one read, and a catch-up must wait for it.
    try {
      return await this.settle(stored);
    } finally {
      this.read(sentAt);
    }
  }

  /** Adopts or refuses what a read of the ring found. */
  private async settle(stored: StoredRingText | undefined): Promise<LoadResult> {
    if (!stored) return { state: 'absent' };
    if (this.held && stored.value === this.held.raw) {
      this.recovered();
      return { state: 'held' };
    }
    if (stored.oversized !== undefined) {
      // Never handed over (ring-read.ts): refused as any ring that is not one, and written back over by a running instance.
      const refusal = new RingRefusal('malformed', `${stored.oversized} bytes, more than any ring a kcc-redis client writes (${MAX_RING_BYTES}): not read`);
      this.refuse(refusal, stored);
      return { state: 'refused', reason: refusal.reason, stored };
    }
    try {
      const usable = await this.open(stored.value);
      this.adopt(stored.value, usable);
      return { state: 'adopted' };
    } catch (error) {
      if (!(error instanceof RingRefusal)) throw error;
      this.refuse(error, stored);
      return { state: 'refused', reason: error.reason, stored, opened: error.opened };
    }
  }

  /** Verifies, judges against the ring held here, and unlocks a stored ring; re-reads the key-encryption keys once if it names one not held. */
  private async open(text: string): Promise<UsableRing> {
    for (let attempt = 0; ; attempt++) {
      try {
        const opened = await openRing(text, this.options.keks, this.redis.keyPrefix);
        const verdict = judgeRing(this.facts(opened), this.held && this.facts(this.held.usable), this.compromised);
        if (verdict) throw new RingRefusal(verdict, verdictMessage(verdict, opened.ring, this.generation, this.compromised), opened);
        return await unlockRing(opened, this.options.keks, Date.now());
      } catch (error) {
        if (error instanceof RingRefusal && error.reason === 'unknown-kek' && attempt === 0 && (await this.options.keks.refreshForUnknownKey())) continue;
        throw error;
      }
    }
  }

  private facts(opened: { ring: StoredRing; digest: string; kek: { fingerprint: string } }): RingFacts {
    return {
      generation: opened.ring.generation,
      writtenAt: opened.ring.writtenAt,
      digest: opened.digest,
      kids: opened.ring.keys.map((k) => k.kid),
      compromised: opened.ring.compromised,
      kekRank: this.options.keks.rank(opened.kek.fingerprint) ?? Number.POSITIVE_INFINITY,
    };
  }

  /**
   * Redis answered a read of the ring sent at `sentAt`: the ring is as Redis held it then, not when
   * the reply was read. A process paused (frozen, stopped) between the two reads a reply as old as
   * the pause, and another instance may have rotated meanwhile: counted from the reply, the ring would
   * look current and no catch-up run.
   */
  private read(sentAt: ClockStamp): void {
    if (sentAt.monotonic <= this.readAtMonotonic) return; // a later read answered first
    this.readAt = sentAt.wall;
    this.readAtMonotonic = sentAt.monotonic;
  }

  private adopt(raw: string, usable: UsableRing): void {
    this.held = { raw, usable };
    for (const kid of usable.ring.compromised) this.compromised.add(kid);
    while (this.compromised.size > MAX_COMPROMISED_KIDS * 4) this.compromised.delete(this.compromised.values().next().value!);
    this.loadedAt = Date.now();
    this.recovered();
    this.emit('adopted');
  }

  private refuse(refusal: RingRefusal, stored: Versioned): void {
    // Counted once per stored text: re-reading the same bad ring is not another attack.
    if (stored.value !== this.lastRefused) this.counters.refused[refusal.reason] = (this.counters.refused[refusal.reason] ?? 0) + 1;
    this.lastRefused = stored.value;
    this.lastRefusalReason = refusal.reason;
    const reason = `key ring version ${stored.version} in Redis refused: ${refusal.reason}: ${refusal.message}`;
    if (reason === this.lastErrorText) return;
    // An unknown key-encryption key has two readings, each with its own way out: say both, as a start does.
    const meaning = refusal.reason === 'unknown-kek' ? `. ${unknownKekMeaning(this.redis.key(KEY_RING_NAME))}` : '';
    this.warnPaced(`refused:${refusal.reason}`, `${reason}; keeping generation ${this.held ? this.generation : 'none'}${meaning}`);
    this.lastErrorText = reason;
    this.emit('degraded', reason);
  }

  private recovered(): void {
    if (!this.lastErrorText) return;
    this.lastErrorText = undefined;
    this.emit('recovered');
  }

  async waitForGenerationAbove(generation: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    // Stopped (the ring closing): no more waiting; the caller checks for the close.
    while (performance.now() < deadline && !this.stopped) {
      if (this.generation > generation) return true;
      // The tail triggers a load within milliseconds; polling is the bounded fallback.
      await new Promise<void>((resolve) => {
        const onAdopted = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.off('adopted', onAdopted);
          resolve();
        }, 50);
        this.once('adopted', onAdopted);
      });
      await this.load();
    }
    return this.generation > generation;
  }
}

/** Rounded up to a tenth of a second: a skew just over the allowance never reads as equal to it. */
function skewSeconds(skewMs: number): string {
  return String(Math.ceil(Math.abs(skewMs) / 100) / 10);
}
