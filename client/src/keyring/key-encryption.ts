import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { CompactEncrypt, CompactSign, type JWK, decodeProtectedHeader } from 'jose';
import { decryptCompactDirA256Gcm, verifyCompactHs256 } from './compact-reader.js';

/** The well-known key used only with `unsafeAllowPlaintextPrivateKeys`: it protects nothing. */
export const UNSAFE_LOCAL_KEK = 'kcc-redis-unsafe-local-only-not-a-secret';

/** `typ` of the JWS that authenticates a stored ring. */
const RING_JWS_TYPE = 'kcc-keyring';
/** Prefix of tagged statements: a JWS signing input (base64url, no newline) never starts like this. */
const STATEMENT_DOMAIN = 'kcc-redis keyring statement v1\n';
/** First part of a value sealed by {@link KeyEncryptionKey.seal}: the format and its version. */
export const SEALED_FORMAT = 'kccs1';

/**
 * One key-encryption key (KEK), as the two keys derived from it: one encrypts private signing keys
 * before they are stored in Redis, the other authenticates the whole stored ring. Neither the KEK
 * nor a derived key ever goes to Redis; the fingerprint does, so a reader knows which KEK to use
 * and an instance with another one says so instead of failing obscurely.
 */
export class KeyEncryptionKey {
  /** First 16 hex characters of SHA-256 over the derived encryption key: identifies, does not reveal. */
  readonly fingerprint: string;
  // Private fields (#) stay out of console.log / util.inspect dumps of this object.
  readonly #encryption: Uint8Array;
  readonly #authentication: Uint8Array;
  readonly #sealing: Uint8Array;
  readonly #naming: Uint8Array;

  constructor(secret: string) {
    // HKDF turns any long random string (the stack generates 64 alphanumerics) into AES-256 and HMAC keys.
    this.#encryption = new Uint8Array(hkdfSync('sha256', secret, 'kcc-redis', 'keyring private-key encryption v1', 32));
    this.#authentication = new Uint8Array(hkdfSync('sha256', secret, 'kcc-redis', 'keyring authentication v1', 32));
    this.#sealing = new Uint8Array(hkdfSync('sha256', secret, 'kcc-redis', 'sealed values v1', 32));
    this.#naming = new Uint8Array(hkdfSync('sha256', secret, 'kcc-redis', 'hidden names v1', 32));
    this.fingerprint = createHash('sha256').update(this.#encryption).digest('hex').slice(0, 16);
  }

  /** Encrypts a private JWK as a compact JWE bound (in its protected header) to the key's kid. */
  encrypt(privateJwk: JWK, kid: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, kek: this.fingerprint, cty: 'jwk+json' })
      .encrypt(this.#encryption);
  }

