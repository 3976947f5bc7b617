import { createHash, type webcrypto } from 'node:crypto';
import type { KeyEncryptionKey } from './key-encryption.js';
import { jweKekFingerprint, ringKekFingerprint, unverifiedText } from './key-encryption.js';
import type { KeyEncryptionKeys } from './key-encryption-keys.js';
import { CLOCK_SKEW_ALLOWANCE_MS, NewerRingFormatError, RING_FORMAT_VERSION, type StoredRing, everSigns, parseStoredRing, viewAt } from './ring-data.js';
import { importPrivateKey } from './signing-key.js';

/**
 * Why a stored ring was refused. `unknown-kek`, `newer-format` and `not-yet-active` may be a ring this
 * instance cannot use yet (a key-encryption key it has not re-read, a newer release, keys that
 * activate later on this clock); the others are a ring no honest instance would adopt over the one
 * it holds.
 */
export type RingRefusalReason =
  | 'malformed'
  | 'unknown-kek'
  | 'bad-authentication'
  | 'newer-format'
  | 'invalid'
  | 'undecryptable'
  | 'rollback'
  | 'fork'
  | 'compromised-kid'
  | 'kek-downgrade'
  | 'not-yet-active';

export class RingRefusal extends Error {
  constructor(
    readonly reason: RingRefusalReason,
    message: string,
    /** The refused ring, when its authentication verified and only the comparison with the ring held refused it. */
    readonly opened?: OpenedRing,
  ) {
    super(message);
  }
}

/** A stored ring whose authentication verified. */
export interface OpenedRing {
  readonly ring: StoredRing;
  /** The key-encryption key that authenticated it. */
  readonly kek: KeyEncryptionKey;
  /** SHA-256 of the stored text: orders two rings of the same generation the same way on every instance. */
  readonly digest: string;
}

/** A ring with its private keys decrypted and imported (non-extractable). */
export interface UsableRing extends OpenedRing {
  readonly privateKeys: ReadonlyMap<string, webcrypto.CryptoKey>;
  /** Whether a private key or the ring itself is under an earlier key-encryption key (it should be rewritten under the current one). */
  readonly underEarlierKek: boolean;
}

/**
 * The text stored in Redis for `ring`: a compact JWS (HS256) under a key derived from the current
 * key-encryption key, over the ring document: every kid, public JWK (with `alg`, `use`,
 * `key_ops`), time, the generation, the compromised kids and the namespace are authenticated.
 */
export function sealRing(ring: StoredRing, kek: KeyEncryptionKey): Promise<string> {
  return kek.authenticate(JSON.stringify({ ...ring, v: RING_FORMAT_VERSION }));
}

/** Verifies and parses a stored ring. Throws a {@link RingRefusal}. */
export async function openRing(stored: string, keks: KeyEncryptionKeys, namespace: string): Promise<OpenedRing> {
  const fingerprint = ringKekFingerprint(stored);
  if (fingerprint === undefined) throw new RingRefusal('malformed', 'not an authenticated ring (a compact JWS of type kcc-keyring)');
  const kek = keks.find(fingerprint);
  if (!kek) {
    throw new RingRefusal('unknown-kek', `authenticated under key-encryption key ${unverifiedText(fingerprint)}; this instance holds ${keks.fingerprints.join(', ')}`);
  }
  let payload: string;
  try {
    payload = kek.verify(stored);
  } catch (error) {
    throw new RingRefusal('bad-authentication', (error as Error).message);
  }
  let ring: StoredRing;
  try {
    ring = parseStoredRing(payload, namespace);
  } catch (error) {
    throw new RingRefusal(error instanceof NewerRingFormatError ? 'newer-format' : 'invalid', (error as Error).message);
  }
  return { ring, kek, digest: createHash('sha256').update(stored).digest('hex') };
}

/** Decrypts and imports the private keys a ring still needs (not expired at `now`). Throws a {@link RingRefusal}. */
export async function unlockRing(opened: OpenedRing, keks: KeyEncryptionKeys, now: number): Promise<UsableRing> {
  let underEarlierKek = opened.kek !== keks.current;
  const decrypted = opened.ring.keys.filter((k) => k.expiresAt === null || k.expiresAt > now).map((key) => {
    let fingerprint: string | undefined;
    try {
      fingerprint = jweKekFingerprint(key.privateJwe, key.kid);
    } catch (error) {
      throw new RingRefusal('undecryptable', (error as Error).message);
    }
    const kek = fingerprint === undefined ? undefined : keks.find(fingerprint);
    if (!kek) throw new RingRefusal('unknown-kek', `private key of kid "${key.kid}" is under key-encryption key ${unverifiedText(fingerprint)}; this instance holds ${keks.fingerprints.join(', ')}`);
    if (kek !== keks.current) underEarlierKek = true;
    try {
      return { key, privateJwk: kek.decrypt(key.privateJwe, key.kid) };
    } catch (error) {
      throw new RingRefusal('undecryptable', (error as Error).message);
    }
  });
  // Every key decrypted (synchronously) before any import: the imports, each a WebCrypto call, run
  // together. A ring with several bad keys is refused for the first one found, in this order, or for
  // whichever import fails first: a refusal, either way.
  const imported = await Promise.all(decrypted.map(async ({ key, privateJwk }) => {
    try {
      return [key.kid, await importPrivateKey(key.alg, key.kid, key.publicJwk, privateJwk)] as const;
    } catch (error) {
      throw new RingRefusal('undecryptable', (error as Error).message);
    }
  }));
  if (!viewAt(opened.ring, now).active) {
    // Keys that sign later on this clock: this clock and the writer's differ by more than the allowed
    // skew. Not a bad ring: it is not written over, and adopted once this clock gets there.
    const next = opened.ring.keys.filter((k) => k.activatesAt > now && everSigns(k)).sort((a, b) => a.activatesAt - b.activatesAt)[0];
    if (next) {
      throw new RingRefusal(
        'not-yet-active',
        `ring has no key active yet on this instance's clock: kid "${next.kid}" activates at ${new Date(next.activatesAt).toISOString()}; ` +
          `this clock and its writer's differ by more than the ${CLOCK_SKEW_ALLOWANCE_MS / 1000} s allowed: synchronise the hosts' clocks (NTP, Amazon Time Sync Service)`,
      );
    }
    throw new RingRefusal('invalid', 'ring has no active key');
  }
  return { ...opened, privateKeys: new Map(imported), underEarlierKek };
}

/** The ring with every private key (still needed) re-encrypted under `kek`; nothing else changes. */
export async function reencryptRing(ring: StoredRing, keks: KeyEncryptionKeys, now: number): Promise<StoredRing> {
  const current = keks.current;
  const keys = [];
  for (const key of ring.keys) {
    if (key.expiresAt !== null && key.expiresAt <= now) continue;
    const fingerprint = jweKekFingerprint(key.privateJwe, key.kid);
    const kek = fingerprint === undefined ? undefined : keks.find(fingerprint);
    if (!kek) throw new RingRefusal('unknown-kek', `private key of kid "${key.kid}" is under key-encryption key ${unverifiedText(fingerprint)}`);
    keys.push(kek === current ? key : { ...key, privateJwe: await current.encrypt(kek.decrypt(key.privateJwe, key.kid), key.kid) });
  }
  return { ...ring, keys };
}
