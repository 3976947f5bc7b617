import { randomBytes } from 'node:crypto';
import { CompactEncrypt, CompactSign, compactDecrypt, compactVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { decryptCompactDirA256Gcm, verifyCompactHs256 } from '../../../client/src/keyring/compact-reader.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';

const key = new Uint8Array(randomBytes(32));
const otherKey = new Uint8Array(randomBytes(32));
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const sign = (payload: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'kcc-keyring' }, k = key) =>
  new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(header as { alg: string }).sign(k);
const encrypt = (plaintext: string, header: Record<string, unknown> = { alg: 'dir', enc: 'A256GCM' }, k = key) =>
  new CompactEncrypt(new TextEncoder().encode(plaintext)).setProtectedHeader(header as { alg: string; enc: string }).encrypt(k);
/** Flips one character of part `index` of a compact object, keeping it base64url. */
const alter = (compact: string, index: number) => {
  const parts = compact.split('.');
  const p = parts[index]!;
  parts[index] = `${p.slice(0, 2)}${p[2] === 'A' ? 'B' : 'A'}${p.slice(3)}`;
  return parts.join('.');
};

describe('compact JWS (HS256), read with node:crypto', () => {
  it('reads what jose signs, and agrees with jose on it', async () => {
    const jws = await sign('{"ring":1}');
    const { header, payload } = verifyCompactHs256(jws, key);
    expect(payload.toString()).toBe('{"ring":1}');
    expect(header).toEqual({ alg: 'HS256', typ: 'kcc-keyring' });
    expect(new TextDecoder().decode((await compactVerify(jws, key)).payload)).toBe('{"ring":1}');
  });

  it.each([
    ['an altered header', 0],
    ['an altered payload', 1],
    ['an altered signature', 2],
  ])('refuses %s', async (_name, index) => {
    const jws = alter(await sign('{"ring":1,"generation":7}', { alg: 'HS256', typ: 'kcc-keyring', kid: 'abcdef' }), index);
    expect(() => verifyCompactHs256(jws, key)).toThrow();
    await expect(compactVerify(jws, key)).rejects.toThrow(); // jose agrees
  });

  it('refuses a JWS made under another key', async () => {
    const foreign = await sign('{}', undefined, otherKey);
    expect(() => verifyCompactHs256(foreign, key)).toThrow(/signature mismatch/);
  });

  it('refuses alg "none" and any alg but HS256, whatever the signature', async () => {
    const payload = b64('{}');
    expect(() => verifyCompactHs256(`${b64({ alg: 'none' })}.${payload}.`, key)).toThrow(/not HS256/);
    const hs512 = await new CompactSign(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'HS512' }).sign(new Uint8Array(randomBytes(64)));
    expect(() => verifyCompactHs256(hs512, key)).toThrow(/not HS256/);
  });

  it('refuses a truncated signature (a prefix of the right one)', async () => {
    const [h, p, s] = (await sign('{}')).split('.') as [string, string, string];
    expect(() => verifyCompactHs256(`${h}.${p}.${s.slice(0, 20)}`, key)).toThrow(/signature mismatch/);
  });

  it.each([
    ['crit', { alg: 'HS256', crit: ['exp'], exp: 1 }],
    ['b64 (unencoded payload)', { alg: 'HS256', b64: false, crit: ['b64'] }],
  ])('refuses a header with %s, which it does not implement', (_name, header) => {
    const input = `${b64(header)}.${b64('{}')}`;
    expect(() => verifyCompactHs256(`${input}.${b64('x')}`, key)).toThrow(/unsupported header parameter/);
  });

  it.each([
    ['two parts', 'a.b'],
    ['four parts', 'a.b.c.d'],
    ['a header that is not JSON', `${b64('not json')}.${b64('{}')}.x`],
    ['a header that is an array', `${b64([1])}.${b64('{}')}.x`],
    ['characters outside base64url', `${b64({ alg: 'HS256' })}.e30=.x`],
  ])('refuses %s', (_name, jws) => {
    expect(() => verifyCompactHs256(jws, key)).toThrow();
  });

  it('refuses any spelling but canonical base64url (padding, other characters, unused bits set), though the bytes are the same', async () => {
    const [h, p, sig] = (await sign('{"ring":1}')).split('.') as [string, string, string];
    expect(verifyCompactHs256(`${h}.${p}.${sig}`, key).payload.toString()).toBe('{"ring":1}');
    // 32 bytes in 43 characters leave 2 unused bits in the last one: another last character decodes to the same signature.
    const last = sig.at(-1)!;
    const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').find((c) => c !== last && Buffer.from(sig.slice(0, -1) + c, 'base64url').equals(Buffer.from(sig, 'base64url')))!;
    expect(sibling).toBeDefined();
    // Only the canonical-spelling rule refuses these: Node decodes each to the very bytes signed.
    for (const spelling of [`${h}.${p}.${sig}=`, `${h}.${p}.${sig.slice(0, -1)}${sibling}`, `${h}=.${p}.${sig}`]) {
      expect(Buffer.from(spelling.split('.')[2]!, 'base64url').equals(Buffer.from(sig, 'base64url')) || spelling.includes('=.'), spelling).toBe(true);
      expect(() => verifyCompactHs256(spelling, key), spelling).toThrow(/base64url/);
    }
    for (const spelling of [`${h}.${p}.+${sig.slice(1)}`, `${h}.${p}.${sig} `]) expect(() => verifyCompactHs256(spelling, key), spelling).toThrow(/base64url/);
    // The payload's spelling is covered by the MAC, which is over the text as sent.
    expect(() => verifyCompactHs256(`${h}.${p}=.${sig}`, key)).toThrow(/signature mismatch/);
  });
});

