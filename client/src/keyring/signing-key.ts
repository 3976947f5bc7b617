import type { webcrypto } from 'node:crypto';
import { type JWK, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import { PRIVATE_JWK_MEMBERS, type SigningAlgorithm } from './ring-data.js';

/** A freshly generated key pair, as JWKs, with its RFC 7638 thumbprint as `kid`. */
export interface GeneratedKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
}

/** Generates a signing key pair for `alg` (RSA 2048 for PS256/RS256, P-256, Ed25519). */
export async function generateSigningKey(alg: SigningAlgorithm): Promise<GeneratedKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, alg, publicJwk: { ...publicJwk, kid, alg, use: 'sig' }, privateJwk };
}

/**
 * Imports a decrypted private JWK as a non-extractable CryptoKey after checking that it is the
 * private half of the stored public key (a swapped private key is refused).
 */
export async function importPrivateKey(alg: SigningAlgorithm, kid: string, publicJwk: JWK, privateJwk: JWK): Promise<webcrypto.CryptoKey> {
  const publicMembers = Object.keys(publicJwk).filter((m) => !['kid', 'alg', 'use', 'key_ops'].includes(m));
  const pub = publicJwk as Record<string, unknown>;
  const priv = privateJwk as Record<string, unknown>;
  for (const member of publicMembers) {
    if (priv[member] !== pub[member]) throw new Error(`private key of kid "${kid}" does not match its public key (${member})`);
  }
  if (!PRIVATE_JWK_MEMBERS.some((m) => m in privateJwk)) throw new Error(`private key of kid "${kid}" has no private members`);
  const key = await importJWK({ ...privateJwk, alg }, alg, { extractable: false });
  if (key instanceof Uint8Array) throw new Error(`private key of kid "${kid}" is not an asymmetric key`);
  return key as webcrypto.CryptoKey;
}
