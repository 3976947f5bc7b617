import type { JWK } from 'jose';
import { isPlainObject } from '../plain-object.js';
import { unverifiedText } from './key-encryption.js';

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

/**
 * The ring document: what is authenticated and stored (compare-and-set) under
 * `<prefix>{<app>-<env>}:keyring`. Every field is covered by the authentication (see `ring-seal.ts`).
 *
 * `v` is the format version: a change readers of this version could misread gets a new version
 * (writers keep writing this one while instances of the previous release run); additions do not:
 * readers ignore fields they do not know and keep them when they rewrite the ring.
 */
export interface StoredRing {
  readonly v: typeof RING_FORMAT_VERSION;
  /** The app-env's key prefix: a ring is only valid in the namespace it was written for. */
  readonly namespace: string;
  /** Increases with every write; an instance never goes back to a lower one. */
  readonly generation: number;
  /** When this generation was written (ms since the epoch, the writer's clock). */
  readonly writtenAt: number;
  readonly keys: readonly StoredKey[];
  /** Kids retired by an emergency rotation, newest last: such a kid is never usable again. */
  readonly compromised: readonly string[];
}

/** Format version of {@link StoredRing}. */
export const RING_FORMAT_VERSION = 1;
/** Compromised kids a ring remembers (the oldest are dropped): far more than emergency rotations in a ring's life. */
export const MAX_COMPROMISED_KIDS = 64;

/** Keys a ring holds at most; a rotation that would exceed it drops the oldest retired keys early. */
export const MAX_KEYS = 16;
/**
 * How far instances' clocks may differ. A key that signs at once (an emergency rotation, the first
 * key) is created and activated this long before the writer's clock says now: an instance whose
 * clock is behind by less still sees it published and active, instead of a ring with no active key.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 60_000;
const MAX_KID_LENGTH = 128;
const KEY_TYPES: Record<SigningAlgorithm, { kty: string; members: readonly string[]; crv?: string }> = {
  PS256: { kty: 'RSA', members: ['n', 'e'] },
  RS256: { kty: 'RSA', members: ['n', 'e'] },
  ES256: { kty: 'EC', members: ['x', 'y'], crv: 'P-256' },
  EdDSA: { kty: 'OKP', members: ['x'], crv: 'Ed25519' },
};

/** A ring document written by a newer release, in a format this one does not read. */
export class NewerRingFormatError extends Error {}

/**
 * Parses and checks a ring document strictly (after its authentication was verified). Throws an
 * Error saying what is wrong (and where): a corrupt ring must be refused, never half-used. Fields
 * this release does not know are kept (at the top and in each key), so that rewriting the ring
 * does not drop what a newer release added.
 */
