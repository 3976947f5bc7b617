import { describe, expect, it } from 'vitest';
import { type RingFacts, judgeRing } from '../../../client/src/keyring/ring-judge.js';

const ring = (generation: number, extra: Partial<RingFacts> = {}): RingFacts => ({ generation, writtenAt: 1_000, digest: `d${generation}`, kids: [`k${generation}`], compromised: [], kekRank: 0, ...extra });
const none = new Set<string>();

describe('judgeRing: which ring an instance adopts', () => {
  it('adopts the first ring it sees, and a newer generation', () => {
    expect(judgeRing(ring(1), undefined, none)).toBeUndefined();
    expect(judgeRing(ring(3), ring(2), none)).toBeUndefined();
  });

  it('refuses a lower generation (rollback) and an older key-encryption key (downgrade), whatever the generation', () => {
    expect(judgeRing(ring(1), ring(2), none)).toBe('rollback');
    expect(judgeRing(ring(9, { kekRank: 1 }), ring(2, { kekRank: 0 }), none)).toBe('kek-downgrade');
    expect(judgeRing(ring(9, { kekRank: Number.POSITIVE_INFINITY }), ring(2, { kekRank: 3 }), none)).toBe('kek-downgrade');
  });

  it('refuses any ring holding a kid seen retired as compromised, even a newer one or the first one', () => {
    const compromised = new Set(['k1']);
    expect(judgeRing(ring(5, { kids: ['k1', 'k5'] }), ring(2), compromised)).toBe('compromised-kid');
    expect(judgeRing(ring(5, { kids: ['k1'] }), undefined, compromised)).toBe('compromised-kid');
  });

  it('adopts a ring that retires a kid of the one held as compromised, even at the same or a lower generation', () => {
    const held = ring(5, { kids: ['old'], digest: 'zzz' });
    expect(judgeRing(ring(5, { kids: ['new'], compromised: ['old'], digest: 'aaa' }), held, none)).toBeUndefined();
    expect(judgeRing(ring(4, { kids: ['new'], compromised: ['old'] }), held, none)).toBeUndefined();
  });

  it('refuses a ring under an earlier key-encryption key even when it retires the held kids as compromised (a leaked earlier KEK cannot win that way)', () => {
    const held = ring(7, { kids: ['good-1', 'good-2'], kekRank: 0 });
    expect(judgeRing(ring(1, { kids: ['attacker'], compromised: ['good-1', 'good-2'], kekRank: 1 }), held, none)).toBe('kek-downgrade');
    expect(judgeRing(ring(8, { kids: ['attacker'], compromised: ['good-1'], kekRank: Number.POSITIVE_INFINITY }), held, none)).toBe('kek-downgrade');
    // Under the same or a newer key, the emergency rotation still wins.
    expect(judgeRing(ring(1, { kids: ['new'], compromised: ['good-1'], kekRank: 0 }), held, none)).toBeUndefined();
    expect(judgeRing(ring(1, { kids: ['new'], compromised: ['good-1'], kekRank: 0 }), { ...held, kekRank: 1 }, none)).toBeUndefined();
  });

  it('of two rings of one generation, every instance keeps the one written earlier: a ring created anew after Redis lost it does not displace the running one', () => {
    const running = ring(1, { writtenAt: 1_000, digest: 'aaaa' });
    const createdAnew = ring(1, { writtenAt: 2_000, digest: 'zzzz' });
    expect(judgeRing(createdAnew, running, none)).toBe('fork'); // running instances refuse it (and write theirs back)
    expect(judgeRing(running, createdAnew, none)).toBeUndefined(); // the newcomer adopts theirs
  });

  it('of two rings of one generation written in the same millisecond, every instance keeps the one with the higher digest (they converge)', () => {
    const a = ring(5, { digest: 'aaaa' });
    const b = ring(5, { digest: 'bbbb' });
    expect(judgeRing(b, a, none)).toBeUndefined(); // the holder of a adopts b
    expect(judgeRing(a, b, none)).toBe('fork'); // the holder of b refuses a (and writes b back)
    expect(judgeRing(a, a, none)).toBeUndefined();
  });
});
