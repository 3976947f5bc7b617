import { randomInt, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SessionTable } from '../../../client/src/revocation/session-table.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';

describe('SessionTable (digests in typed arrays, linear probing, backward-shift deletion)', () => {
  it('answers like a Map of ids through growth, pruning and shrinking (model check, probe runs across the wrap)', () => {
    const table = new SessionTable();
    const model = new Map<string, number>();
    const ids = Array.from({ length: 6_000 }, (_, i) => (i % 3 === 0 ? randomUUID() : `s-${i}`));
    let now = 10;
    for (let step = 0; step < 40_000; step++) {
      const op = randomInt(100);
      const id = ids[randomInt(ids.length)]!;
      if (op < 55) {
        const expires = now + randomInt(1, 200);
        table.add(id, expires);
        model.set(id, Math.max(model.get(id) ?? 0, expires));
      } else if (op < 98) {
        expect(table.has(id), id).toBe(model.has(id));
      } else {
        now += randomInt(1, 60);
        const removed = table.prune(now);
        let expected = 0;
        for (const [key, expires] of model) if (expires <= now) (model.delete(key), expected++);
        expect(removed).toBe(expected);
      }
      if (step % 5_000 === 0) {
        expect(table.count).toBe(model.size);
        for (const key of ids) expect(table.has(key), key).toBe(model.has(key));
      }
    }
    // Everything expires: the table shrinks back and still answers.
    table.prune(now + 1_000);
    expect(table.count).toBe(0);
    for (const key of ids.slice(0, 500)) expect(table.has(key)).toBe(false);
  });

  it('keeps the later expiry of an id added twice', () => {
    const table = new SessionTable();
    table.add('sid', 100);
    table.add('sid', 50);
    expect(table.count).toBe(1);
    expect(table.prune(99)).toBe(0);
    expect(table.has('sid')).toBe(true);
    expect(table.prune(100)).toBe(1);
    expect(table.has('sid')).toBe(false);
  });

  it('never answers from a remembered answer that the table has since changed (added, pruned)', () => {
    const table = new SessionTable();
    expect(table.has('later-revoked')).toBe(false); // remembered as not held
    table.add('later-revoked', 10);
    expect(table.has('later-revoked')).toBe(true);
    table.prune(10); // remembered as held, then removed
    expect(table.has('later-revoked')).toBe(false);
    // Beyond the remembered answers: still right.
    for (let i = 0; i < 20_000; i++) table.has(`probe-${i}`);
    table.add('probe-3', 20);
    expect(table.has('probe-3')).toBe(true);
  });

  it('grows in place from a reservation without losing entries', () => {
    const table = new SessionTable();
    const ids = Array.from({ length: 3_000 }, () => randomUUID());
    for (const id of ids.slice(0, 1_000)) table.add(id, 5);
    const before = table.bytes;
    table.reserve(50_000);
    expect(table.bytes).toBeGreaterThan(before);
    for (const id of ids.slice(1_000)) table.add(id, 5);
    expect(table.count).toBe(3_000);
    for (const id of ids) expect(table.has(id)).toBe(true);
    expect(table.has(randomUUID())).toBe(false);
  });
});

describe('RevocationIndex', () => {
  it('revokes sessions, subjects before a time and every token before a time; prunes what expired', () => {
    const index = new RevocationIndex();
    const now = Date.now();
    index.revokeSession('s1', now + 60_000);
    index.revokeSubject('u1', 1_000);
    expect(index.isRevoked({ sid: 's1' })).toBe(true);
    expect(index.isRevoked({ sid: 's2', sub: 'u1', iat: 999 })).toBe(true);
    expect(index.isRevoked({ sid: 's2', sub: 'u1', iat: 1_000 })).toBe(false);
    expect(index.isRevoked({ sub: 'u1' })).toBe(true); // no iat: cannot prove it is newer
    index.revokeAllBefore(500);
    expect(index.isRevoked({ sid: 's3', iat: 499 })).toBe(true);
    expect(index.isRevoked({ sid: 's3', iat: 500 })).toBe(false);
    expect(index.isRevoked({ sid: 's1', iat: 2_000 })).toBe(true);
    index.prune(now + 61_000, 3_600_000);
    expect(index.isRevoked({ sid: 's1', iat: 2_000 })).toBe(false);
    expect(index.sessionCount).toBe(0);
  });
});
