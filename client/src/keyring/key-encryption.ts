import { createHash, hkdfSync } from 'node:crypto';
import { CompactEncrypt, type JWK, compactDecrypt, decodeProtectedHeader } from 'jose';

/** The well-known key used only with `unsafeAllowPlaintextPrivateKeys`: it protects nothing. */
export const UNSAFE_LOCAL_KEK = 'kcc-redis-unsafe-local-only-not-a-secret';

/**
 * The key that encrypts private signing keys before they are stored in Redis. It never goes to
 * Redis itself; its fingerprint does, so an instance with another KEK says so instead of failing
 * obscurely.
 */
export class KeyEncryptionKey {
  /** First 16 hex characters of SHA-256 over the derived key: identifies, does not reveal. */
  readonly fingerprint: string;
  private readonly key: Uint8Array;

  constructor(secret: string) {
    // HKDF turns any long random string (the stack generates 64 alphanumerics) into an AES-256 key.
    this.key = new Uint8Array(hkdfSync('sha256', secret, 'kcc-redis', 'keyring private-key encryption v1', 32));
    this.fingerprint = createHash('sha256').update(this.key).digest('hex').slice(0, 16);
  }

  /** Encrypts a private JWK as a compact JWE bound (in its protected header) to the key's kid. */
  encrypt(privateJwk: JWK, kid: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, kek: this.fingerprint, cty: 'jwk+json' })
      .encrypt(this.key);
  }

  /** Decrypts a private JWK; throws a message naming the kid when it is not ours or was altered. */
  async decrypt(jwe: string, kid: string): Promise<JWK> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jwe);
    } catch {
      throw new Error(`private key of kid "${kid}" is not a compact JWE`);
    }
    if (header.kek !== this.fingerprint) {
      throw new Error(`private key of kid "${kid}" was encrypted under key-encryption key ${String(header.kek)}; this instance has ${this.fingerprint}`);
    }
    if (header.kid !== kid) throw new Error(`private key stored under kid "${kid}" belongs to kid "${String(header.kid)}"`);
    try {
      const { plaintext } = await compactDecrypt(jwe, this.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      return JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
    } catch {
      throw new Error(`private key of kid "${kid}" cannot be decrypted (altered, or another key-encryption key)`);
    }
  }
}
