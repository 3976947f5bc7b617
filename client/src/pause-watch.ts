/** How often a {@link PauseWatch} looks at the clocks. */
const TICK_MS = 250;
/** A gap between two looks longer than this is a pause: the process was frozen, suspended, or its event loop stalled. */
export const PAUSE_MS = 2_000;

/**
 * Tells whether this process ran on without a pause since the watch began: an AWS Lambda environment
 * frozen between invocations (SIGSTOP-like: no timer runs), a host suspended, an event loop stalled.
 * Used where something decided while the process ran (Redis is out of reach: stop waiting for it)
 * must not outlive a freeze, after which Redis may well be back: requests arriving meanwhile cannot
 * tell a quiet period from a freeze, the watch's own timer can. It looks at both clocks (whether the
 * monotonic one runs on across a freeze of a whole environment is not known) every quarter second,
 * unreferenced, and stops once `wanted()` says it is no longer needed or once it saw a pause.
 */
export class PauseWatch {
  private last = { monotonic: performance.now(), wall: Date.now() };
  private pauseSeen = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly wanted: () => boolean = () => true) {
    this.timer = setInterval(() => {
      if (this.paused || !this.wanted()) return this.stop();
      this.last = { monotonic: performance.now(), wall: Date.now() };
    }, TICK_MS);
    this.timer.unref();
  }

  /** Whether a pause longer than {@link PAUSE_MS} happened since the watch began (judged now too: a request may be read before the timer runs after a thaw). */
  get paused(): boolean {
    if (!this.pauseSeen && (performance.now() - this.last.monotonic > PAUSE_MS || Date.now() - this.last.wall > PAUSE_MS)) this.pauseSeen = true;
    return this.pauseSeen;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
