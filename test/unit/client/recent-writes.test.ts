import { describe, expect, it } from 'vitest';
import type { KccRedis } from '../../../client/src/connection.js';
import { MAX_RECENT_WRITES, RECENT_WRITES_WINDOW_MS, RecentWrites, coveredBy } from '../../../client/src/revocation/recent-writes.js';

const LIFETIME = 3_600_000;
const NOW = 1_800_000_000_000;
const MINUTE = 60_000;

/** A connection whose script call records what it was asked and answers "all missing" (or fails, while `down`). */
function recordingRedis(): { redis: KccRedis; asked: unknown[][]; down: { value: boolean } } {
  const asked: unknown[][] = [];
  const down = { value: false };
  const redis = {
    key: (name: string) => `p:{p}:${name}`,
    script: async (_lua: string, _keys: readonly string[], args: readonly unknown[]) => {
      if (down.value) throw new Error('CLUSTERDOWN The cluster is down');
      asked.push([...args]);
      return Array.from({ length: Number(args[0]) }, (_, i) => i + 1);
    },
  } as unknown as KccRedis;
  return { redis, asked, down };
}

describe('RecentWrites: which of its own writes an instance checks after a reconnect', () => {
  it('checks only what it wrote within the window and what still matters (a live session, a not-before newer than any live token)', async () => {
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME, NOW);
    recent.add({ kind: 'session', sid: 'too-old', exp: NOW + 1_000_000 }, NOW - RECENT_WRITES_WINDOW_MS - 1);
    recent.add({ kind: 'session', sid: 'expired', exp: NOW - 1 }, NOW - 1_000);
    recent.add({ kind: 'subject', sub: 'ancient-nbf', nbf: Math.floor((NOW - LIFETIME) / 1000) - 1 }, NOW - 1_000);
    recent.add({ kind: 'session', sid: 'live', exp: NOW + 60_000 }, NOW - 1_000);
    recent.add({ kind: 'client', nbf: Math.floor(NOW / 1000) - 10 }, NOW - 1_000);
    const missing = await recent.missing(NOW);
    expect(missing).toEqual([{ kind: 'session', sid: 'live', exp: NOW + 60_000 }, { kind: 'client', nbf: Math.floor(NOW / 1000) - 10 }]);
    expect(asked).toEqual([[2, 'session', 'live', NOW + 60_000, '', 'client', '', Math.floor(NOW / 1000) - 10, '']]); // kind, member, score, up-to
    expect(recent.size).toBe(4); // the one past the window is forgotten
  });

  it('after a reconnect also checks the not-befores the instance holds, whoever wrote them and whenever: one entry each, the stricter', async () => {
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME, NOW);
    const nowS = Math.floor(NOW / 1000);
    recent.add({ kind: 'subject', sub: 'own-newer', nbf: nowS - 1 }, NOW - 1_000);
    recent.add({ kind: 'subject', sub: 'own-older', nbf: nowS - 100 }, NOW - 1_000);
    const held = [
      { kind: 'subject', sub: 'own-newer', nbf: nowS - 50 },
      { kind: 'subject', sub: 'own-older', nbf: nowS - 10 },
      { kind: 'subject', sub: 'written-elsewhere-long-ago', nbf: nowS - 3_000 },
      { kind: 'subject', sub: 'older-than-any-token', nbf: nowS - LIFETIME / 1000 - 1 },
      { kind: 'client', nbf: nowS - 20 },
    ] as const;
    const missing = await recent.missing(NOW, held);
    expect(missing).toEqual([
      { kind: 'subject', sub: 'own-newer', nbf: nowS - 1 },
      { kind: 'subject', sub: 'own-older', nbf: nowS - 10 },
      { kind: 'subject', sub: 'written-elsewhere-long-ago', nbf: nowS - 3_000 },
      { kind: 'client', nbf: nowS - 20 },
    ]);
    expect(asked[0]![0]).toBe(4);
    expect(recent.size).toBe(2); // what it holds is checked, not remembered as its own
  });

  it('counts the window back from the last check that succeeded: an outage longer than the window keeps the writes made just before it', async () => {
    // Found by a review (2026-12-03): in cluster mode a node outage raises no reconnect, and the checks
    // that failed every minute meanwhile had already dropped what was written before it.
    const { redis, down } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME, NOW);
    recent.add({ kind: 'session', sid: 'before-outage', exp: NOW + LIFETIME }, NOW - 5_000);
    down.value = true;
    for (let minute = 1; minute <= 20; minute++) await expect(recent.missing(NOW + minute * MINUTE)).rejects.toThrow('CLUSTERDOWN');
    down.value = false;
    expect(await recent.missing(NOW + 21 * MINUTE)).toEqual([{ kind: 'session', sid: 'before-outage', exp: NOW + LIFETIME }]);
    expect(await recent.missing(NOW + 22 * MINUTE)).toEqual([]);
  });

  it('keeps one entry per session, subject and the client, the strictest; writing one again neither adds another nor restarts its window', async () => {
    // Found by reviews (2026-12-03): each rewrite added an entry, so every loss doubled the rewrites
    // (1, 3, 7, 15); and a rewrite that restarted the window kept a revocation that Redis keeps not
    // holding (pruned sooner by another instance) written again every minute for good.
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME, NOW);
    for (let i = 0; i < 4; i++) {
      recent.add({ kind: 'session', sid: 's', exp: NOW + LIFETIME }, NOW + i * MINUTE);
      recent.add({ kind: 'subject', sub: 'u', nbf: Math.floor(NOW / 1000) - i }, NOW + i * MINUTE);
      recent.add({ kind: 'client', nbf: Math.floor(NOW / 1000) - 10 + i }, NOW + i * MINUTE);
    }
    expect(recent.size).toBe(3);
    expect(await recent.missing(NOW + 4 * MINUTE)).toEqual([
      { kind: 'session', sid: 's', exp: NOW + LIFETIME },
      { kind: 'subject', sub: 'u', nbf: Math.floor(NOW / 1000) },
      { kind: 'client', nbf: Math.floor(NOW / 1000) - 7 },
    ]);
    expect(asked).toHaveLength(1);
    // The session and the subject were first written at NOW: once a check succeeded ten minutes after that, they are no longer checked;
    // the client's stricter not-before came at NOW + 3 min.
    expect(await recent.missing(NOW + RECENT_WRITES_WINDOW_MS)).toHaveLength(3);
    expect(await recent.missing(NOW + RECENT_WRITES_WINDOW_MS + MINUTE)).toEqual([{ kind: 'client', nbf: Math.floor(NOW / 1000) - 7 }]);
  });

  it(`remembers at most ${MAX_RECENT_WRITES}, the newest, checked in chunks small enough to stay out of Redis's slow log`, async () => {
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME, NOW);
    for (let i = 0; i < MAX_RECENT_WRITES + 5; i++) recent.add({ kind: 'session', sid: `s${i}`, exp: NOW + 60_000 }, NOW);
    expect(recent.size).toBe(MAX_RECENT_WRITES);
    const missing = await recent.missing(NOW);
    expect([missing.length, missing[0]]).toEqual([MAX_RECENT_WRITES, { kind: 'session', sid: 's5', exp: NOW + 60_000 }]);
    expect(asked.map((args) => args[0])).toEqual(Array.from({ length: MAX_RECENT_WRITES / 500 }, () => 500));
    expect(await recent.missing(NOW + RECENT_WRITES_WINDOW_MS)).toEqual([]);
  });
});

