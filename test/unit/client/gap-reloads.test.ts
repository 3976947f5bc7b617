/** When a reload of the stored revocation state for a gap in the log may run (GapReloads): its arithmetic, on a clock of our own. */
import { describe, expect, it } from 'vitest';
import { GapReloads } from '../../../client/src/revocation/gap-reloads.js';

/** Gaps found every `everyMs` from 0 to `untilMs`, each reloaded when allowed: the times reloads ran (s). */
function reloadTimes(everyMs: number, untilMs: number, reloads = new GapReloads()): number[] {
  const ran: number[] = [];
  for (let now = 0; now <= untilMs; now += everyMs) {
    reloads.found(now);
    if (reloads.waitMs(now) === 0) {
      reloads.reloaded(now);
      ran.push(now / 1000);
    } else reloads.deferred++;
  }
  return ran;
}

describe('GapReloads', () => {
  it('a gap at every 5 s poll: two reloads at once, then waits of 5, 10, 20 … s, at most 5 minutes', () => {
    expect(reloadTimes(5_000, 1_200_000)).toEqual([0, 5, 10, 20, 40, 80, 160, 320, 620, 920]);
  });

  it('an honest gap a minute or more after the last one reloads at once, whatever came before', () => {
    const reloads = new GapReloads();
    reloadTimes(5_000, 600_000, reloads);
    const later = 600_000 + 60_000;
    reloads.found(later);
    expect(reloads.waitMs(later)).toBe(0);
  });

  it('a reload owed stays owed until it runs, and gaps meanwhile do not push it back', () => {
    const reloads = new GapReloads();
    for (const now of [0, 1_000]) {
      reloads.found(now);
      reloads.reloaded(now);
    }
    reloads.found(2_000);
    expect(reloads.owed).toBe(true);
    expect(reloads.waitMs(2_000)).toBe(4_000);
    reloads.found(5_000);
    expect(reloads.waitMs(5_000)).toBe(1_000);
    expect(reloads.waitMs(6_000)).toBe(0);
    reloads.reloaded(6_000);
    expect(reloads.owed).toBe(false);
    expect(reloads.done).toBe(3);
  });
});
