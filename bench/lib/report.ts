import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RoundFigures, median } from './rounds.js';

/** A goal on a metric's ratio (lower or higher is better) or on its value. */
export interface Goal {
  readonly on: 'ratio' | 'value';
  readonly op: '<=' | '>=';
  readonly target: number;
}

/** One reported figure; `baseline` is measured in the same run, `ratio` = value / baseline. */
export interface Metric {
  readonly name: string;
  readonly unit: string;
  /** Median over rounds (or the single figure). */
  readonly value: number;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** Per-round ratios (ours / baseline, each from the same round): `ratio` is their median, `spread` their min and max. */
  readonly ratios?: readonly number[];
  /** Each round's own figure and baseline figure, in the order the rounds ran (which side moves when the ratio drifts). */
  readonly figures?: RoundFigures;
  readonly goal?: Goal;
  /** Shown beside the goal (e.g. "context"). */
  readonly note?: string;
}

/** A metric from interleaved rounds: the value and the baseline are medians of the rounds' figures, the ratio the median of the per-round ratios. */
export function paired(name: string, unit: string, figures: RoundFigures, baselineName: string, goal?: Goal, note?: string): Metric {
  const ratios = figures.ours.map((v, i) => v / figures.baseline[i]!);
  return { name, unit, value: median(figures.ours), baseline: { name: baselineName, value: median(figures.baseline) }, ratios, figures, goal, note };
}

/** `ratio ≤ 1.2`, `ratio ≥ 0.7`, `≤ 32`: the goal as text. */
export function goalText(goal: Goal): string {
  return `${goal.on === 'ratio' ? 'ratio ' : ''}${goal.op === '<=' ? '≤' : '≥'} ${goal.target}`;
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : round2(n));

function ratioOf(m: Metric): number | undefined {
  if (m.ratios && m.ratios.length > 0) return median(m.ratios);
  return m.baseline ? m.value / m.baseline.value : undefined;
}

function met(m: Metric): boolean | undefined {
  if (!m.goal) return undefined;
  const figure = m.goal.on === 'ratio' ? ratioOf(m) : m.value;
  if (figure === undefined) return undefined;
  return m.goal.op === '<=' ? figure <= m.goal.target : figure >= m.goal.target;
}

function redisVersion(): string {
  try {
    return /v=([\d.]+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Prints a table and writes `bench/results/<suite>.json` with the fields docs/benchmarks.md lists ("Interleaved rounds"): each metric's `value`, `baseline`, `ratio`, `spread`, `rounds` (how many), `goal`, `met`, and `ratios`, `values` and `baselines`, the rounds' ratios and both sides' figures in the order they ran, to show a trend within a run and which side moves. */
export function report(suite: string, metrics: readonly Metric[], extra: Record<string, unknown> = {}): void {
  const rows = metrics.map((m) => {
    const ratio = ratioOf(m);
    const ok = met(m);
    return {
      metric: m.name,
      value: `${round(m.value)} ${m.unit}`,
      baseline: m.baseline ? `${m.baseline.name} = ${round(m.baseline.value)} ${m.unit}` : '',
      ratio: ratio === undefined ? '' : ratio.toFixed(2),
      spread: m.ratios ? `${Math.min(...m.ratios).toFixed(2)}–${Math.max(...m.ratios).toFixed(2)}` : '',
      goal: [m.goal ? goalText(m.goal) : '', m.note ?? ''].filter(Boolean).join(' '),
      met: ok === undefined ? '' : ok ? 'yes' : 'NO',
    };
  });
  const load = loadavg().map((l) => l.toFixed(2));
  console.log(`\n== bench ${suite} (node ${process.version}, redis ${redisVersion()}, TLS; load average ${load.join(' ')}) ==`);
  console.table(rows);
  const json = {
    suite,
    node: process.version,
    redis: redisVersion(),
    tls: true,
    loadAverage: load.map(Number),
    ...extra,
    metrics: metrics.map((m) => {
      const ratio = ratioOf(m);
      const ok = met(m);
      return {
        name: m.name,
        unit: m.unit,
        value: round(m.value),
        ...(m.baseline ? { baseline: { name: m.baseline.name, value: round(m.baseline.value) } } : {}),
        ...(ratio !== undefined ? { ratio: round2(ratio) } : {}),
        ...(m.ratios ? { spread: [round2(Math.min(...m.ratios)), round2(Math.max(...m.ratios))], rounds: m.ratios.length, ratios: m.ratios.map(round2) } : {}),
        ...(m.figures ? { values: m.figures.ours.map(round), baselines: m.figures.baseline.map(round) } : {}),
        ...(m.goal ? { goal: goalText(m.goal), met: ok } : {}),
        ...(m.note ? { note: m.note } : {}),
      };
    }),
  };
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(json, null, 2)}\n`);
}