export function parseStoredRing(json: string, namespace: string): StoredRing {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw new Error('ring is not JSON');
  }
  if (!isPlainObject(doc)) throw new Error('ring must be an object');
  if (typeof doc.v === 'number' && doc.v > RING_FORMAT_VERSION) {
    throw new NewerRingFormatError(`ring has format version ${shown(doc.v)}, written by a newer release; this one reads version ${RING_FORMAT_VERSION}`);
  }
  if (doc.v !== RING_FORMAT_VERSION) throw new Error(`ring format version ${shown(doc.v)} is not ${RING_FORMAT_VERSION}`);
  if (doc.namespace !== namespace) throw new Error(`ring belongs to namespace ${shown(doc.namespace)}, not "${namespace}"`);
  const { generation, writtenAt, compromised } = doc;
  if (!Number.isSafeInteger(generation) || (generation as number) < 1) throw new Error('ring generation must be a whole number of at least 1');
  if (!Number.isSafeInteger(writtenAt) || (writtenAt as number) < 0) throw new Error('ring writtenAt must be a time in ms');
  if (!Array.isArray(compromised) || compromised.length > MAX_COMPROMISED_KIDS || compromised.some((k) => typeof k !== 'string' || k.length === 0 || k.length > MAX_KID_LENGTH)) {
    throw new Error(`ring "compromised" must list at most ${MAX_COMPROMISED_KIDS} kids`);
  }
  if (!Array.isArray(doc.keys)) throw new Error('ring must have a "keys" array');
  if (doc.keys.length === 0 || doc.keys.length > MAX_KEYS) throw new Error(`ring must hold 1 to ${MAX_KEYS} keys, has ${doc.keys.length}`);
  const kids = new Set<string>();
  const keys = doc.keys.map((raw: unknown, i: number) => {
    const where = `keys[${i}]`;
    if (!isPlainObject(raw)) throw new Error(`${where} is not an object`);
    const { kid, alg, publicJwk, privateJwe, createdAt, activatesAt, retiresAt, expiresAt } = raw;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) throw new Error(`${where}.kid must be a string of 1 to ${MAX_KID_LENGTH} characters`);
    if ((compromised as string[]).includes(kid)) throw new Error(`${where}.kid ${shown(kid)} is listed as compromised`);
    if (kids.has(kid)) throw new Error(`${where}.kid ${shown(kid)} appears twice`);
    kids.add(kid);
    if (typeof alg !== 'string' || !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new Error(`${where}.alg ${shown(alg)} is not one of ${SIGNING_ALGORITHMS.join(', ')}`);
    }
    checkPublicJwk(publicJwk, alg as SigningAlgorithm, `${where}.publicJwk`);
    if (typeof privateJwe !== 'string' || privateJwe.split('.').length !== 5) throw new Error(`${where}.privateJwe must be a compact JWE`);
    for (const [name, value, nullable] of [['createdAt', createdAt, false], ['activatesAt', activatesAt, false], ['retiresAt', retiresAt, true], ['expiresAt', expiresAt, true]] as const) {
      if (!(nullable && value === null) && !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
        throw new Error(`${where}.${name} must be a time in ms${nullable ? ' or null' : ''}`);
      }
    }
    return { ...raw, kid, alg, publicJwk, privateJwe, createdAt, activatesAt, retiresAt, expiresAt } as StoredKey;
  });
  return { ...doc, v: RING_FORMAT_VERSION, namespace, generation, writtenAt, keys, compromised } as StoredRing;
}

/**
 * A value of the document as a refusal shows it: a string quoted, escaped and cut as
 * {@link unverifiedText} does, an object or array named. JSON.stringify showed any value whole (a
 * namespace of megabytes in one log line) and overflowed the stack on deep nesting, so the refusal
 * was a RangeError that said nothing of the ring (found by fuzzing).
 */
function shown(value: unknown): string {
  return typeof value === 'string' ? `"${unverifiedText(value)}"` : unverifiedText(value);
}

function checkPublicJwk(jwk: unknown, alg: SigningAlgorithm, where: string): void {
  if (!isPlainObject(jwk)) throw new Error(`${where} is not an object`);
  const type = KEY_TYPES[alg];
  if (jwk.kty !== type.kty) throw new Error(`${where}.kty ${shown(jwk.kty)} does not fit ${alg} (expected ${type.kty})`);
  if (type.crv && jwk.crv !== type.crv) throw new Error(`${where}.crv ${shown(jwk.crv)} does not fit ${alg} (expected ${type.crv})`);
  for (const member of type.members) {
    if (typeof jwk[member] !== 'string' || (jwk[member] as string).length === 0) throw new Error(`${where}.${member} is missing`);
  }
  const leaked = PRIVATE_JWK_MEMBERS.filter((m) => m in jwk);
  if (leaked.length > 0) throw new Error(`${where} carries private member(s) ${leaked.join(', ')}`);
}

