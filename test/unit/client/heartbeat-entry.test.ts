import { describe, expect, it } from 'vitest';
import { mergeParts, parseHeartbeat } from '../../../client/src/heartbeat.js';

const entry = { v: 1, instanceId: 'i-1', version: '0.1.0', host: 'web-1', pid: 42, startedAt: 1, lastSeenAt: 2, intervalMs: 15_000 };

describe('heartbeat entries as a reader takes them (format version 1)', () => {
  it('reads a version-1 entry and drops fields it does not know (a later release may add some)', () => {
    expect(parseHeartbeat(JSON.stringify({ ...entry, region: 'eu-west-1' }))).toEqual(entry);
  });

  it.each<[string, string]>([
    ['another format version', JSON.stringify({ ...entry, v: 2 })],
    ['not JSON', 'not json'],
    ['larger than 4 KiB', JSON.stringify({ ...entry, host: 'h'.repeat(5_000) })],
    ['a host longer than 256 characters', JSON.stringify({ ...entry, host: 'h'.repeat(300) })],
    ['a time that is not a whole number', JSON.stringify({ ...entry, startedAt: 1.5 })],
    ['an interval of 0', JSON.stringify({ ...entry, intervalMs: 0 })],
    ['an empty instance id', JSON.stringify({ ...entry, instanceId: '' })],
  ])('refuses %s', (_name, text) => {
    expect(parseHeartbeat(text)).toBeUndefined();
  });

  it('reads the parts an instance adds (its revocation state, its key ring), and leaves out a malformed one while keeping the entry', () => {
    const revocations = { stale: true, failOpen: false, stalenessMs: 45_000, unwritten: 2 };
    const keyRing = { status: 'degraded', generation: 7, activeKid: 'kid-1' };
    expect(parseHeartbeat(JSON.stringify({ ...entry, revocations, keyRing }))).toEqual({ ...entry, revocations, keyRing });
    expect(parseHeartbeat(JSON.stringify({ ...entry, keyRing: { status: 'ready', generation: 0 } }))).toEqual({ ...entry, keyRing: { status: 'ready', generation: 0 } });
    for (const bad of [
      { revocations: { stale: 'yes', failOpen: false, stalenessMs: 1, unwritten: 0 } },
      { revocations: { stale: false, stalenessMs: 1, unwritten: 0 } },
      { revocations: { stale: false, failOpen: false, stalenessMs: -1, unwritten: 0 } },
      { revocations: { stale: false, failOpen: false, stalenessMs: 1, unwritten: 1.5 } },
      { revocations: { stale: false, failOpen: false, stalenessMs: 9e15, unwritten: 0 } },
      { revocations: [false, 1, 0] },
      { keyRing: { status: 'fine', generation: 1 } },
      { keyRing: { status: 'ready', generation: 1, activeKid: '' } },
      { keyRing: { status: 'ready', generation: 1, activeKid: 'k'.repeat(257) } },
      { keyRing: null },
    ]) {
      expect(parseHeartbeat(JSON.stringify({ ...entry, ...bad })), JSON.stringify(bad)).toEqual(entry);
    }
  });

  it('merges what the parts on one connection report: stale if one is, failing open if one does, the longest staleness, every unwritten logout; a degraded ring before the one started last', () => {
    expect(mergeParts([])).toEqual({});
    expect(
      mergeParts([
        { revocations: { stale: false, failOpen: true, stalenessMs: 10, unwritten: 1 }, keyRing: { status: 'ready', generation: 1, activeKid: 'a' } },
        { revocations: { stale: true, failOpen: false, stalenessMs: 40_000, unwritten: 2 } },
        { keyRing: { status: 'ready', generation: 2 } },
      ]),
    ).toEqual({ revocations: { stale: true, failOpen: true, stalenessMs: 40_000, unwritten: 3 }, keyRing: { status: 'ready', generation: 2 } });
    expect(mergeParts([{ keyRing: { status: 'degraded', generation: 1 } }, { keyRing: { status: 'ready', generation: 2, activeKid: 'b' } }])).toEqual({ keyRing: { status: 'degraded', generation: 1 } });
  });
});
