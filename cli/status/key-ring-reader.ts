/**
 * The adapter between `kcc-redis status` / `rotate-keys` and the key ring: the client's read-only,
 * verified inspection (`KeyRing.inspect`: authentication, generation, compromised kids) mapped onto
 * what the commands show. Never `KeyRing.start`, which writes a first key into an empty namespace.
 */
import { KeyRing, type KccRedis, type KeyEncryptionKeyMaterial } from '@kcc-redis/client';
import { KEY_RING_KEYS } from '@kcc-redis/client/contract';

/** A key of the ring as status shows it (public facts only). */
export interface RingKeyStatus {
  readonly kid: string;
  readonly alg: string;
  readonly activatesAt: number;
}

/** What status reports about an app-env's signing-key ring. Times are ms since the epoch. */
export interface KeyRingStatus {
  /**
   * `absent`: no instance has started yet; `ok`: verified (or, without the key-encryption keys, present
   * but not verifiable); `degraded`: instances refuse it (see `problem`).
   */
  readonly state: 'absent' | 'ok' | 'degraded';
  /** Why instances refuse the ring (tampered, another namespace, a key-encryption key not held, …). */
  readonly problem: string | undefined;
  /** Why instances refuse it, as a code (`unknown-kek`, `bad-authentication`, …), when they do. */
  readonly reason?: string;
  /** Increases with every write; instances never go back to a lower one (0 when unknown). */
  readonly generation: number;
  readonly active: RingKeyStatus | undefined;
  /** The key published but not yet signing, and when it takes over. */
  readonly next: RingKeyStatus | undefined;
  /** When the newest key was added: the last rotation (or the first key). */
  readonly lastRotationAt: number | undefined;
  /** Keys in the JWKS now. */
  readonly published: number;
  /** Kids retired by emergency rotations: never usable again. */
  readonly compromisedKids: readonly string[];
  /** Whether the ring was verified with the app-env's key-encryption keys (false: none given). */
  readonly verified: boolean;
  /** Whether the ring is under the current key-encryption key (false until an instance rewrites it after a KEK rotation). */
  readonly underCurrentKek: boolean | undefined;
}

/** Refusals a wrong key-encryption key given to the command causes as well as a ring written without the right one. */
const KEK_REASONS: ReadonlySet<string> = new Set(['unknown-kek', 'bad-authentication', 'undecryptable']);

const EMPTY = { generation: 0, active: undefined, next: undefined, lastRotationAt: undefined, published: 0, compromisedKids: [], underCurrentKek: undefined } as const;

/**
 * Reads and verifies the ring of `redis`'s app-env without writing anything. Without key-encryption
 * keys nothing can be verified: the ring is reported as present, unverified.
 */
export async function readKeyRing(redis: KccRedis, options: { readonly keys?: KeyEncryptionKeyMaterial } = {}): Promise<KeyRingStatus> {
  if (options.keys === undefined) {
    // Presence only: the ring is authenticated under the key-encryption key, so nothing in it can be trusted without one.
    const present = (await redis.run((r) => r.exists(redis.key(KEY_RING_KEYS.ring)))) === 1;
    return present
      ? { state: 'ok', problem: 'not verified: no key-encryption key given', ...EMPTY, verified: false }
      : { state: 'absent', problem: undefined, ...EMPTY, verified: false };
  }
  const keys = options.keys;
  const status = await KeyRing.inspect(redis, { keyEncryptionKeyProvider: async () => keys, env: {} });
  if (status.state === 'absent') return { state: 'absent', problem: undefined, ...EMPTY, verified: false };
  if (status.state === 'refused') {
    // A key-encryption key mistyped or mixed up on this command's side reads exactly like a forged ring:
    // say so first, before the way out (which deletes the ring) is read as the thing to do.
    const ownKey = KEK_REASONS.has(status.reason)
      ? 'the key-encryption key this command was given does not open the ring: first check that it is the one your instances use (the app-env\'s kekSecretArn); if it is not, they may be fine. '
      : '';
    return { state: 'degraded', problem: `${ownKey}${status.message} (${status.reason})`, reason: status.reason, ...EMPTY, verified: false };
  }
  const byKid = new Map(status.keys.map((k) => [k.kid, k]));
  const key = (kid: string | undefined) => {
    const k = kid === undefined ? undefined : byKid.get(kid);
    return k ? { kid: k.kid, alg: k.alg, activatesAt: k.activatesAt } : undefined;
  };
  return {
    state: status.activeKid ? 'ok' : 'degraded',
    problem: status.activeKid ? undefined : 'the ring has no active key',
    generation: status.generation,
    active: key(status.activeKid),
    next: key(status.nextKid),
    lastRotationAt: status.keys.length > 0 ? Math.max(...status.keys.map((k) => k.createdAt)) : undefined,
    published: status.keys.filter((k) => k.role !== 'expired').length,
    compromisedKids: status.compromisedKids,
    verified: true,
    underCurrentKek: status.kekIsCurrent,
  };
}
