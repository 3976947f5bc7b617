import { randomInt, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALL, NOT_HELD, SessionTable } from '../../../client/src/revocation/session-table.js';
import { SidDigester } from '../../../client/src/revocation/sid-digest.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';

/** What the table should answer, by id: an all entry (its expiry) or an up-to entry (its T). */
type Entry = { readonly all: boolean; readonly time: number };

/** The merge rules, on a `Map`: all beats up-to (an all over an up-to takes the all's expiry), two of a kind keep the later time. */
function modelAdd(model: Map<string, Entry>, id: string, all: boolean, time: number): void {
  const held = model.get(id);
  if (held === undefined || (all && !held.all)) model.set(id, { all, time });
  else if (all === held.all && time > held.time) model.set(id, { all, time });
}

function modelAnswer(model: Map<string, Entry>, id: string): number {
  const held = model.get(id);
  return held === undefined ? NOT_HELD : held.all ? ALL : held.time;
}

function modelPrune(model: Map<string, Entry>, nowS: number, upToLifetimeS: number): number {
  let removed = 0;
  for (const [id, { all, time }] of model) {
    if (all ? time <= nowS : time + upToLifetimeS <= nowS) (model.delete(id), removed++);
  }
  return removed;
}

/** The table's private arrays, read only to check that a test set up the probe runs it meant to. */
function internals(table: SessionTable): { readonly tags: Uint32Array; readonly rest: Uint32Array; readonly capacity: number } {
  return table as unknown as { tags: Uint32Array; rest: Uint32Array; capacity: number };
}

