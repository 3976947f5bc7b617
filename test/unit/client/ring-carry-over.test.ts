import { describe, expect, it } from 'vitest';
import { carriedOverKeys } from '../../../client/src/keyring/ring-carry-over.js';
import { MAX_KEYS, RING_FORMAT_VERSION, type StoredKey, type StoredRing } from '../../../client/src/keyring/ring-data.js';

const MINUTE = 60_000;
const NOW = 1_000 * MINUTE;
const GRACE = 15 * MINUTE;

function key(kid: string, times: Partial<StoredKey> = {}): StoredKey {
  return { kid, alg: 'ES256', publicJwk: {}, privateJwe: 'a.b.c.d.e', createdAt: 0, activatesAt: 0, retiresAt: null, expiresAt: null, ...times };
}

function ring(writtenAt: number, keys: StoredKey[], compromised: string[] = []): StoredRing {
  return { v: RING_FORMAT_VERSION, namespace: 'ns', generation: 1, writtenAt, keys, compromised };
}

/** The running instances' ring, written long before Redis lost it. */
const held = ring(NOW - 60 * MINUTE, [key('old', { retiresAt: NOW - 70 * MINUTE, expiresAt: NOW + 5 * MINUTE }), key('known', { activatesAt: NOW - 70 * MINUTE })]);
/** What an instance that started on the empty namespace wrote: one key, signing from creation (60 s back on its clock). */
const newcomer = ring(NOW - 10_000, [key('fresh', { createdAt: NOW - 70_000, activatesAt: NOW - 70_000 })]);

describe('carriedOverKeys: which keys of a refused ring stay published', () => {
  it('keeps a newcomer\'s signing key published for the grace period, never to sign again', () => {
    expect(carriedOverKeys(newcomer, held, new Set(), NOW, GRACE)).toEqual([
      { ...newcomer.keys[0], retiresAt: NOW - 70_000, expiresAt: NOW + GRACE },
    ]);
  });

  it('carries nothing from a ring written before the one held: a replay of this ring\'s own history brings no dropped key back', () => {
    // An old ring whose active key the history held here retired and dropped long ago.
    const replayed = ring(NOW - 90 * MINUTE, [key('dropped-long-ago', { activatesAt: NOW - 200 * MINUTE })]);
    expect(carriedOverKeys(replayed, held, new Set(), NOW, GRACE)).toEqual([]);
    expect(carriedOverKeys({ ...newcomer, writtenAt: held.writtenAt }, held, new Set(), NOW, GRACE)).toEqual([]);
  });

  it('carries only keys that were signing in the refused ring: not retired ones, not ones still to activate', () => {
    const refused = ring(NOW - 10_000, [
      key('retired', { activatesAt: NOW - 20 * MINUTE, retiresAt: NOW - MINUTE, expiresAt: NOW + 10 * MINUTE }),
      key('signing', { activatesAt: NOW - 2 * MINUTE }),
      key('pending', { createdAt: NOW - MINUTE, activatesAt: NOW + MINUTE }),
    ]);
    expect(carriedOverKeys(refused, held, new Set(), NOW, GRACE).map((k) => k.kid)).toEqual(['signing']);
  });

  it('never carries a kid held already, or one retired as compromised (seen here or named by the refused ring)', () => {
    const refused = ring(NOW - 10_000, [key('known', { activatesAt: NOW - MINUTE }), key('burnt', { activatesAt: NOW - MINUTE }), key('named', { activatesAt: NOW - MINUTE })], []);
    expect(carriedOverKeys(refused, held, new Set(['burnt']), NOW, GRACE).map((k) => k.kid)).toEqual(['named']);
    expect(carriedOverKeys({ ...refused, keys: refused.keys.slice(2), compromised: ['named'] }, held, new Set(), NOW, GRACE)).toEqual([]);
  });

  it('stays within the ring\'s key limit, newest first, and carries nothing when the grace is zero', () => {
    const full = ring(held.writtenAt, Array.from({ length: MAX_KEYS - 1 }, (_, i) => key(`h${i}`, { activatesAt: i })));
    const refused = ring(NOW - 10_000, [key('earlier', { activatesAt: NOW - 5 * MINUTE }), key('later', { activatesAt: NOW - MINUTE })]);
    expect(carriedOverKeys(refused, full, new Set(), NOW, GRACE).map((k) => k.kid)).toEqual(['later']);
    expect(carriedOverKeys(refused, { ...full, keys: [...full.keys, key('last')] }, new Set(), NOW, GRACE)).toEqual([]);
    expect(carriedOverKeys(newcomer, held, new Set(), NOW, 0)).toEqual([]);
  });
});
