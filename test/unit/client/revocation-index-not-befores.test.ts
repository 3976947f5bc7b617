import { describe, expect, it } from 'vitest';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';

describe('RevocationIndex.notBefores: what an instance can write back after Redis lost its data', () => {
  it('yields every user-wide not-before and the client-wide one raised by value, not a pushed one nor sessions (held only as digests)', () => {
    const index = new RevocationIndex();
    index.revokeSession('a-session', Date.now() + 60_000);
    index.revokeSubject('user-1', 1_800_000_000);
    index.revokeSubject('user-1', 1_800_000_010);
    index.revokeSubject('user-2', 1_800_000_005);
    expect([...index.notBefores()]).toEqual([
      { kind: 'subject', sub: 'user-1', nbf: 1_800_000_010 },
      { kind: 'subject', sub: 'user-2', nbf: 1_800_000_005 },
    ]);
    index.setPushedNotBefore(1_800_000_100); // Keycloak's push: relayed again on its own, as pushed
    expect([...index.notBefores()].some((e) => e.kind === 'client')).toBe(false);
    index.revokeAllBefore(1_800_000_050);
    expect([...index.notBefores()].at(-1)).toEqual({ kind: 'client', nbf: 1_800_000_050 });
  });
});