/** What a ring means at time `now`. */
export interface RingView {
  /**
   * Keys in the JWKS: every key not yet expired, from the moment the ring holds it. Not gated on its
   * `createdAt` (the writer's clock): an instance whose clock is behind the writer's would publish a
   * next key only that much later, and one ahead would sign with it that much earlier, both eating
   * the activation delay. Publishing a public key early costs nothing.
   */
  readonly published: readonly StoredKey[];
  /** The key to sign with: the latest activated, not retired. */
  readonly active: StoredKey | undefined;
  /** A published key that is not active yet. */
  readonly next: StoredKey | undefined;
  /** When this view stops being true (a key activates, retires or expires); Infinity if never. */
  readonly validUntil: number;
}

/** Whether `key` signs at some point: a key that retires when (or before) it activates never does (one carried over from a ring written anew, see ring-carry-over.ts). */
export function everSigns(key: StoredKey): boolean {
  return key.retiresAt === null || key.retiresAt > key.activatesAt;
}

export function viewAt(ring: StoredRing, now: number): RingView {
  const published = ring.keys.filter((k) => k.expiresAt === null || now < k.expiresAt);
  const signable = published.filter((k) => k.activatesAt <= now && (k.retiresAt === null || now < k.retiresAt));
  const active = signable.reduce<StoredKey | undefined>((best, k) => (!best || k.activatesAt > best.activatesAt ? k : best), undefined);
  const next = published.filter((k) => k.activatesAt > now && everSigns(k)).sort((a, b) => a.activatesAt - b.activatesAt)[0];
  const boundaries = ring.keys.flatMap((k) => [k.activatesAt, k.retiresAt, k.expiresAt]).filter((t): t is number => t !== null && t > now);
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
 * The keys and compromised kids after adding `added` (a new key, its private half already
 * encrypted): earlier keys retire when it activates and leave the JWKS after the grace; keys already
 * expired are dropped, and past {@link MAX_KEYS} the oldest leave early (`droppedEarly`, for a
 * warning: a grace longer than about 14 rotation periods). An immediate rotation drops every earlier
 * key at once and records each as compromised, so that no ring that still holds one is adopted again;
 * its key signs from {@link CLOCK_SKEW_ALLOWANCE_MS} before `now` on.
 */
export function planRotation(
  ring: Pick<StoredRing, 'keys' | 'compromised'>,
  added: Omit<StoredKey, 'createdAt' | 'activatesAt' | 'retiresAt' | 'expiresAt'>,
  plan: RotationPlan,
): Pick<StoredRing, 'keys' | 'compromised'> & { readonly droppedEarly: readonly string[] } {
  const { now } = plan;
  const immediate = plan.mode === 'immediate';
  const createdAt = immediate ? now - CLOCK_SKEW_ALLOWANCE_MS : now;
  const activatesAt = immediate ? createdAt : now + plan.activationDelayMs;
  const keys: StoredKey[] = immediate
    ? []
    : ring.keys
        .map((k) => ({
          ...k,
          retiresAt: k.retiresAt === null || k.retiresAt > activatesAt ? activatesAt : k.retiresAt,
          expiresAt: k.expiresAt ?? activatesAt + plan.retireGraceMs,
        }))
        .filter((k) => k.expiresAt > now);
  // Every earlier key now retires when the new one activates: the first in retirement order retired
  // the longest ago. The one still signing until then retires last, and is never dropped (a key
  // carried over from a ring written anew retired when it activated, however late that was).
  keys.sort((a, b) => (a.retiresAt ?? activatesAt) - (b.retiresAt ?? activatesAt) || a.activatesAt - b.activatesAt);
  const droppedEarly = keys.splice(0, Math.max(0, keys.length + 1 - MAX_KEYS)).map((k) => k.kid);
  keys.push({ ...added, createdAt, activatesAt, retiresAt: null, expiresAt: null });
  const compromised = immediate ? [...ring.compromised.filter((kid) => !ring.keys.some((k) => k.kid === kid)), ...ring.keys.map((k) => k.kid)] : [...ring.compromised];
  return { keys, compromised: compromised.slice(-MAX_COMPROMISED_KIDS), droppedEarly };
}
