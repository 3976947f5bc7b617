import { describe, expect, it } from 'vitest';
import { type SlotRange, sameSlots } from '../../../client/src/cluster-topology.js';

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

  it('a replica added or gone differs; an entry with an empty host is skipped, as ioredis skips it', () => {
    expect(sameSlots(slotMap([[0, 16383, A]]), [[0, 16383, A, B]])).toBe(false);
    expect(sameSlots(slotMap([[0, 16383, A]]), [[0, 16383, A, ['', 6379, 'id-unknown']]])).toBe(true);
  });

  it('slots the map has never heard of differ (a cluster not read yet)', () => {
    expect(sameSlots([], three)).toBe(false);
  });
});
