/** How often a {@link PauseWatch} looks at the clocks. */
const TICK_MS = 250;
/** A gap between two looks longer than this is a pause: the process was frozen, suspended, or its event loop stalled. */
export const PAUSE_MS = 2_000;

/** A moment on both clocks. */
export interface ClockStamp {
  readonly monotonic: number;
  readonly wall: number;
}

export function clockStamp(): ClockStamp {
  return { monotonic: performance.now(), wall: Date.now() };
}

/**
 * Whether, on either clock, more than `expectedMs` and {@link PAUSE_MS} passed since `stamp`: a timer
 * of `expectedMs` set then fired that late, so the process was paused meanwhile (a pause that a
 * {@link PauseWatch} started when the timer fired could not see).
 */
export function pausedSince(stamp: ClockStamp, expectedMs: number): boolean {
  return performance.now() - stamp.monotonic > expectedMs + PAUSE_MS || Date.now() - stamp.wall > expectedMs + PAUSE_MS;
}

/**
 * Tells whether this process ran on without a pause since the watch began: an AWS Lambda environment
 * frozen between invocations (SIGSTOP-like: no timer runs), a host suspended, an event loop stalled.
 * Used where something decided while the process ran (Redis is out of reach: stop waiting for it)
 * must not outlive a freeze, after which Redis may well be back: requests arriving meanwhile cannot
 * tell a quiet period from a freeze, the watch's own timer can. It looks at both clocks (whether the
 * monotonic one runs on across a freeze of a whole environment is not known; a pause shows on either)
 * every quarter second, and stops once `wanted()` says it is no longer needed, once it saw a pause,
 * or once nothing holds the watch any more: its timer is unreferenced and holds the watch only
 * weakly, so a watch left running by what owned it (closed while given up) keeps nothing alive.
 * A pause of 2 s or less (between looks: from about 1.75 s) is not seen.
 */
export class PauseWatch {
  private last = clockStamp();
  private pauseSeen = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly wanted: () => boolean = () => true) {
    const watch = new WeakRef(this);
    const timer = setInterval(() => {
      const self = watch.deref();
      if (self === undefined) clearInterval(timer);
      else self.tick();
    }, TICK_MS);
    timer.unref();
    this.timer = timer;
  }

  /** Whether a pause longer than {@link PAUSE_MS} happened since the watch began (judged now too: a request may be read before the timer runs after a thaw). */
  get paused(): boolean {
    if (!this.pauseSeen && pausedSince(this.last, 0)) this.pauseSeen = true;
    return this.pauseSeen;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    // Judged before `last` moves on: a tick that comes late after a thaw records the pause.
    if (this.paused || !this.wanted()) return this.stop();
    this.last = clockStamp();
  }
}
