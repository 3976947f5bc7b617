import { describe, expect, it } from 'vitest';
import { KeyEncryptionKey, unverifiedText } from '../../../client/src/keyring/key-encryption.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { RingRefusal, openRing } from '../../../client/src/keyring/ring-seal.js';

const quiet = { info: () => {}, warn: () => {} };

describe('values read before verification, in messages apps log', () => {
  it('a forged ring\'s kid: escaped and cut to 64 characters in the unknown-kek refusal', async () => {
    const kid = `\u001b]52;c;ZWNobyBwd25lZA==\u0007\u001b[2J\u202e${'A'.repeat(10_000)}`;
    const header = Buffer.from(JSON.stringify({ typ: 'kcc-keyring', alg: 'HS256', kid })).toString('base64url');
    const keks = await KeyEncryptionKeys.load(async () => ({ kek: 'k'.repeat(64) }), quiet, true);
    const refusal = await openRing(`${header}.e30.c2ln`, keks, 'shop-dev:').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RingRefusal);
    const { reason, message } = refusal as RingRefusal;
    expect(reason).toBe('unknown-kek');
    expect(message).toMatch(/^authenticated under key-encryption key \\u001b\]52;c;ZWNobyBwd25lZA==\\u0007\\u001b\[2J\\u202eA{35}… \(10029 characters\); this instance holds [0-9a-f]{16}$/);
    expect(message).not.toMatch(/[^\x20-\x7e…]/);
  });

  it('a real fingerprint is shown as it is; a backslash is escaped so that an escape cannot be faked', () => {
    expect([unverifiedText('0123456789abcdef'), unverifiedText(undefined), unverifiedText('a\\u001b')]).toEqual(['0123456789abcdef', 'undefined', 'a\\u005cu001b']);
  });

  it('a header value that is an object or an array is named, not converted: decrypt refuses a forged JWE header with its own Error, not a TypeError or a stack overflow', () => {
    const deepText = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const deep = JSON.parse(deepText) as unknown;
    expect([unverifiedText({ toString: 1 }), unverifiedText(deep), unverifiedText({ a: 1 })]).toEqual(['(an object)', '(an array)', '(an object)']);
    const kek = new KeyEncryptionKey('k'.repeat(64));
    for (const kid of ['{"toString":1}', deepText]) {
      const header = Buffer.from(`{"alg":"dir","enc":"A256GCM","kid":${kid},"kek":"${kek.fingerprint}"}`).toString('base64url');
      let thrown: unknown;
      try {
        kek.decrypt(`${header}..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA`, 'kid-1');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect([TypeError, RangeError].some((type) => thrown instanceof type)).toBe(false);
      expect((thrown as Error).message).toBe('private key stored under kid "kid-1" belongs to kid "(an ' + (kid === deepText ? 'array)"' : 'object)"'));
    }
  });
});