  /** Decrypts a private JWK; throws a message naming the kid when it is not ours or was altered. */
  decrypt(jwe: string, kid: string): JWK {
    const header = jweHeader(jwe, kid);
    if (header.kek !== this.fingerprint) {
      throw new Error(`private key of kid "${kid}" was encrypted under key-encryption key ${unverifiedText(header.kek)}, not ${this.fingerprint}`);
    }
    if (header.kid !== kid) throw new Error(`private key stored under kid "${kid}" belongs to kid "${unverifiedText(header.kid)}"`);
    try {
      return JSON.parse(decryptCompactDirA256Gcm(jwe, this.#encryption).toString('utf8')) as JWK;
    } catch {
      throw new Error(`private key of kid "${kid}" cannot be decrypted (altered, or another key-encryption key)`);
    }
  }

  /** Authenticates `payload` (the ring document): a compact JWS, HS256 under the derived authentication key. */
  authenticate(payload: string): Promise<string> {
    return new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: 'HS256', kid: this.fingerprint, typ: RING_JWS_TYPE })
      .sign(this.#authentication);
  }

  /** The payload of a JWS made by {@link authenticate} with this key; throws when it was made otherwise or altered. */
  verify(jws: string): string {
    try {
      const { header, payload } = verifyCompactHs256(jws, this.#authentication);
      if (header.typ !== RING_JWS_TYPE || header.kid !== this.fingerprint) throw new Error('header');
      return payload.toString('utf8');
    } catch {
      throw new Error(`authentication under key-encryption key ${this.fingerprint} failed (altered, or written without the key-encryption key)`);
    }
  }

  /**
   * HMAC-SHA-256 (base64url) of a short statement under the derived authentication key (domain
   * separated from the ring's JWS), e.g. "namespace X reached generation N" in the ring's event log.
   */
  tag(statement: string): string {
    return createHmac('sha256', this.#authentication).update(`${STATEMENT_DOMAIN}${statement}`).digest('base64url');
  }

  /** Whether `tag` is this key's {@link tag} of `statement` (constant time). */
  checkTag(statement: string, tag: string): boolean {
    const expected = Buffer.from(this.tag(statement));
    const given = Buffer.from(tag);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /**
   * Encrypts and authenticates `text` (AES-256-GCM under a key derived for this alone) bound to
   * `context`, the Redis key or channel it goes to, so that it cannot be moved to another:
   * `kccs1.<fingerprint>.<iv>.<ciphertext>.<tag>`, base64url parts.
   */
  seal(context: string, text: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#sealing, iv);
    cipher.setAAD(Buffer.from(`${SEALED_FORMAT}.${this.fingerprint}\n${context}`));
    const ciphertext = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return [SEALED_FORMAT, this.fingerprint, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The text {@link seal} sealed for `context` under this key; throws when it was sealed otherwise, for another context, or altered. */
  unseal(context: string, sealed: string): string {
    const parts = sealed.split('.');
    try {
      if (parts.length !== 5 || parts[0] !== SEALED_FORMAT || parts[1] !== this.fingerprint) throw new Error('shape');
      const [iv, ciphertext, tag] = parts.slice(2).map((part) => Buffer.from(part, 'base64url'));
      if (iv!.length !== 12 || tag!.length !== 16) throw new Error('sizes');
      const decipher = createDecipheriv('aes-256-gcm', this.#sealing, iv!, { authTagLength: 16 });
      decipher.setAAD(Buffer.from(`${SEALED_FORMAT}.${this.fingerprint}\n${context}`));
      decipher.setAuthTag(tag!);
      return Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`a value sealed for ${unverifiedText(context)} did not open under key-encryption key ${this.fingerprint} (altered, moved, or written without the key-encryption key)`);
    }
  }

  /**
   * A name for `name` that tells nothing of it without this key (HMAC-SHA-256, base64url): for Redis
   * keys and channels whose own name carries something a reader could use (upstream's hold a refresh
   * token's jti).
   */
  hiddenName(name: string): string {
    return `h1.${createHmac('sha256', this.#naming).update(name).digest('base64url')}`;
  }

  /** The fingerprint only. */
  [inspect.custom](): string {
    return `KeyEncryptionKey { fingerprint: '${this.fingerprint}' }`;
  }

  toJSON(): { fingerprint: string } {
    return { fingerprint: this.fingerprint };
  }
}

/** The fingerprint of the key-encryption key a {@link KeyEncryptionKey.seal}ed value names, or undefined when it is no such value. */
export function sealedKekFingerprint(value: string): string | undefined {
  const match = /^kccs1\.([0-9a-f]{16})\./.exec(value);
  return match?.[1];
}

/** The fingerprint of the key-encryption key a private key's JWE names. */
export function jweKekFingerprint(jwe: string, kid: string): string | undefined {
  const kek = jweHeader(jwe, kid).kek;
  return typeof kek === 'string' ? kek : undefined;
}

/** The fingerprint of the key-encryption key a stored ring's JWS names, or undefined when it is not such a JWS. */
export function ringKekFingerprint(jws: string): string | undefined {
  try {
    const header = decodeProtectedHeader(jws);
    return header.typ === RING_JWS_TYPE && header.alg === 'HS256' && typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/** The most characters of an unverified header value that go into a message. */
const MAX_UNVERIFIED_TEXT = 64;

/**
 * A header value read before anything verified it (a forged ring's JWS `kid`), as messages show it
 * (apps log them; the CLI prints them): its first 64 characters, everything but printable ASCII
 * (and the backslash) escaped as `\uXXXX`, so that it can neither flood a log nor drive a terminal.
 */
export function unverifiedText(value: unknown): string {
  // A header value is any JSON: an object or array is named, not converted (String() throws on
  // {"toString": 1} and overflows the stack on deep nesting, which made decrypt throw a TypeError or
  // a RangeError instead of its refusal: found by fuzzing).
  const text = typeof value === 'object' && value !== null ? (Array.isArray(value) ? '(an array)' : '(an object)') : String(value);
  const shown = text.slice(0, MAX_UNVERIFIED_TEXT).replace(/[^\x20-\x5b\x5d-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > MAX_UNVERIFIED_TEXT ? `${shown}… (${text.length} characters)` : shown;
}

function jweHeader(jwe: string, kid: string): ReturnType<typeof decodeProtectedHeader> {
  try {
    return decodeProtectedHeader(jwe);
  } catch {
    throw new Error(`private key of kid "${kid}" is not a compact JWE`);
  }
}