describe('compact JWE (dir + A256GCM), read with node:crypto', () => {
  it('decrypts what jose encrypts, and jose decrypts the same', async () => {
    const jwe = await encrypt('{"d":"secret"}', { alg: 'dir', enc: 'A256GCM', kid: 'k1', kek: 'f1', cty: 'jwk+json' });
    expect(decryptCompactDirA256Gcm(jwe, key).toString()).toBe('{"d":"secret"}');
    expect(new TextDecoder().decode((await compactDecrypt(jwe, key)).plaintext)).toBe('{"d":"secret"}');
  });

  it.each([
    ['an altered protected header (authenticated as AAD)', 0],
    ['an altered IV', 2],
    ['an altered ciphertext', 3],
    ['an altered tag', 4],
  ])('refuses %s', async (_name, index) => {
    const jwe = alter(await encrypt('{"d":"a private key, long enough to alter"}', { alg: 'dir', enc: 'A256GCM', kid: 'kid-1' }), index);
    expect(() => decryptCompactDirA256Gcm(jwe, key)).toThrow();
    await expect(compactDecrypt(jwe, key)).rejects.toThrow(); // jose agrees
  });

  it('refuses a JWE made under another key', async () => {
    const foreign = await encrypt('{}', undefined, otherKey);
    expect(() => decryptCompactDirA256Gcm(foreign, key)).toThrow(/auth/i);
  });

  it('refuses other algorithms and a non-empty encrypted key', async () => {
    const a128 = await encrypt('{}', { alg: 'dir', enc: 'A128GCM' }, new Uint8Array(randomBytes(16)));
    expect(() => decryptCompactDirA256Gcm(a128, key)).toThrow(/not dir \+ A256GCM/);
    const [h, , iv, c, t] = (await encrypt('{}')).split('.') as string[];
    expect(() => decryptCompactDirA256Gcm(`${h}.${b64('k')}.${iv}.${c}.${t}`, key)).toThrow(/not dir \+ A256GCM/);
  });

  it('refuses a protected header changed to another valid one (it is the AAD), ciphertext and tag kept', async () => {
    const jwe = await encrypt('{"d":1}', { alg: 'dir', enc: 'A256GCM', kid: 'kid-1', kek: 'f1' });
    const [, k, iv, c, t] = jwe.split('.') as string[];
    const swapped = `${b64({ alg: 'dir', enc: 'A256GCM', kid: 'kid-2', kek: 'f1' })}.${k}.${iv}.${c}.${t}`;
    expect(() => decryptCompactDirA256Gcm(swapped, key)).toThrow(/auth/i);
    await expect(compactDecrypt(swapped, key)).rejects.toThrow(); // jose agrees
  });

  it('refuses a stray character or padding in the IV, ciphertext or tag, which Node alone would skip', async () => {
    const parts = (await encrypt('{"d":"xy"}')).split('.'); // IV 16 characters, ciphertext 14, tag 22
    for (const index of [2, 3, 4]) {
      for (const suffix of ['=', '==', parts[index]!.length % 4 === 0 ? 'A' : '']) {
        if (!suffix) continue;
        const altered = parts.map((p, i) => (i === index ? p + suffix : p)).join('.');
        expect(Buffer.from(altered.split('.')[index]!, 'base64url').equals(Buffer.from(parts[index]!, 'base64url')), `part ${index} + ${suffix} decodes as the original`).toBe(true);
        expect(() => decryptCompactDirA256Gcm(altered, key), `part ${index} + ${suffix}`).toThrow(/base64url/);
      }
    }
  });

  it('refuses a truncated tag (GCM would otherwise accept a shorter one)', async () => {
    const [h, k, iv, c, t] = (await encrypt('{"d":1}')).split('.') as [string, string, string, string, string];
    const short = Buffer.from(t, 'base64url').subarray(0, 12).toString('base64url');
    expect(() => decryptCompactDirA256Gcm(`${h}.${k}.${iv}.${c}.${short}`, key)).toThrow(/bad IV or tag length/);
  });

  it('refuses compression (zip), which it does not implement', () => {
    expect(() => decryptCompactDirA256Gcm(`${b64({ alg: 'dir', enc: 'A256GCM', zip: 'DEF' })}..aaaaaaaaaaaaaaaa.x.aaaaaaaaaaaaaaaaaaaaaa`, key)).toThrow(/unsupported header parameter/);
  });
});