describe('coveredBy: which revocations another one already revokes as far or further', () => {
  it('answers by the strictest held revocation of the same session, subject or the client', () => {
    const covered = coveredBy([
      { kind: 'subject', sub: 'u1', nbf: 100 },
      { kind: 'subject', sub: 'u1', nbf: 300 },
      { kind: 'subject', sub: 'u1', nbf: 200 },
      { kind: 'client', nbf: 50 },
      { kind: 'session', sid: 's1', exp: 5_000 },
    ]);
    expect(covered({ kind: 'subject', sub: 'u1', nbf: 300 })).toBe(true);
    expect(covered({ kind: 'subject', sub: 'u1', nbf: 250 })).toBe(true); // 300 is held, not only the last one added
    expect(covered({ kind: 'subject', sub: 'u1', nbf: 301 })).toBe(false);
    expect(covered({ kind: 'subject', sub: 'u2', nbf: 1 })).toBe(false);
    expect(covered({ kind: 'client', nbf: 50 })).toBe(true);
    expect(covered({ kind: 'client', nbf: 51 })).toBe(false);
    expect(covered({ kind: 'session', sid: 's1', exp: 4_000 })).toBe(true);
    expect(covered({ kind: 'session', sid: 'u1', exp: 1 })).toBe(false); // a session named like a subject is another revocation
    expect(coveredBy([])({ kind: 'client', nbf: 1 })).toBe(false);
  });
});
