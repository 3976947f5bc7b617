import type { JWK } from 'jose';
import { isPlainObject } from '../plain-object.js';

/** Signing algorithms the ring supports. PS256 is what keycloak-connector users configure. */
export const SIGNING_ALGORITHMS = ['PS256', 'ES256', 'EdDSA', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

/** JWK members that only a private key has; none may ever appear outside a JWE. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** One signing key as stored in Redis: public JWK in clear, private JWK as a JWE. Times in ms since the epoch. */
export interface StoredKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly publicJwk: JWK;
  readonly privateJwe: string;
  readonly createdAt: number;
  /** From this time on instances sign with it (unless retired). */
  readonly activatesAt: number;
  /** From this time on nobody signs with it; null while it is the newest key. */
  readonly retiresAt: number | null;
  /** From this time on it leaves the JWKS; null while it is the newest key. */
  readonly expiresAt: number | null;
}

/** The ring document stored (versioned, compare-and-set) under `<prefix>{<app>-<env>}:keyring`. */
export interface StoredRing {
  readonly keys: readonly StoredKey[];
}

const MAX_KEYS = 16;
const KEY_TYPES: Record<SigningAlgorithm, { kty: string; members: readonly string[]; crv?: string }> = {
  PS256: { kty: 'RSA', members: ['n', 'e'] },
  RS256: { kty: 'RSA', members: ['n', 'e'] },
  ES256: { kty: 'EC', members: ['x', 'y'], crv: 'P-256' },
  EdDSA: { kty: 'OKP', members: ['x'], crv: 'Ed25519' },
};

/**
 * Parses and checks a stored ring strictly. Throws an Error saying what is wrong (and where):
 * a tampered or corrupt ring must be refused, never half-used.
 */
export function parseStoredRing(json: string): StoredRing {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new Error('ring is not JSON');
  }
  if (!isPlainObject(doc) || !Array.isArray(doc.keys)) throw new Error('ring must be an object with a "keys" array');
  if (doc.keys.length === 0 || doc.keys.length > MAX_KEYS) throw new Error(`ring must hold 1 to ${MAX_KEYS} keys, has ${doc.keys.length}`);
  const kids = new Set<string>();
  const keys = doc.keys.map((raw: unknown, i: number) => {
    const where = `keys[${i}]`;
    if (!isPlainObject(raw)) throw new Error(`${where} is not an object`);
    const { kid, alg, publicJwk, privateJwe, createdAt, activatesAt, retiresAt, expiresAt } = raw;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) throw new Error(`${where}.kid must be a string of 1 to 128 characters`);
    if (kids.has(kid)) throw new Error(`${where}.kid "${kid}" appears twice`);
    kids.add(kid);
    if (typeof alg !== 'string' || !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new Error(`${where}.alg ${JSON.stringify(alg)} is not one of ${SIGNING_ALGORITHMS.join(', ')}`);
    }
    checkPublicJwk(publicJwk, alg as SigningAlgorithm, `${where}.publicJwk`);
    if (typeof privateJwe !== 'string' || privateJwe.split('.').length !== 5) throw new Error(`${where}.privateJwe must be a compact JWE`);
    for (const [name, value, nullable] of [['createdAt', createdAt, false], ['activatesAt', activatesAt, false], ['retiresAt', retiresAt, true], ['expiresAt', expiresAt, true]] as const) {
      if (!(nullable && value === null) && !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
        throw new Error(`${where}.${name} must be a time in ms${nullable ? ' or null' : ''}`);
      }
    }
    return { kid, alg, publicJwk, privateJwe, createdAt, activatesAt, retiresAt, expiresAt } as StoredKey;
  });
  return { keys };
}

function checkPublicJwk(jwk: unknown, alg: SigningAlgorithm, where: string): void {
  if (!isPlainObject(jwk)) throw new Error(`${where} is not an object`);
  const type = KEY_TYPES[alg];
  if (jwk.kty !== type.kty) throw new Error(`${where}.kty ${JSON.stringify(jwk.kty)} does not fit ${alg} (expected ${type.kty})`);
  if (type.crv && jwk.crv !== type.crv) throw new Error(`${where}.crv ${JSON.stringify(jwk.crv)} does not fit ${alg} (expected ${type.crv})`);
  for (const member of type.members) {
    if (typeof jwk[member] !== 'string' || (jwk[member] as string).length === 0) throw new Error(`${where}.${member} is missing`);
  }
  const leaked = PRIVATE_JWK_MEMBERS.filter((m) => m in jwk);
  if (leaked.length > 0) throw new Error(`${where} carries private member(s) ${leaked.join(', ')}`);
}

/** What a ring means at time `now`. */
export interface RingView {
  /** Keys in the JWKS: created and not yet expired. */
  readonly published: readonly StoredKey[];
  /** The key to sign with: the latest activated, not retired. */
  readonly active: StoredKey | undefined;
  /** A published key that is not active yet. */
  readonly next: StoredKey | undefined;
  /** When this view stops being true (a key activates, retires or expires); Infinity if never. */
  readonly validUntil: number;
}

export function viewAt(ring: StoredRing, now: number): RingView {
  const published = ring.keys.filter((k) => k.createdAt <= now && (k.expiresAt === null || now < k.expiresAt));
  const signable = published.filter((k) => k.activatesAt <= now && (k.retiresAt === null || now < k.retiresAt));
  const active = signable.reduce<StoredKey | undefined>((best, k) => (!best || k.activatesAt > best.activatesAt ? k : best), undefined);
  const next = published.filter((k) => k.activatesAt > now).sort((a, b) => a.activatesAt - b.activatesAt)[0];
  const boundaries = ring.keys.flatMap((k) => [k.createdAt, k.activatesAt, k.retiresAt, k.expiresAt]).filter((t): t is number => t !== null && t > now);
  return { published, active, next, validUntil: boundaries.length > 0 ? Math.min(...boundaries) : Number.POSITIVE_INFINITY };
}

/** How {@link planRotation} places a new key. */
export interface RotationPlan {
  /** `scheduled`: the new key activates after `activationDelayMs` and the old keys stay published for `retireGraceMs`; `immediate`: it signs at once and the old keys leave the JWKS at once (a compromised key). */
  readonly mode: 'scheduled' | 'immediate';
  readonly now: number;
  readonly activationDelayMs: number;
  readonly retireGraceMs: number;
}

/**
 * The ring after adding `added` (a new key, its private half already encrypted): earlier keys retire
 * when it activates and leave the JWKS after the grace (at once for an immediate rotation); keys
 * already expired are dropped.
 */
export function planRotation(ring: StoredRing, added: Omit<StoredKey, 'createdAt' | 'activatesAt' | 'retiresAt' | 'expiresAt'>, plan: RotationPlan): StoredRing {
  const { now } = plan;
  const immediate = plan.mode === 'immediate';
  const activatesAt = immediate ? now : now + plan.activationDelayMs;
  const keys: StoredKey[] = ring.keys
    .map((k) => ({
      ...k,
      retiresAt: k.retiresAt === null || k.retiresAt > activatesAt ? activatesAt : k.retiresAt,
      expiresAt: immediate ? now : (k.expiresAt ?? activatesAt + plan.retireGraceMs),
    }))
    .filter((k) => k.expiresAt > now);
  keys.push({ ...added, createdAt: now, activatesAt, retiresAt: null, expiresAt: null });
  return { keys };
}