describe('SessionTable (digests in typed arrays, linear probing, backward-shift deletion)', () => {
  it('answers like a Map of ids and kinds through growth, pruning and shrinking (model check, probe runs across the wrap, each answer also asked right after its id changed)', () => {
    const table = new SessionTable();
    const model = new Map<string, Entry>();
    const ids = Array.from({ length: 6_000 }, (_, i) => (i % 3 === 0 ? randomUUID() : `s-${i}`));
    let now = 10;
    for (let step = 0; step < 40_000; step++) {
      const op = randomInt(100);
      const id = ids[randomInt(ids.length)]!;
      if (op < 55) {
        // Asked before and after: the remembered answer must be forgotten.
        expect(table.issuedUpTo(id), id).toBe(modelAnswer(model, id));
        const all = op < 30;
        const time = all ? now + randomInt(1, 200) : Math.max(0, now - randomInt(0, 100)) + randomInt(0, 3);
        if (all) table.add(id, time);
        else table.addUpTo(id, time);
        modelAdd(model, id, all, time);
        expect(table.issuedUpTo(id), id).toBe(modelAnswer(model, id));
      } else if (op < 98) {
        expect(table.issuedUpTo(id), id).toBe(modelAnswer(model, id));
      } else {
        now += randomInt(1, 60);
        const lifetime = randomInt(0, 150);
        expect(table.prune(now, lifetime)).toBe(modelPrune(model, now, lifetime));
      }
      if (step % 5_000 === 0) {
        expect(table.count).toBe(model.size);
        for (const key of ids) expect(table.issuedUpTo(key), key).toBe(modelAnswer(model, key));
      }
    }
    // Everything expires: the table shrinks back and still answers.
    table.prune(now + 1_000, 0);
    expect(table.count).toBe(0);
    for (const key of ids.slice(0, 500)) expect(table.issuedUpTo(key)).toBe(NOT_HELD);
  });

  it('answers each kind: not held, all, up-to T (also T at either end of the range, both distinct from all)', () => {
    const table = new SessionTable();
    table.add('all', 100);
    table.addUpTo('up-to', 42);
    table.addUpTo('up-to-first', 1);
    table.addUpTo('up-to-last', 0xffff_ffff);
    expect(table.issuedUpTo('all')).toBe(ALL);
    expect(table.issuedUpTo('up-to')).toBe(42);
    expect(table.issuedUpTo('up-to-first')).toBe(1);
    expect(table.issuedUpTo('up-to-last')).toBe(0xffff_ffff);
    expect(table.issuedUpTo('never')).toBe(NOT_HELD);
    expect(table.count).toBe(4);
  });

  it('keeps each kind whatever the lowest bit of digest word 3 (the bit that holds the kind)', () => {
    const seeds = [11, 22, 33, 44] as const;
    const digester = new SidDigester(seeds);
    const byBit: string[][] = [[], []];
    for (let n = 0; byBit[0]!.length < 4 || byBit[1]!.length < 4; n++) {
      digester.digest(`bit-${n}`);
      byBit[digester.out[3]! & 1]!.push(`bit-${n}`);
    }
    const table = new SessionTable(undefined, seeds);
    for (const ids of byBit) {
      table.add(ids[0]!, 100);
      table.addUpTo(ids[1]!, 50);
      table.addUpTo(ids[2]!, 50);
      table.add(ids[2]!, 100); // all over up-to
      table.add(ids[3]!, 100);
      table.addUpTo(ids[3]!, 50); // up-to over all
    }
    for (const ids of byBit) {
      expect(ids.slice(0, 4).map((id) => table.issuedUpTo(id))).toEqual([ALL, 50, ALL, ALL]);
    }
    expect(table.count).toBe(8);
  });

  it('merges all over all: the later expiry wins', () => {
    const table = new SessionTable();
    table.add('sid', 100);
    table.add('sid', 50);
    expect(table.count).toBe(1);
    expect(table.prune(99, 0)).toBe(0);
    expect(table.issuedUpTo('sid')).toBe(ALL);
    expect(table.prune(100, 0)).toBe(1);
    expect(table.issuedUpTo('sid')).toBe(NOT_HELD);
  });

  it('merges up-to over up-to: the later T wins, in either order', () => {
    const table = new SessionTable();
    table.addUpTo('rising', 40);
    table.addUpTo('rising', 50);
    table.addUpTo('falling', 50);
    table.addUpTo('falling', 40);
    expect(table.issuedUpTo('rising')).toBe(50);
    expect(table.issuedUpTo('falling')).toBe(50);
    expect(table.count).toBe(2);
  });

  it('merges up-to over all: stays all, its expiry unchanged (even for a T later than the expiry)', () => {
    const table = new SessionTable();
    table.add('sid', 100);
    table.addUpTo('sid', 500);
    expect(table.issuedUpTo('sid')).toBe(ALL);
    expect(table.count).toBe(1);
    // Pruned at the all's expiry: neither kept as an up-to (500 + 1,000 > 100) nor until 500.
    expect(table.prune(99, 1_000)).toBe(0);
    expect(table.prune(100, 1_000)).toBe(1);
  });

  it('merges all over up-to: becomes all, with the all\'s expiry (even one before the T)', () => {
    const table = new SessionTable();
    table.addUpTo('sid', 500);
    table.add('sid', 100);
    expect(table.issuedUpTo('sid')).toBe(ALL);
    expect(table.count).toBe(1);
    // Pruned at the all's expiry: neither kept as an up-to (500 + 1,000 > 100) nor until 500.
    expect(table.prune(99, 1_000)).toBe(0);
    expect(table.prune(100, 1_000)).toBe(1);
    expect(table.issuedUpTo('sid')).toBe(NOT_HELD);
  });

  it('prunes an all entry at its expiry, an up-to entry at T + the up-to lifetime, not a second before', () => {
    const table = new SessionTable();
    table.add('all', 100);
    table.addUpTo('up-to', 60);
    expect(table.prune(99, 41)).toBe(0); // all: 100 > 99; up-to: 60 + 41 > 99
    expect(table.prune(100, 41)).toBe(1); // all: 100 <= 100; up-to: 60 + 41 > 100
    expect(table.issuedUpTo('all')).toBe(NOT_HELD);
    expect(table.issuedUpTo('up-to')).toBe(60);
    expect(table.prune(100, 40)).toBe(1); // up-to: 60 + 40 <= 100
    expect(table.issuedUpTo('up-to')).toBe(NOT_HELD);
    expect(table.count).toBe(0);
  });

  it('moves entries back across the wrap on removal with their kinds and times (backward shift)', () => {
    const seeds = [1, 2, 3, 4] as const;
    const capacity = 1_024;
    const digester = new SidDigester(seeds);
    const homeOf = (id: string) => {
      digester.digest(id);
      return Math.floor(digester.out[1]! * capacity / 4_294_967_296);
    };
    const w1Of = (id: string) => (digester.digest(id), digester.out[1]!);
    // Homes wanted, in insertion order: three at the last-but-one slot, one at the last, one at 0, one at 1.
    const wanted = [capacity - 2, capacity - 2, capacity - 2, capacity - 1, 0, 1];
    const ids: string[] = [];
    for (let n = 0; ids.length < wanted.length; n++) {
      const id = `wrap-${n}`;
      if (homeOf(id) === wanted[ids.length]) ids.push(id);
    }
    const [a, b, c, d, e, f] = ids as [string, string, string, string, string, string];
    const table = new SessionTable(capacity, seeds);
    expect(table.bytes).toBe(capacity * 20);
    table.add(a, 10);
    table.addUpTo(b, 500);
    table.add(c, 1_000);
    table.addUpTo(d, 600);
    table.addUpTo(e, 700);
    table.add(f, 1_100);
    const slots = () => {
      const { tags, rest } = internals(table);
      const bySlot: (string | undefined)[] = [];
      for (const s of [capacity - 3, capacity - 2, capacity - 1, 0, 1, 2, 3, 4]) {
        bySlot.push(tags[s] === 0 ? undefined : ids.find((id) => w1Of(id) === rest[3 * s]));
      }
      return bySlot;
    };
    // The run the test means: from the last-but-one slot across the wrap to slot 3.
    expect(slots()).toEqual([undefined, a, b, c, d, e, f, undefined]);

    expect(table.prune(10, 0)).toBe(1); // removes a (all): every entry after it moves back one slot
    expect(slots()).toEqual([undefined, b, c, d, e, f, undefined, undefined]);
    expect(ids.map((id) => table.issuedUpTo(id))).toEqual([NOT_HELD, 500, ALL, 600, 700, ALL]);

    expect(table.prune(500, 0)).toBe(1); // removes b (up-to, T + 0 <= 500): the rest move back again
    expect(slots()).toEqual([undefined, c, d, e, f, undefined, undefined, undefined]);
    expect(ids.map((id) => table.issuedUpTo(id))).toEqual([NOT_HELD, NOT_HELD, ALL, 600, 700, ALL]);
    // The times came along: each goes at its own.
    expect(table.prune(600, 0)).toBe(1);
    expect(table.prune(999, 0)).toBe(1);
    expect(ids.map((id) => table.issuedUpTo(id))).toEqual([NOT_HELD, NOT_HELD, ALL, NOT_HELD, NOT_HELD, ALL]);
    expect(table.prune(1_000, 0)).toBe(1);
    expect(table.prune(1_100, 0)).toBe(1);
    expect(table.count).toBe(0);
  });

  it('keeps kinds and times through growing, reserving and shrinking', () => {
    const table = new SessionTable();
    const ids = Array.from({ length: 3_000 }, (_, i) => `grow-${i}`);
    const expected = (i: number) => (i % 2 === 0 ? ALL : 100 + i);
    const initial = table.bytes;
    ids.forEach((id, i) => (i % 2 === 0 ? table.add(id, i < 2_900 ? 10 : 20_000) : table.addUpTo(id, 100 + i)));
    const grown = table.bytes;
    expect(grown).toBeGreaterThan(initial);
    expect(ids.map((id, i) => table.issuedUpTo(id) === expected(i)).every(Boolean)).toBe(true);
    table.reserve(20_000);
    expect(table.bytes).toBeGreaterThan(grown);
    expect(ids.map((id, i) => table.issuedUpTo(id) === expected(i)).every(Boolean)).toBe(true);
    // All entries expired but the last 50; up-to entries with T >= 100 + 2,900 kept (lifetime 0 at now 3,000).
    const reserved = table.bytes;
    const removed = table.prune(3_000, 0);
    expect(removed).toBe(1_450 + 1_450);
    expect(table.count).toBe(100);
    expect(table.bytes).toBeLessThan(reserved);
    for (const [i, id] of ids.entries()) expect(table.issuedUpTo(id), id).toBe(i < 2_900 ? NOT_HELD : expected(i));
  });

  it('never answers from a remembered answer that the table has since changed (added either kind, pruned)', () => {
    const table = new SessionTable();
    expect(table.issuedUpTo('later-revoked')).toBe(NOT_HELD); // remembered as not held
    table.addUpTo('later-revoked', 50);
    expect(table.issuedUpTo('later-revoked')).toBe(50);
    table.addUpTo('later-revoked', 60);
    expect(table.issuedUpTo('later-revoked')).toBe(60);
    table.add('later-revoked', 70);
    expect(table.issuedUpTo('later-revoked')).toBe(ALL);
    table.addUpTo('later-revoked', 80);
    expect(table.issuedUpTo('later-revoked')).toBe(ALL);
    expect(table.prune(70, 0)).toBe(1); // remembered as all, then removed
    expect(table.issuedUpTo('later-revoked')).toBe(NOT_HELD);
    table.addUpTo('later-revoked', 90);
    expect(table.issuedUpTo('later-revoked')).toBe(90);
    expect(table.prune(95, 5)).toBe(1); // remembered as up-to, then removed
    expect(table.issuedUpTo('later-revoked')).toBe(NOT_HELD);
    // Beyond the remembered answers: still right.
    for (let i = 0; i < 20_000; i++) table.issuedUpTo(`probe-${i}`);
    table.add('probe-3', 20);
    table.addUpTo('probe-4', 20);
    expect(table.issuedUpTo('probe-3')).toBe(ALL);
    expect(table.issuedUpTo('probe-4')).toBe(20);
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
    for (const id of ids) expect(table.issuedUpTo(id)).toBe(ALL);
    expect(table.issuedUpTo(randomUUID())).toBe(NOT_HELD);
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
