/**
 * Interleaved rounds (docs/benchmarks.md, "Interleaved rounds"): a ratio from one pair of measurements swings with
 * whatever else the machine does at that moment; the same pair measured in several rounds, ours and
 * the baseline alternating within each round in the same processes, gives one ratio per round whose
 * median holds still between runs, and whose spread (min–max) shows how much the machine moved.
 */

/**
 * Default number of rounds: at least 5, odd so that the median is a measured round. 11, not 7: with
 * 7, two consecutive runs still differed by up to 0.2 on the noisiest ratios (a p99, a rate whose
 * baseline swings with the machine, a 2-second load measured once per round).
 */
export const ROUNDS = 11;

/** One figure per round for ours and for the baseline. */
export interface RoundFigures {
  readonly ours: readonly number[];
  readonly baseline: readonly number[];
}

/**
 * Runs `rounds` rounds; each measures ours and the baseline once, in alternating order (ours first
 * in even rounds, the baseline first in odd ones), so that drift within a round hits both alike.
 */
export async function interleave(rounds: number, ours: (round: number) => Promise<number>, baseline: (round: number) => Promise<number>): Promise<RoundFigures> {
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      a.push(await ours(round));
      b.push(await baseline(round));
    } else {
      b.push(await baseline(round));
      a.push(await ours(round));
    }
  }
  return { ours: a, baseline: b };
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One measured call: what it returns, if anything, is its clean-up, run outside the timing. */
export type Sampled = () => Promise<(() => Promise<unknown>) | void>;

/**
 * Within one round, `count` samples of each side, alternating sample by sample (after `warmup`
 * unmeasured pairs): microseconds per call of `a` and of `b`. Each call's own clean-up (`after`)
 * runs outside the timing.
 */
export async function alternatingSamples(count: number, warmup: number, a: Sampled, b: Sampled): Promise<[number[], number[]]> {
  const [as, bs] = await rotatingSamples(count, warmup, [a, b]);
  return [as!, bs!];
}

/**
 * {@link alternatingSamples} for any number of sides: microseconds per call of each side. The order
 * goes through every rotation of the sides, forward and backward (a b c, c b a, b c a, a c b, c a b,
 * b a c), so that each side runs as often in each position and right after each other side: what
 * one side leaves running lands on every other side alike. Two sides: a b, b a, as before.
 */
export async function rotatingSamples(count: number, warmup: number, sides: readonly Sampled[]): Promise<number[][]> {
  const samples = sides.map(() => [] as number[]);
  const time = async (side: number, measured: boolean) => {
    const start = process.hrtime.bigint();
    const after = await sides[side]!();
    const elapsed = Number(process.hrtime.bigint() - start) / 1_000;
    if (measured) samples[side]!.push(elapsed);
    if (after) await after();
  };
  const n = sides.length;
  for (let i = 0; i < warmup + count; i++) {
    const rotation = n > 2 ? (i >> 1) % n : 0;
    for (let k = 0; k < n; k++) await time((rotation + (i % 2 === 0 ? k : n - 1 - k)) % n, i >= warmup);
  }
  return samples;
}

/**
 * How long freshly started receiving processes are exercised, unmeasured, before the first round of
 * a propagation measurement. Their first seconds are slow and uneven (V8 tiering the code up, the
 * heap growing): in the revocation suite's layout (bench/profile/receive-latency.ts with
 * `KCC_PROF_BY_ROUND=1 KCC_PROF_P99=1`, 2026-12-05) the rounds of the first 10–13 s read 1.1–1.8
 * times the later rounds' p50 and 2.5–5 times their p99, on both sides alike. A tail's ratio from
 * those rounds is mostly near 1 whatever the receivers do, and a run's median mixed them with
 * settled rounds (docs/benchmarks.md, Steadiness).
 */
export const FRESH_PROCESSES_WARMUP_MS = 15_000;

/** Runs `sides` in turn (the order {@link rotatingSamples} uses), unmeasured, for `durationMs`. */
export async function warmUp(durationMs: number, sides: readonly Sampled[]): Promise<void> {
  const until = performance.now() + durationMs;
  while (performance.now() < until) await rotatingSamples(0, 20, sides);
}
