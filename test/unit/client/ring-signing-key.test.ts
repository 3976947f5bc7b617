/**
 * What an instance checks of a key pair before it signs with it: the decrypted private key must be
 * the private half of the public key in the ring (a ring whose private key was swapped, by a holder
 * of the key-encryption key, would sign with a key no JWKS shows), and a public JWK in the ring
 * carries no private member (it is served as it is in the JWKS).
 */
import { describe, expect, it } from 'vitest';
import { generateSigningKey, importPrivateKey } from '../../../client/src/keyring/signing-key.js';
import { parseStoredRing } from '../../../client/src/keyring/ring-data.js';

describe('a key pair an instance signs with', () => {
  it.each(['ES256', 'PS256', 'EdDSA'] as const)('%s: a private key that is not the half of the public key is refused, naming the kid and the member, never a value', async (alg) => {
    const [mine, other] = [await generateSigningKey(alg), await generateSigningKey(alg)];
    await expect(importPrivateKey(alg, mine.kid, mine.publicJwk, mine.privateJwk)).resolves.toBeDefined();
    const error = await importPrivateKey(alg, mine.kid, mine.publicJwk, other.privateJwk).then(() => undefined, (e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    if (!error) return;
    expect(error.message).toMatch(new RegExp(`^private key of kid "${mine.kid}" does not match its public key \\((x|n)\\)$`));
    expect(error.message).not.toContain(String((other.privateJwk as { d: string }).d));
  });

  it('a public JWK in the ring with a private member is refused (it would be served in the JWKS), naming the member, never its value', async () => {
    const { kid, publicJwk, privateJwk } = await generateSigningKey('ES256');
    const d = (privateJwk as { d: string }).d;
    const ring = (jwk: object) => JSON.stringify({
      v: 1, namespace: 'shop-prod:', generation: 1, writtenAt: 1, compromised: [],
      keys: [{ kid, alg: 'ES256', publicJwk: jwk, privateJwe: 'a.b.c.d.e', createdAt: 1, activatesAt: 1, retiresAt: null, expiresAt: null }],
    });
    expect(() => parseStoredRing(ring(publicJwk), 'shop-prod:')).not.toThrow();
    let message = '';
    try {
      parseStoredRing(ring({ ...publicJwk, d }), 'shop-prod:');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe('keys[0].publicJwk carries private member(s) d');
    expect(message).not.toContain(d);
  });
});
