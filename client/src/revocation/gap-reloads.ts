/** Reloads in a burst before the waits between them start doubling: at a 5 s poll, two gaps in a row reload at once. */
const FREE_RELOADS = 2;
/** The first wait between two reloads in a burst; it doubles with each reload after that. */
const FIRST_WAIT_MS = 5_000;
/** The longest wait between two reloads. */
const MAX_WAIT_MS = 300_000;
/** A reload this long after the previous one starts a new burst. */
const QUIET_MS = 600_000;

/**
 * When a reload of the whole stored revocation state, for a gap in the event log, may run.
 *
 * An honest gap is rare: the log keeps entries for the session lifetime (10 h by default), so only an
 * instance away longer, or a log lost with Redis' data, finds one. Gaps poll after poll come from a
 * Redis writer holding the app's credentials who deletes the log and appends to it again; without a
 * limit every instance then read the whole state from Redis at every poll (a review), a load on a
 * server other app-envs may share. In a burst, the waits between reloads double, up to 5 minutes. An
 * instance that owes a reload does not count its polls as contact meanwhile: it goes stale after
 * `maxStalenessMs` (what it may have missed is not known), and is fresh again after the reload.
 */
export class GapReloads {
  private lastAt = Number.NEGATIVE_INFINITY;
  private inBurst = 0;
  /** A gap was found and its reload not run yet. */
  owed = false;
  /** Reloads run for gaps. */
  done = 0;
  /** Polls that found a reload owed and had to wait. */
  deferred = 0;

  /** How long until a reload may run (0: now), judged at `now` (monotonic ms). */
  waitMs(now: number): number {
    if (now - this.lastAt >= QUIET_MS || this.inBurst < FREE_RELOADS) return 0;
    const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** (this.inBurst - FREE_RELOADS));
    return Math.max(0, this.lastAt + wait - now);
  }

  /** A reload ran, beginning at `now`. */
  reloaded(now: number): void {
    this.inBurst = now - this.lastAt >= QUIET_MS ? 1 : this.inBurst + 1;
    this.lastAt = now;
    this.owed = false;
    this.done++;
  }
}
