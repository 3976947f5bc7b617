import { createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Reads the two compact JOSE objects a stored ring is made of, synchronously with node:crypto:
 * the ring's JWS (HS256, RFC 7515 §7.1) and each private key's JWE (`dir` + A256GCM, RFC 7516 §7.1).
 * They are written by jose (key-encryption.ts), whose Node build does every operation through
 * WebCrypto: each a hop to the thread pool and back, which made up most of an instance's start on an
 * existing ring. Only these two shapes are read; anything else throws, and callers turn any throw
 * into their own refusal.
 */

/**
 * Decodes one part, canonical base64url only (RFC 7515 §2: no padding, no other characters). Node's
 * decoder is lenient (it skips characters outside the alphabet, drops a stray last character and
 * ignores unused low bits), so several texts would decode to the same bytes. Only the text that
 * the bytes encode back to is accepted: a stored ring has exactly one valid spelling (its digest is
 * how instances tell rings apart), and nothing jose would refuse gets through.
 */
function part(text: string): Buffer {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new Error('not canonical base64url');
  return bytes;
}

function protectedHeader(text: string): Record<string, unknown> {
  const header: unknown = JSON.parse(part(text).toString('utf8'));
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('header is not an object');
  // Extensions this reader does not implement (RFC 7515 §4.1.11, RFC 7797, RFC 7516 §4.1.3): refused, as jose refuses unknown `crit`.
  if ('crit' in header || 'b64' in header || 'zip' in header) throw new Error('unsupported header parameter');
  return header as Record<string, unknown>;
}

/** The protected header and payload of a compact JWS made with HS256 under `key`; throws when it was not, or was altered. */
export function verifyCompactHs256(jws: string, key: Uint8Array): { header: Record<string, unknown>; payload: Buffer } {
  const parts = jws.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const header = protectedHeader(encodedHeader);
  if (header.alg !== 'HS256') throw new Error('not HS256');
  const signature = part(encodedSignature);
  const expected = createHmac('sha256', key).update(`${encodedHeader}.${encodedPayload}`).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) throw new Error('signature mismatch');
  return { header, payload: part(encodedPayload) };
}

/** The plaintext of a compact JWE made with `dir` and A256GCM under `key`; throws when it was not, or was altered. */
export function decryptCompactDirA256Gcm(jwe: string, key: Uint8Array): Buffer {
  const parts = jwe.split('.');
  if (parts.length !== 5) throw new Error('not a compact JWE');
  const [encodedHeader, encryptedKey, encodedIv, encodedCiphertext, encodedTag] = parts as [string, string, string, string, string];
  const header = protectedHeader(encodedHeader);
  if (header.alg !== 'dir' || header.enc !== 'A256GCM' || encryptedKey !== '') throw new Error('not dir + A256GCM');
  const iv = part(encodedIv);
  const tag = part(encodedTag);
  if (iv.length !== 12 || tag.length !== 16) throw new Error('bad IV or tag length');
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAAD(Buffer.from(encodedHeader, 'ascii'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(part(encodedCiphertext)), decipher.final()]);
}
