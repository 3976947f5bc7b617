import type { KccRedis } from '../connection.js';
import { isWrongTypeReply } from '../lua-key-repair.js';
import { MAX_RING_BYTES, type StoredRingText, readStoredRing } from './ring-read.js';
import { type KeyRingOptions, resolveKeyEncryptionKeys } from './key-ring-options.js';
import { type SigningAlgorithm, everSigns, viewAt } from './ring-data.js';
import { KEY_RING_KEYS } from './ring-keys.js';
import { unknownKekMeaning } from './ring-refusal-messages.js';
import { RingRefusal, type RingRefusalReason, openRing, unlockRing } from './ring-seal.js';

/** One key of a verified ring, as {@link KeyRingStatus} reports it. Times in ms since the epoch. */
export interface KeyRingKeyStatus {
  /** The key's id: its RFC 7638 thumbprint. */
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** `active`: signs now; `next`: published, signs from `activatesAt`; `previous`: published until `expiresAt`, signs no more; `expired`: stored, out of the JWKS. */
  readonly role: 'active' | 'next' | 'previous' | 'expired';
  /** When it was published. */
  readonly createdAt: number;
  /** From then on instances sign with it. */
  readonly activatesAt: number;
  /** From then on nobody signs with it; null while it is the newest key. */
  readonly retiresAt: number | null;
  /** From then on it is out of the JWKS; null while it is the newest key. */
  readonly expiresAt: number | null;
}

/**
 * The app-env's ring as stored in Redis, after verification ({@link KeyRing.inspect}):
 * - `absent`: Redis holds no ring (a new app-env; the first instance creates one);
 * - `refused`: the stored ring fails verification (tampered, another namespace, a key-encryption
 *   key not held, a newer format, a private key that does not decrypt); running instances report
 *   `degraded` and write back the ring they hold when the reason allows;
 * - `verified`: authenticated, well-formed, every private key decrypts.
 */
export type KeyRingStatus =
  | { readonly state: 'absent' }
  | { readonly state: 'refused'; readonly reason: RingRefusalReason; readonly message: string }
  | {
      readonly state: 'verified';
      /** Increases with every write; instances never go back to a lower one. */
      readonly generation: number;
      /** When this generation was written (the writer's clock). */
      readonly writtenAt: number;
      /** Fingerprint of the key-encryption key that authenticates the ring. */
      readonly kekFingerprint: string;
      /** Whether that is the current key-encryption key (else instances rewrite the ring under it). */
      readonly kekIsCurrent: boolean;
      readonly activeKid: string | undefined;
      readonly nextKid: string | undefined;
      readonly keys: readonly KeyRingKeyStatus[];
      /** Kids retired by emergency rotations: never usable again. */
      readonly compromisedKids: readonly string[];
    };

/** Reads and verifies the ring without writing anything (a key of the wrong type is reported, not replaced). See {@link KeyRing.inspect}. */
export async function inspectKeyRing(redis: KccRedis, options: KeyRingOptions = {}): Promise<KeyRingStatus> {
  const { keks } = await resolveKeyEncryptionKeys(options, redis.config.logger, undefined, redis.config.region, redis.config.connectTimeoutMs);
  let stored: StoredRingText | undefined;
  try {
    stored = await readStoredRing(redis, KEY_RING_KEYS.ring, { readOnly: true });
  } catch (error) {
    if (!isWrongTypeReply(error)) throw error;
    return { state: 'refused', reason: 'malformed', message: `${redis.key(KEY_RING_KEYS.ring)} is not a hash (WRONGTYPE): instances replace it and read it as missing (a running one writes its ring back)` };
  }
  if (!stored) return { state: 'absent' };
  if (stored.oversized !== undefined) {
    return { state: 'refused', reason: 'malformed', message: `${stored.oversized} bytes, more than any ring a kcc-redis client writes (${MAX_RING_BYTES}): not read` };
  }
  const now = Date.now();
  try {
    const usable = await unlockRing(await openRing(stored.value, keks, redis.keyPrefix), keks, now);
    const { ring } = usable;
    const view = viewAt(ring, now);
    const signsLater = (k: (typeof ring.keys)[number]) => k.activatesAt > now && everSigns(k);
    const role = (kid: string): KeyRingKeyStatus['role'] =>
      kid === view.active?.kid ? 'active' : view.published.some((k) => k.kid === kid) ? (view.next?.kid === kid || signsLater(ring.keys.find((k) => k.kid === kid)!) ? 'next' : 'previous') : 'expired';
    return {
      state: 'verified',
      generation: ring.generation,
      writtenAt: ring.writtenAt,
      kekFingerprint: usable.kek.fingerprint,
      kekIsCurrent: usable.kek === keks.current,
      activeKid: view.active?.kid,
      nextKid: view.next?.kid,
      keys: ring.keys.map((k) => ({ kid: k.kid, alg: k.alg, role: role(k.kid), createdAt: k.createdAt, activatesAt: k.activatesAt, retiresAt: k.retiresAt, expiresAt: k.expiresAt })),
      compromisedKids: [...ring.compromised],
    };
  } catch (error) {
    if (error instanceof RingRefusal) {
      // What an unknown key-encryption key may be comes first: the refusal itself ends the message (operator tools append the reason).
      const message = error.reason === 'unknown-kek' ? `${unknownKekMeaning(redis.key(KEY_RING_KEYS.ring))}. The ring is ${error.message}` : error.message;
      return { state: 'refused', reason: error.reason, message };
    }
    throw error;
  }
}