describe('KeyEncryptionKey reads back what it writes', () => {
  const kek = new KeyEncryptionKey('a-key-encryption-key-of-sixty-four-characters-0123456789abcdefgh');
  const other = new KeyEncryptionKey('another-key-encryption-key-of-sixty-four-characters-0123456789ab');

  it('decrypts its own private keys and refuses another key-encryption key, naming the kid', async () => {
    const jwe = await kek.encrypt({ kty: 'oct', k: 'c2VjcmV0' }, 'kid-1');
    expect(kek.decrypt(jwe, 'kid-1')).toEqual({ kty: 'oct', k: 'c2VjcmV0' });
    expect(() => kek.decrypt(jwe, 'kid-2')).toThrow('private key stored under kid "kid-2" belongs to kid "kid-1"');
    expect(() => other.decrypt(jwe, 'kid-1')).toThrow(/was encrypted under key-encryption key [0-9a-f]{16}, not [0-9a-f]{16}/);
  });

  it('verifies its own ring JWS and refuses one from another key or with another typ', async () => {
    expect(kek.verify(await kek.authenticate('{"ring":1}'))).toBe('{"ring":1}');
    const foreign = await other.authenticate('{"ring":1}');
    expect(() => kek.verify(foreign)).toThrow(/authentication under key-encryption key [0-9a-f]{16} failed/);
    const wrongTyp = await new CompactSign(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: kek.fingerprint }).sign(new Uint8Array(32));
    expect(() => kek.verify(wrongTyp)).toThrow(/authentication under key-encryption key/);
  });
});
