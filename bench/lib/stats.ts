/** Percentiles from raw samples (nearest rank). */
export interface Summary {
  readonly runs: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  return { runs: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times, returning each run's duration in microseconds. */
export async function timeRuns(runs: number, warmup: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1_000);
  }
  return samples;
}

/** Calls `fn` as often as it can for `ms` (sequentially) and returns calls per second. */
export async function ratePerSecond(ms: number, fn: () => unknown): Promise<number> {
  const deadline = performance.now() + ms;
  let calls = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    calls += 100;
  }
  return calls / ((performance.now() - start) / 1_000);
}

/**
 * A copy of `fn` compiled anew from its source, with type feedback of its own. A measuring loop that
 * calls ours in one place and the baseline in another, if shared, is optimized for whichever V8 saw
 * first or most, differently from one run to the next: `set_has_per_s` read 14.2 M/s in one run and
 * 9.3 M/s in the next, steady within each (2026-12-04). `fn` must use nothing but globals (and the
 * `__name` that tsx's transform puts around inner functions, given here as a no-op).
 */
export function ownCopy<F extends (...args: never[]) => unknown>(fn: F): F {
  return new Function('__name', `'use strict'; return (${fn.toString()});`)((f: unknown) => f) as F;
}

/** Like {@link ratePerSecond} for synchronous calls, in batches of 10,000 (timer reads amortised). */
export function ratePerSecondSync(ms: number, fn: (i: number) => unknown): number {
  const start = performance.now();
  const deadline = start + ms;
  let calls = 0;
  let sink = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 10_000; i++) if (fn(i)) sink++;
    calls += 10_000;
  }
  if (sink < 0) console.log(sink); // keeps the calls observable
  return calls / ((performance.now() - start) / 1_000);
}
