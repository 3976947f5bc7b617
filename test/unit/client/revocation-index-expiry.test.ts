import { describe, expect, it } from 'vitest';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';
import { EPOCH_BASE_S } from '../../../client/src/revocation/session-table.js';

const YEAR_MS = 365.25 * 24 * 3_600_000;

// From an attack review: a message dated 1970 (`at: 0`, `exp: 0`) made a record whose expiry, stored
// as unsigned seconds since late 2023, wrapped to 2106: no prune reached it, so it outlived every
// honest record. A record that ended before the table's base is not kept; one past its end is held to it.
describe('RevocationIndex.revokeSession: expiries outside what the table stores', () => {
  it.each([
    ['1970 (0)', 0],
    ['before the table\'s base (2023-11-14)', Date.UTC(2023, 0, 1)],
    ['not a number', Number.NaN],
  ])('an expiry in %s keeps nothing, and no prune is needed to answer active', (_, exp) => {
    const index = new RevocationIndex();
    index.revokeSession('victim', exp);
    expect(index.isRevoked({ sid: 'victim' })).toBe(false);
    expect(index.sessionCount).toBe(0);
  });

  it('an expiry past the table\'s end is held to its end, and pruned there', () => {
    const index = new RevocationIndex();
    const now = Date.now();
    index.revokeSession('far', (EPOCH_BASE_S + 2 ** 32 + 10) * 1000); // would wrap to 10 s past the base
    index.revokeSession('farther', now + 500 * YEAR_MS);
    index.revokeSession('honest', now + 60_000);
    index.prune(now + 120_000, 3_600_000);
    expect(index.isRevoked({ sid: 'far' })).toBe(true);
    expect(index.isRevoked({ sid: 'farther' })).toBe(true);
    expect(index.isRevoked({ sid: 'honest' })).toBe(false);
    index.prune(Date.UTC(2160, 0, 1), 3_600_000);
    expect(index.sessionCount).toBe(0);
  });
});
