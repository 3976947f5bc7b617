/** Reloads in a burst before the waits between them start doubling: at a 5 s poll, two gaps in a row reload at once. */
const FREE_RELOADS = 2;
/** The first wait between two reloads in a burst; it doubles with each reload after that. */
const FIRST_WAIT_MS = 5_000;
/** The longest wait between two reloads. */
const MAX_WAIT_MS = 300_000;
/** Each this long without a gap takes one reload off the burst's count (a long quiet ends it). */
const QUIET_MS = 600_000;

/**
 * When a reload of the whole stored revocation state, for a gap in the event log, may run.
 *
 * An honest gap is rare: the log keeps entries for the session lifetime (10 h by default), so only an
 * instance away longer, or a log lost with Redis' data, finds one. Gaps poll after poll come from a
 * Redis writer holding the app's credentials who deletes the log and appends to it again; without a
 * limit every instance then read the whole state from Redis at every poll (a review), a load on a
 * server other app-envs may share. In a burst, the first two reloads run at once and the waits
 * between the later ones double, from 5 s up to 5 minutes; the reload owed still runs. Each ten
 * minutes without a gap take one reload off the burst's count, rather than a quiet minute ending the
 * burst: gaps made in short runs a minute apart then started each run with two reloads at once (a
 * review: 214 reloads an hour instead of 18). The waits are counted from the last reload and capped,
 * so however long the count, an honest gap waits at most 5 minutes. The instance stays fresh meanwhile: what it may miss is a revocation whose message it
 * did not hear and whose log entry that writer removed, which the same writer can hide anyway by
 * removing it from the stored state (docs/security-model.md); going stale instead would hand that
 * writer every instance's logins (a review of the first version, which did).
 */
export class GapReloads {
  private lastGapAt = Number.NEGATIVE_INFINITY;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private inBurst = 0;
  /** A gap was found and its reload not run yet. */
  owed = false;
  /** Reloads run for gaps. */
  done = 0;
  /** Polls that found a reload owed and had to wait. */
  deferred = 0;

  /** A poll found a gap, at `now` (monotonic ms). */
  found(now: number): void {
    const quiet = Math.floor((now - this.lastGapAt) / QUIET_MS);
    if (quiet > 0) this.inBurst = Math.max(0, this.inBurst - quiet);
    this.lastGapAt = now;
    this.owed = true;
  }

  /** How long until the reload owed may run (0: now), judged at `now`. */
  waitMs(now: number): number {
    if (this.inBurst < FREE_RELOADS) return 0;
    const wait = Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** (this.inBurst - FREE_RELOADS));
    return Math.max(0, this.lastReloadAt + wait - now);
  }

  /** The reload owed begins, at `now`: it counts for the waits whether or not it succeeds (a server failing reloads is not sent more). */
  began(now: number): void {
    this.inBurst++;
    this.lastReloadAt = now;
  }

  /** The reload owed succeeded. */
  reloaded(): void {
    this.owed = false;
    this.done++;
  }
}
