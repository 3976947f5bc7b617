import { describe, expect, it } from 'vitest';
import { MAX_CARRIED_KEYS, carriedOverKeys } from '../../../client/src/keyring/ring-carry-over.js';
import { MAX_KEYS, RING_FORMAT_VERSION, type StoredKey, type StoredRing, planRotation, viewAt } from '../../../client/src/keyring/ring-data.js';

const MINUTE = 60_000;
const NOW = 1_000 * MINUTE;
const GRACE = 15 * MINUTE;

function key(kid: string, times: Partial<StoredKey> = {}): StoredKey {
  return { kid, alg: 'ES256', publicJwk: {}, privateJwe: 'a.b.c.d.e', createdAt: 0, activatesAt: 0, retiresAt: null, expiresAt: null, ...times };
}

function ring(writtenAt: number, keys: StoredKey[], compromised: string[] = []): StoredRing {
  return { v: RING_FORMAT_VERSION, namespace: 'ns', generation: 1, writtenAt, keys, compromised };
}

/** A key an instance created on the empty namespace: signing from creation, 60 s back on its clock. */
const fresh = (kid: string, createdAt = NOW - 70_000) => key(kid, { createdAt, activatesAt: createdAt });
/** The running instances' ring, written long before Redis lost it. */
const held = ring(NOW - 60 * MINUTE, [key('old', { retiresAt: NOW - 70 * MINUTE, expiresAt: NOW + 5 * MINUTE }), key('known', { activatesAt: NOW - 70 * MINUTE })]);
/** What an instance that started on the empty namespace wrote. */
const newcomer = ring(NOW - 10_000, [fresh('fresh')]);

describe('carriedOverKeys: which keys of a refused ring stay published', () => {
  it("keeps a newcomer's signing key published for the grace period, never to sign again", () => {
    expect(carriedOverKeys(newcomer, held, new Set(), NOW, GRACE)).toEqual([{ ...newcomer.keys[0], retiresAt: NOW - 70_000, expiresAt: NOW + GRACE }]);
  });

  it("carries nothing from a ring written before the one held: a replay of this ring's own history brings no dropped key back", () => {
    const replayed = ring(NOW - 90 * MINUTE, [key('dropped-long-ago', { createdAt: NOW - 200 * MINUTE, activatesAt: NOW - 200 * MINUTE })]);
    expect(carriedOverKeys(replayed, held, new Set(), NOW, GRACE)).toEqual([]);
    expect(carriedOverKeys({ ...newcomer, writtenAt: held.writtenAt }, held, new Set(), NOW, GRACE)).toEqual([]);
  });

  it('carries no key created before the ring held was written, even from a ring written after it (an old ring an honest instance re-encrypted or rotated)', () => {
    // Found by a review (2026-12-03): a replayed old ring, rewritten by a starting instance, had a fresh writtenAt and its old key still signing.
    const rewritten = ring(NOW - 10_000, [key('dropped-long-ago', { createdAt: NOW - 200 * MINUTE, activatesAt: NOW - 200 * MINUTE })]);
    expect(carriedOverKeys(rewritten, held, new Set(), NOW, GRACE)).toEqual([]);
    // Created within twice the allowed clock skew before the held ring: could be either; not carried.
    expect(carriedOverKeys(ring(NOW - 10_000, [fresh('edge', held.writtenAt - 2 * MINUTE)]), held, new Set(), NOW, GRACE)).toEqual([]);
    expect(carriedOverKeys(ring(NOW - 10_000, [fresh('edge', held.writtenAt - 2 * MINUTE + 1)]), held, new Set(), NOW, GRACE)).toHaveLength(1);
  });

  it('carries only keys that were signing in the refused ring: not retired, not expired, not still to activate', () => {
    const refused = ring(NOW - 10_000, [
      key('retired', { createdAt: NOW - 20 * MINUTE, activatesAt: NOW - 20 * MINUTE, retiresAt: NOW - MINUTE, expiresAt: NOW + 10 * MINUTE }),
      // Found by a review: an expired key is not decrypted by unlockRing, so its private half went unchecked.
      key('expired', { createdAt: NOW - 3 * MINUTE, activatesAt: NOW - 3 * MINUTE, retiresAt: null, expiresAt: NOW - 1 }),
      fresh('signing', NOW - 2 * MINUTE),
      key('pending', { createdAt: NOW - MINUTE, activatesAt: NOW + MINUTE }),
    ]);
    expect(carriedOverKeys(refused, held, new Set(), NOW, GRACE).map((k) => k.kid)).toEqual(['signing']);
  });

  it('never carries a kid held already, or one retired as compromised (seen here or named by the refused ring)', () => {
    const refused = ring(NOW - 10_000, [fresh('known'), fresh('burnt'), fresh('named')]);
    expect(carriedOverKeys(refused, held, new Set(['burnt']), NOW, GRACE).map((k) => k.kid)).toEqual(['named']);
    expect(carriedOverKeys({ ...refused, keys: refused.keys.slice(2), compromised: ['named'] }, held, new Set(), NOW, GRACE)).toEqual([]);
  });

  it(`carries at most ${MAX_CARRIED_KEYS}, newest first, within the ring's key limit, and nothing when the grace is zero`, () => {
    const many = ring(NOW - 10_000, Array.from({ length: 5 }, (_, i) => fresh(`k${i}`, NOW - 5 * MINUTE + i)));
    expect(carriedOverKeys(many, held, new Set(), NOW, GRACE).map((k) => k.kid)).toEqual(['k4', 'k3']);
    const full = ring(held.writtenAt, Array.from({ length: MAX_KEYS - 1 }, (_, i) => key(`h${i}`, { activatesAt: i })));
    expect(carriedOverKeys(many, full, new Set(), NOW, GRACE).map((k) => k.kid)).toEqual(['k4']);
    expect(carriedOverKeys(many, { ...full, keys: [...full.keys, key('last')] }, new Set(), NOW, GRACE)).toEqual([]);
    expect(carriedOverKeys(newcomer, held, new Set(), 0 + NOW, 0)).toEqual([]);
  });
});

