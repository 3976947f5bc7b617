import { describe, expect, it } from 'vitest';
import { type SlotRange, sameSlots, slotRanges } from '../../../client/src/cluster-topology.js';

/** ioredis' slot map for `ranges`, as it builds it: one keys array shared by every slot of a range. */
function slotMap(ranges: readonly SlotRange[]): (string[] | undefined)[] {
  const slots: (string[] | undefined)[] = [];
  for (const [start, end, ...nodes] of ranges) {
    const keys = nodes.filter(([host]) => host).map(([host, port]) => `${host}:${port}`);
    for (let slot = start; slot <= end; slot++) slots[slot] = keys;
  }
  return slots;
}

const A = ['node-a', 6379, 'id-a'] as const;
const B = ['node-b', 6379, 'id-b'] as const;
const C = ['node-c', 6380, 'id-c'] as const;
const three: SlotRange[] = [[0, 5460, A, B], [5461, 10922, B, C], [10923, 16383, C, A]];

describe('sameSlots (a CLUSTER SLOTS answer against ioredis\' slot map)', () => {
  it('the same topology: nothing to re-read', () => {
    expect(sameSlots(slotMap(three), three)).toBe(true);
  });

  it('a failover (the replica of a range now its primary) differs', () => {
    expect(sameSlots(slotMap(three), [[0, 5460, B, A], three[1]!, three[2]!])).toBe(false);
  });

  it('one slot moved out of the middle of a range differs, though both ends of every range agree', () => {
    const before: SlotRange[] = [[0, 5460, A], [5461, 5461, C], [5462, 16383, B]];
    const after: SlotRange[] = [[0, 5460, A], [5461, 16383, B]];
    expect(sameSlots(slotMap(before), after)).toBe(false);
  });

  it('replicas are left out: one added, gone or listed in another order is the same; an entry with an empty host is skipped, as ioredis skips it', () => {
    expect(sameSlots(slotMap([[0, 16383, A]]), [[0, 16383, A, B]])).toBe(true);
    expect(sameSlots(slotMap([[0, 16383, A, B]]), [[0, 16383, A]])).toBe(true);
    expect(sameSlots(slotMap([[0, 16383, A]]), [[0, 16383, ['', 6379, 'id-unknown'], A]])).toBe(true);
  });

  it('the same replicas listed in another order are the same (each node lists a shard\'s replicas in an order of its own)', () => {
    const D = ['node-d', 6381, 'id-d'] as const;
    expect(sameSlots(slotMap([[0, 16383, A, B, D]]), [[0, 16383, A, D, B]])).toBe(true);
    expect(sameSlots(slotMap([[0, 16383, A, B, D]]), [[0, 16383, B, A, D]])).toBe(false); // another primary
  });

  it('slots the map has never heard of differ (a cluster not read yet)', () => {
    expect(sameSlots([], three)).toBe(false);
  });

  it('a reply of another shape is no answer (never compared, never thrown on)', () => {
    expect(slotRanges(three)).toBe(three);
    expect(slotRanges([[0, 16383, ['node-a', '6379']]])).toBeDefined(); // a port as text, as some proxies send it
    for (const reply of [null, 'OK', [[0, 16383, null]], [[0, 16383]], [['0', 16383, A]], [[0, 16383, [6379, 'node-a']]], new Error('x')]) {
      expect(slotRanges(reply)).toBeUndefined();
    }
  });
});
