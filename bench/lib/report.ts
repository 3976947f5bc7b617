import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One reported figure; `baseline` is measured in the same run, `ratio` = value / baseline. */
export interface Metric {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly baseline?: { readonly name: string; readonly value: number };
  /** The goal, for the printed table: e.g. "ratio ≤ 1.5" or "≥ 100000". */
  readonly goal?: string;
}

function redisVersion(): string {
  try {
    return /v=([\d.]+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100);

/** Prints a table and writes `bench/results/<suite>.json` in the format of shared/BENCH.md. */
export function report(suite: string, metrics: readonly Metric[], extra: Record<string, unknown> = {}): void {
  const rows = metrics.map((m) => ({
    metric: m.name,
    value: `${round(m.value)} ${m.unit}`,
    baseline: m.baseline ? `${m.baseline.name} = ${round(m.baseline.value)} ${m.unit}` : '',
    ratio: m.baseline ? (m.value / m.baseline.value).toFixed(2) : '',
    goal: m.goal ?? '',
  }));
  console.log(`\n== bench ${suite} (node ${process.version}, redis ${redisVersion()}, TLS) ==`);
  console.table(rows);
  const json = {
    suite,
    node: process.version,
    redis: redisVersion(),
    tls: true,
    ...extra,
    metrics: metrics.map((m) => ({
      name: m.name,
      unit: m.unit,
      value: round(m.value),
      ...(m.baseline ? { baseline: { name: m.baseline.name, value: round(m.baseline.value) }, ratio: Math.round((m.value / m.baseline.value) * 100) / 100 } : {}),
    })),
  };
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(json, null, 2)}\n`);
}