describe('a ring with carried-over keys', () => {
  // c2: a key the newcomer rotated to while isolated, signing from 10 s ago.
  const carried = carriedOverKeys(ring(NOW - 5_000, [fresh('c1', NOW - 2 * MINUTE), key('c2', { createdAt: NOW - MINUTE, activatesAt: NOW - 10_000 })]), held, new Set(), NOW, GRACE);
  const merged = { ...held, keys: [...held.keys, ...carried] };

  it('signs with the held key and shows no carried key as the next one, also on a clock behind', () => {
    // Found by a review: a reader 30 s behind saw a carried key (created after its activation time) as `next`, which held back rotations.
    expect(carried.map((k) => k.kid)).toEqual(['c2', 'c1']);
    for (const clock of [NOW, NOW - 30_000, NOW - 59_000]) {
      const view = viewAt(merged, clock);
      expect([view.active?.kid, view.next?.kid], `clock ${clock - NOW} ms`).toEqual(['known', undefined]);
    }
  });

  it('a rotation that must drop keys early drops carried ones and retired ones before the key still signing', () => {
    // Found by a review: ordered by activation, the key still signing (activated before them) was dropped first, leaving no active key.
    const crowded = { ...merged, keys: [key('known', { activatesAt: NOW - 70 * MINUTE }), ...Array.from({ length: MAX_KEYS - 1 }, (_, i) => ({ ...fresh(`c${i}`, NOW - MINUTE + i), retiresAt: NOW - MINUTE + i, expiresAt: NOW + GRACE }))] };
    const added = { kid: 'new', alg: 'ES256' as const, publicJwk: {}, privateJwe: 'a.b.c.d.e' };
    const planned = planRotation(crowded, added, { mode: 'scheduled', now: NOW, activationDelayMs: MINUTE, retireGraceMs: GRACE });
    expect(planned.droppedEarly).toEqual(['c0']);
    expect(planned.keys.map((k) => k.kid)).toContain('known');
    expect(viewAt({ ...crowded, ...planned }, NOW).active?.kid).toBe('known');
  });
});
