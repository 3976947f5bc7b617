/**
 * THE ADAPTER between `kcc-redis status` / `rotate-keys` and the key ring's stored format: the one
 * module that knows how the ring is stored. Today it reads the ring's versioned value with the
 * client's Store and parses it with the client's ring-data helpers, read-only (never
 * `KeyRing.start`, which writes a first key into an empty namespace). When the client exports its
 * verified, read-only ring inspection (authenticated ring, generation, compromised kids), only
 * {@link readKeyRing} changes: the commands use {@link KeyRingStatus} alone.
 */
import type { KccRedis } from '@kcc-redis/client';
import { Store } from '@kcc-redis/client/primitives';
import { KeyEncryptionKey } from '../../client/src/keyring/key-encryption.js';
import { KEY_RING_NAME } from '../../client/src/keyring/key-ring.js';
import { type StoredRing, parseStoredRing, viewAt } from '../../client/src/keyring/ring-data.js';

/** A key of the ring as status shows it (public facts only). */
export interface RingKeyStatus {
  readonly kid: string;
  readonly alg: string;
  readonly activatesAt: number;
}

/** What status reports about an app-env's signing-key ring. Times are ms since the epoch. */
export interface KeyRingStatus {
  /** `absent`: no instance has started yet; `ok`: instances can use it; `degraded`: instances refuse it (see `problem`). */
  readonly state: 'absent' | 'ok' | 'degraded';
  /** Why instances refuse the ring (parse, key-encryption key, no active key). */
  readonly problem: string | undefined;
  /** Monotonic generation of the ring: the version of its compare-and-set value (today's format). */
  readonly generation: number;
  readonly active: RingKeyStatus | undefined;
  /** The key published but not yet signing, and when it takes over. */
  readonly next: RingKeyStatus | undefined;
  /** When the newest key was added: the last rotation (or the first key). */
  readonly lastRotationAt: number | undefined;
  /** Keys in the JWKS now. */
  readonly published: number;
  /** Whether every private key was decrypted with the app-env's key-encryption key (false: no KEK given). */
  readonly verified: boolean;
}

/**
 * Reads the ring of `redis`'s app-env without writing anything. With `keyEncryptionKey`, also
 * checks that every key still in use decrypts under it, as an instance would: a ring that parses
 * but that instances cannot decrypt is `degraded`.
 */
export async function readKeyRing(redis: KccRedis, options: { readonly keyEncryptionKey?: string; readonly now?: number } = {}): Promise<KeyRingStatus> {
  const stored = await new Store(redis).getVersioned(KEY_RING_NAME);
  const empty = { generation: 0, active: undefined, next: undefined, lastRotationAt: undefined, published: 0, verified: false };
  if (!stored) return { state: 'absent', problem: undefined, ...empty };
  const now = options.now ?? Date.now();
  let ring: StoredRing;
  try {
    ring = parseStoredRing(stored.value);
  } catch (error) {
    return { state: 'degraded', problem: `the stored ring (version ${stored.version}) is refused: ${(error as Error).message}`, ...empty, generation: stored.version };
  }
  const view = viewAt(ring, now);
  const key = (k: { kid: string; alg: string; activatesAt: number } | undefined) => (k ? { kid: k.kid, alg: k.alg, activatesAt: k.activatesAt } : undefined);
  const facts = {
    generation: stored.version,
    active: key(view.active),
    next: key(view.next),
    lastRotationAt: Math.max(...ring.keys.map((k) => k.createdAt)),
    published: view.published.length,
  };
  let problem = view.active ? undefined : 'the ring has no active key';
  let verified = false;
  if (options.keyEncryptionKey !== undefined && problem === undefined) {
    const kek = new KeyEncryptionKey(options.keyEncryptionKey);
    try {
      for (const k of ring.keys.filter((candidate) => candidate.expiresAt === null || candidate.expiresAt > now)) await kek.decrypt(k.privateJwe, k.kid);
      verified = true;
    } catch (error) {
      problem = (error as Error).message;
    }
  }
  return { state: problem ? 'degraded' : 'ok', problem, ...facts, verified };
}
