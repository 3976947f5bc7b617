import { describe, expect, it } from 'vitest';
import type { KccRedis } from '../../../client/src/connection.js';
import { MAX_RECENT_WRITES, RECENT_WRITES_WINDOW_MS, RecentWrites } from '../../../client/src/revocation/recent-writes.js';

const LIFETIME = 3_600_000;
const NOW = 1_800_000_000_000;

/** A connection whose script call records what it was asked and answers "all missing". */
function recordingRedis(): { redis: KccRedis; asked: unknown[][] } {
  const asked: unknown[][] = [];
  const redis = {
    key: (name: string) => `p:{p}:${name}`,
    script: async (_lua: string, _keys: readonly string[], args: readonly unknown[]) => {
      asked.push([...args]);
      return Array.from({ length: Number(args[0]) }, (_, i) => i + 1);
    },
  } as unknown as KccRedis;
  return { redis, asked };
}

describe('RecentWrites: which of its own writes an instance checks after a reconnect', () => {
  it('checks only what it wrote within the window and what still matters (a live session, a not-before newer than any live token)', async () => {
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME);
    recent.add({ kind: 'session', sid: 'too-old', exp: NOW + 1_000_000 }, NOW - RECENT_WRITES_WINDOW_MS - 1);
    recent.add({ kind: 'session', sid: 'expired', exp: NOW - 1 }, NOW - 1_000);
    recent.add({ kind: 'subject', sub: 'ancient-nbf', nbf: Math.floor((NOW - LIFETIME) / 1000) - 1 }, NOW - 1_000);
    recent.add({ kind: 'session', sid: 'live', exp: NOW + 60_000 }, NOW - 1_000);
    recent.add({ kind: 'client', nbf: Math.floor(NOW / 1000) - 10 }, NOW - 1_000);
    const missing = await recent.missing(NOW);
    expect(missing).toEqual([{ kind: 'session', sid: 'live', exp: NOW + 60_000 }, { kind: 'client', nbf: Math.floor(NOW / 1000) - 10 }]);
    expect(asked).toEqual([[2, 'session', 'live', NOW + 60_000, 'client', '', Math.floor(NOW / 1000) - 10]]);
    expect(recent.size).toBe(4); // the one past the window is forgotten
  });

  it('counts the window back from when Redis was last known good: an outage longer than the window keeps the writes made just before it', async () => {
    const { redis } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME);
    recent.add({ kind: 'session', sid: 'before-outage', exp: NOW + LIFETIME }, NOW - 20 * 60_000);
    expect(await recent.missing(NOW, NOW - 19 * 60_000)).toHaveLength(1);
    expect(await recent.missing(NOW)).toEqual([]);
  });

  it('keeps one entry per session, subject and the client, the strictest: writing one again (a rewrite after a loss) does not add another', async () => {
    // Found by a review (2026-12-03): each rewrite added an entry, so every loss doubled the rewrites (1, 3, 7, 15).
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME);
    for (let i = 0; i < 4; i++) {
      recent.add({ kind: 'session', sid: 's', exp: NOW + 60_000 }, NOW);
      recent.add({ kind: 'subject', sub: 'u', nbf: Math.floor(NOW / 1000) - i }, NOW);
      recent.add({ kind: 'client', nbf: Math.floor(NOW / 1000) - 10 + i }, NOW);
    }
    expect(recent.size).toBe(3);
    expect(await recent.missing(NOW)).toEqual([
      { kind: 'session', sid: 's', exp: NOW + 60_000 },
      { kind: 'subject', sub: 'u', nbf: Math.floor(NOW / 1000) },
      { kind: 'client', nbf: Math.floor(NOW / 1000) - 7 },
    ]);
    expect(asked).toHaveLength(1);
  });

  it(`remembers at most ${MAX_RECENT_WRITES}, the newest, counting those given up, and asks nothing when none is left`, async () => {
    const { redis, asked } = recordingRedis();
    const recent = new RecentWrites(redis, LIFETIME);
    for (let i = 0; i < MAX_RECENT_WRITES + 5; i++) recent.add({ kind: 'session', sid: `s${i}`, exp: NOW + 60_000 }, NOW);
    expect([recent.size, recent.evicted]).toEqual([MAX_RECENT_WRITES, 5]);
    const missing = await recent.missing(NOW);
    expect(missing[0]).toEqual({ kind: 'session', sid: 's5', exp: NOW + 60_000 });
    expect(await recent.missing(NOW + RECENT_WRITES_WINDOW_MS)).toEqual([]);
    expect(asked).toHaveLength(1);
  });
});
