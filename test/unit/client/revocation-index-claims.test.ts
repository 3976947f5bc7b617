import { describe, expect, it } from 'vitest';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';

// From an attack review: claims whose sid is null or another type (a token's JSON may carry them)
// threw a TypeError from the digest, which require-not-revoked answered 500.
describe('RevocationIndex.isRevoked: claims of other types', () => {
  it.each([
    ['null', null],
    ['a number', 42],
    ['an array', ['victim']],
    ['an object', { toString: () => 'victim' }],
  ])('a sid that is %s names no session; the not-befores still apply', (_, sid) => {
    const index = new RevocationIndex();
    index.revokeSession('victim', Date.now() + 60_000);
    const iat = Math.floor(Date.now() / 1000);
    const claims = { sid, sub: 'user', iat } as unknown as Parameters<RevocationIndex['isRevoked']>[0];
    expect(index.isRevoked(claims)).toBe(false);
    index.revokeSubject('user', iat + 1);
    expect(index.isRevoked(claims)).toBe(true);
  });

  it.each([null, undefined, 'sid', 7])('claims that are not an object (%s) are a TypeError that says what to pass', (claims) => {
    expect(() => new RevocationIndex().isRevoked(claims as never)).toThrow(/claims must be the verified token's claims object/);
  });
});
