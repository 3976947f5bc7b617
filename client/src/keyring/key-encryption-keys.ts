import { inspect } from 'node:util';
import { KEK_HISTORY_LENGTH, MIN_KEK_LENGTH } from '../contract/user-secret.js';
import { KccSecretError } from '../errors.js';
import type { KccLogger } from '../logger.js';
import { KeyEncryptionKey } from './key-encryption.js';

/**
 * Key-encryption keys as a source gives them: the current one, and earlier ones (newest first) that
 * rings written before a rotation may still be under. The stack's secret has this shape
 * (`{ "v": 1, "kek": "…", "previous": ["…"] }`).
 */
export interface KeyEncryptionKeyMaterial {
  /** The current key-encryption key (at least 32 characters): new rings and private keys are written under it. */
  readonly kek: string;
  /** Earlier keys, newest first (at most 12): rings written under them stay readable and are rewritten under `kek`. */
  readonly previous?: readonly string[];
}

/**
 * Reads the current key-encryption keys (a vault, a test fixture). Called at start, when a ring
 * names a key-encryption key this instance does not know, and every `keyEncryptionKeyRefreshIntervalMs`.
 */
export type KeyEncryptionKeyProvider = () => Promise<KeyEncryptionKeyMaterial>;

/** Least time between two reads of the source (a ring naming an unknown key may not make an instance hammer it). */
const MIN_READ_INTERVAL_MS = 2_000;
/** Longest wait between re-reads asked for by rings under unknown keys that the source does not know either. */
const MAX_UNKNOWN_KEY_BACKOFF_MS = 60_000;

/**
 * The key-encryption keys an instance holds, current first, and their re-reading: single-flight,
 * at most every {@link MIN_READ_INTERVAL_MS}. A failed or invalid re-read keeps the keys held (and
 * is logged); only the first read's failure is thrown.
 */
export class KeyEncryptionKeys {
  #keys: readonly KeyEncryptionKey[];
  private inFlight: Promise<boolean> | undefined;
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private changes = 0;
  /** Re-reads for unknown keys in a row that found nothing new, and when the next such one may run. */
  private fruitless = 0;
  private nextUnknownReadAt = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly source: KeyEncryptionKeyProvider | undefined,
    private readonly logger: KccLogger,
    keys: readonly KeyEncryptionKey[],
  ) {
    this.#keys = keys;
  }

  /** Reads the source once. A source that fails, or gives keys too short or too many, throws. */
  static async load(source: KeyEncryptionKeyProvider, logger: KccLogger, refreshable: boolean): Promise<KeyEncryptionKeys> {
    const keys = keysOf(await source());
    const set = new KeyEncryptionKeys(refreshable ? source : undefined, logger, keys);
    set.lastReadAt = performance.now();
    return set;
  }

  /** The key new rings and private keys are written under. */
  get current(): KeyEncryptionKey {
    return this.#keys[0]!;
  }

  /** Fingerprints held, current first. */
  get fingerprints(): string[] {
    return this.#keys.map((k) => k.fingerprint);
  }

  /** How many times a re-read changed the keys held. */
  get version(): number {
    return this.changes;
  }

  find(fingerprint: string): KeyEncryptionKey | undefined {
    return this.#keys.find((k) => k.fingerprint === fingerprint);
  }

  /** 0 for the current key, 1 for the one before, …; undefined when not held. */
  rank(fingerprint: string): number | undefined {
    const index = this.#keys.findIndex((k) => k.fingerprint === fingerprint);
    return index < 0 ? undefined : index;
  }

  /** Re-reads the source (when it can change). Resolves true when the keys held changed. */
  refresh(): Promise<boolean> {
    if (!this.source) return Promise.resolve(false);
    this.inFlight ??= this.readOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Re-reads the source because a ring names a key not held: at once the first time, then with a
   * backoff doubling up to {@link MAX_UNKNOWN_KEY_BACKOFF_MS} while such re-reads find nothing new
   * (a Redis writer rewriting the ring under made-up keys must not make every instance call the
   * secret store every 2 s). Resolves false without reading while backing off.
   */
  async refreshForUnknownKey(): Promise<boolean> {
    if (performance.now() < this.nextUnknownReadAt) return false;
    const changed = await this.refresh();
    if (changed) {
      this.fruitless = 0;
      this.nextUnknownReadAt = Number.NEGATIVE_INFINITY;
    } else {
      this.fruitless++;
      this.nextUnknownReadAt = performance.now() + Math.min(MIN_READ_INTERVAL_MS * 2 ** this.fruitless, MAX_UNKNOWN_KEY_BACKOFF_MS);
    }
    return changed;
  }

  private async readOnce(): Promise<boolean> {
    const wait = this.lastReadAt + MIN_READ_INTERVAL_MS - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
    this.lastReadAt = performance.now();
    let keys: KeyEncryptionKey[];
    try {
      keys = keysOf(await this.source!());
    } catch (error) {
      this.logger.warn('re-reading the key-encryption keys failed; keeping the ones held', { error: String(error) });
      return false;
    }
    const before = this.fingerprints.join(',');
    if (keys.map((k) => k.fingerprint).join(',') === before) return false;
    this.#keys = keys;
    this.changes++;
    this.fruitless = 0;
    this.nextUnknownReadAt = Number.NEGATIVE_INFINITY;
    this.logger.info('key-encryption keys changed', { current: this.current.fingerprint, held: keys.length });
    return true;
  }

  [inspect.custom](): string {
    return `KeyEncryptionKeys { fingerprints: ${inspect(this.fingerprints)} }`;
  }

  toJSON(): { fingerprints: string[] } {
    return { fingerprints: this.fingerprints };
  }
}

/** The keys of `material`, current first, earlier ones deduplicated; names the problem, never a value. */
function keysOf(material: KeyEncryptionKeyMaterial): KeyEncryptionKey[] {
  const previous = material.previous ?? [];
  if (typeof material.kek !== 'string' || material.kek.length < MIN_KEK_LENGTH) {
    throw new KccSecretError(`key-encryption key must be a string of at least ${MIN_KEK_LENGTH} characters`);
  }
  if (!Array.isArray(previous) || previous.length > KEK_HISTORY_LENGTH || previous.some((p) => typeof p !== 'string' || p.length < MIN_KEK_LENGTH)) {
    throw new KccSecretError(`earlier key-encryption keys ("previous") must be at most ${KEK_HISTORY_LENGTH} strings of at least ${MIN_KEK_LENGTH} characters each`);
  }
  const unique = [...new Set([material.kek, ...previous])];
  return unique.map((secret) => new KeyEncryptionKey(secret));
}
