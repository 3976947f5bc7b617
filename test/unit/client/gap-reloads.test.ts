/** When a reload of the stored revocation state for a gap in the log may run (GapReloads): its arithmetic, on a clock of our own. */
import { describe, expect, it } from 'vitest';
import { GapReloads } from '../../../client/src/revocation/gap-reloads.js';

/** A poll at `now` (ms) that finds a gap, reloading when allowed: whether it reloaded. */
function gapAt(reloads: GapReloads, now: number): boolean {
  reloads.found(now);
  if (reloads.waitMs(now) > 0) return false;
  reloads.began(now);
  reloads.reloaded();
  return true;
}

/** Polls every 5 s from 0 to `untilMs`, a gap found at those `gapped` picks: the times reloads ran (s). */
function reloadTimes(untilMs: number, gapped: (now: number) => boolean = () => true, reloads = new GapReloads()): number[] {
  const ran: number[] = [];
  for (let now = 0; now <= untilMs; now += 5_000) if (gapped(now) && gapAt(reloads, now)) ran.push(now / 1000);
  return ran;
}

const HOUR = 3_600_000;

describe('GapReloads', () => {
  it('a gap at every 5 s poll: two reloads at once, then waits of 5, 10, 20 … s, at most 5 minutes', () => {
    expect(reloadTimes(1_200_000)).toEqual([0, 5, 10, 20, 40, 80, 160, 320, 620, 920]);
  });

  it('gaps in short runs a minute apart do not start each run afresh (a review: 214 reloads an hour when a quiet minute ended the burst)', () => {
    // Gaps at 0, 5, 10, 15 and 25 s of every 85 s.
    const runs = reloadTimes(HOUR, (now) => [0, 5, 10, 15, 25].includes((now / 1000) % 85));
    expect(runs.length).toBeLessThanOrEqual(20);
    // Two gaps every 65 s.
    expect(reloadTimes(HOUR, (now) => [0, 5].includes((now / 1000) % 65)).length).toBeLessThanOrEqual(20);
    // A gap at every poll (without any limit: 721 an hour).
    expect(reloadTimes(HOUR).length).toBeLessThanOrEqual(20);
  });

  it('after an attack, an honest gap waits at most 5 minutes from the last reload; after a long quiet it reloads at once', () => {
    const reloads = new GapReloads();
    const ran = reloadTimes(HOUR, () => true, reloads);
    const last = ran.at(-1)! * 1000;
    reloads.found(HOUR + 60_000);
    expect(reloads.waitMs(HOUR + 60_000)).toBe(Math.max(0, last + 300_000 - (HOUR + 60_000)));
    const fresh = new GapReloads();
    reloadTimes(600_000, () => true, fresh);
    // An hour without a gap takes six reloads off the count: the burst is over.
    const later = 600_000 + HOUR;
    fresh.found(later);
    expect(fresh.waitMs(later)).toBe(0);
  });

  it('a reload that fails counts for the waits (a server failing reloads is not sent more), and the reload stays owed', () => {
    const reloads = new GapReloads();
    for (const now of [0, 1_000]) gapAt(reloads, now);
    reloads.found(2_000);
    expect(reloads.waitMs(2_000)).toBe(4_000);
    reloads.began(6_000); // fails: no reloaded()
    expect(reloads.owed).toBe(true);
    reloads.found(7_000);
    expect(reloads.waitMs(7_000)).toBe(9_000);
    expect(reloads.done).toBe(2);
  });

  it('a reload owed stays owed until it runs, and gaps meanwhile do not push it back', () => {
    const reloads = new GapReloads();
    for (const now of [0, 1_000]) gapAt(reloads, now);
    reloads.found(2_000);
    expect(reloads.owed).toBe(true);
    expect(reloads.waitMs(2_000)).toBe(4_000);
    reloads.found(5_000);
    expect(reloads.waitMs(5_000)).toBe(1_000);
    expect(gapAt(reloads, 6_000)).toBe(true);
    expect(reloads.owed).toBe(false);
    expect(reloads.done).toBe(3);
  });
});
