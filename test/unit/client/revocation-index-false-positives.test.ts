/**
 * No false "revoked": the index keeps 127-bit keyed digests, not the ids (the 128th bit holds the
 * entry's kind), so an id that was never revoked is answered "revoked" only if its digest equals a
 * stored one. For ids the attacker does not choose against a known key, that happens with
 * probability at most n·q / 2^127 (n stored, q asked; here about 10^-27: any false answer fails the
 * test). See docs/logout-sync.md, "The index".
 *
 * Near misses are where a digest that skips part of the input (a tail unit, the high byte of a
 * UTF-16 unit, the length) would collide deterministically: every single-unit change, truncation and
 * extension of revoked ids of every length from 1 to 40 units.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';

const EXPIRES = Date.now() + 3_600_000;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789-_ÄéΩ中😀';

function randomId(length: number): string {
  let id = '';
  while (id.length < length) id += ALPHABET[randomInt(ALPHABET.length)];
  return id.slice(0, length); // may cut a surrogate pair: lone surrogates are valid code units too
}

/** Every id one edit away from `id`: each unit replaced (low byte, high byte), one removed at the end, one added. */
function nearMisses(id: string): string[] {
  const out = [id.slice(0, -1), `${id}a`, `${id}\u0000`, `a${id}`];
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    for (const d of [c ^ 1, c ^ 0x80, c ^ 0x100, c ^ 0x8000]) out.push(id.slice(0, i) + String.fromCharCode(d) + id.slice(i + 1));
  }
  return out;
}

describe('revocation index: no false "revoked"', () => {
  it('answers "not revoked" for every near miss of 4,000 revoked ids of lengths 1 to 40 (no digest collision)', () => {
    const index = new RevocationIndex();
    const revoked = new Set<string>();
    for (let length = 1; length <= 40; length++) {
      for (let j = 0; j < 100; j++) revoked.add(randomId(length));
    }
    for (const id of revoked) index.revokeSession(id, EXPIRES);
    const falseRevoked: string[] = [];
    for (const id of revoked) {
      for (const miss of nearMisses(id)) if (!revoked.has(miss) && index.isRevoked({ sid: miss })) falseRevoked.push(miss);
    }
    expect(falseRevoked).toEqual([]);
    for (const id of revoked) expect(index.isRevoked({ sid: id })).toBe(true);
  });

  it('answers "not revoked" for 1,000,000 random session ids against 200,000 revoked ones', () => {
    const index = new RevocationIndex();
    for (let i = 0; i < 200_000; i++) index.revokeSession(randomUUID(), EXPIRES);
    let falseRevoked = 0;
    for (let i = 0; i < 1_000_000; i++) if (index.isRevoked({ sid: randomUUID() })) falseRevoked++;
    expect(falseRevoked).toBe(0);
  });
});
