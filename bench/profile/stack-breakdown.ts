/**
 * Where the receiving processes' main threads spend their CPU, from `perf` stack samples: for each
 * step of the receive path, the samples with that step anywhere on the stack (so a step includes
 * what it calls), instances against raw subscribers. Not a suite: a profiling aid for
 * bench/profile/receive-latency.ts (Linux, `perf` installed, as root). From the repository root:
 *
 *   KCC_PROF_PIDS=/tmp/kcc-pids KCC_BENCH_HOST_ARGS='--perf-basic-prof --no-logfile-per-isolate --logfile=/tmp/kcc-v8.log' \
 *     npx tsx --conditions=kcc-redis-source bench/profile/receive-latency.ts 4 400 raw_short,revoke_session &
 *   # once it prints "measuring":
 *   perf record -e cpu-clock -F 2999 -g -a -o /tmp/kcc-cg.data -- sleep 10
 *   perf script -i /tmp/kcc-cg.data -F pid,tid,ip,sym > /tmp/kcc-cg.txt
 *   npx tsx bench/profile/stack-breakdown.ts /tmp/kcc-pids /tmp/kcc-cg.txt
 *
 * `--perf-basic-prof` names V8's generated code in the stacks (`JS:^name` baseline code, `JS:*name`
 * optimized code) through /tmp/perf-<pid>.map files, and has V8 write a log, sent to /tmp/kcc-v8.log
 * here (by default each process writes one to the working directory); delete both afterwards. The
 * step patterns follow the client's function names: a step whose function is renamed reads 0.
 */
import { readFileSync } from 'node:fs';

const [pidsFile, samplesFile] = process.argv.slice(2);
if (!pidsFile || !samplesFile) {
  console.error('usage: stack-breakdown.ts <pids file from KCC_PROF_PIDS> <perf script output>');
  process.exit(2);
}

type Side = 'ours' | 'raw';
const sides = new Map(readFileSync(pidsFile, 'utf8').trim().split('\n').map((line) => {
  const [pid, side] = line.split(' ');
  return [pid!, side as Side];
}));

const steps: readonly (readonly [string, (frame: string) => boolean])[] = [
  ['main thread, all', () => true],
  ['socket read and TLS (all of it)', (f) => f.includes('TLSWrap::OnStreamRead')],
  ['ioredis: subscriber reply', (f) => /JS:.handleSubscriberReply /.test(f)],
  ['ours: Subscriptions.deliver', (f) => /JS:.deliver .*subscriptions\.ts/.test(f)],
  ['ours:   Bus.receive', (f) => /JS:.receive .*bus\.ts/.test(f)],
  ['ours:     decodeEnvelope', (f) => /JS:.decodeEnvelope /.test(f)],
  ['ours:       JSON.parse', (f) => f.includes('JsonParse')],
  ['ours:     envelope-id memory (hear)', (f) => /JS:.hear /.test(f)],
  ['ours:     Revocations accept', (f) => /JS:.accept .*revocations\.ts/.test(f)],
  ['ours:       apply', (f) => /JS:.apply .*revocations\.ts/.test(f)],
  ['ours:         index (revokeSession)', (f) => /JS:.revokeSession .*revocation-index\.ts/.test(f)],
  ['ours:         event (notify)', (f) => /JS:.notify .*revocations\.ts/.test(f)],
  ['harness: report to the parent (IPC)', (f) => /JS:.target\.send /.test(f)],
  ['under a page fault', (f) => f.includes('exc_page_fault')],
  ['V8 compiling on the main thread', (f) => /Compiler::|BaselineBatchCompiler|CompileLazy/.test(f)],
];

// A step V8 inlined into its caller has no frame of its own: the totals below count a sample once
// if any of the client's steps is on its stack.
const ourSteps = steps.filter(([name]) => name.startsWith('ours:')).map(([, on]) => on);
const isReport = steps.find(([name]) => name.startsWith('harness:'))![1];
const totals = ['ours: any step of the client', 'ours: the same, without the report'] as const;
const totalCounts: Record<Side, [number, number]> = { ours: [0, 0], raw: [0, 0] };
const counts: Record<Side, number[]> = { ours: steps.map(() => 0), raw: steps.map(() => 0) };
const processes: Record<Side, Set<string>> = { ours: new Set(), raw: new Set() };
// `perf script`: one block per sample, a "pid/tid" header line, then one frame per line, innermost first.
for (const block of readFileSync(samplesFile, 'utf8').split('\n\n')) {
  const [header, ...frames] = block.split('\n').filter((line) => line.trim() !== '');
  const ids = header && /^\s*(\d+)\/(\d+)/.exec(header);
  if (!ids || ids[1] !== ids[2]) continue; // main threads only (tid = pid)
  const side = sides.get(ids[1]!);
  if (!side) continue;
  processes[side].add(ids[1]!);
  steps.forEach(([, on], i) => {
    if (frames.some(on)) counts[side][i]!++;
  });
  if (frames.some((frame) => ourSteps.some((on) => on(frame)))) {
    totalCounts[side][0]++;
    if (!frames.some(isReport)) totalCounts[side][1]++;
  }
}

const share = (side: Side, n: number) => ` ${((100 * n) / Math.max(1, counts[side][0]!)).toFixed(1)} %`.padStart(9);
console.log(`main-thread samples: ${processes.ours.size} instance processes, ${processes.raw.size} raw subscriber processes`);
console.log(`${'step (includes what it calls)'.padEnd(40)}${'ours'.padStart(8)}${''.padStart(9)}${'raw'.padStart(8)}`);
const row = (name: string, ours: number, raw: number) => console.log(`${name.padEnd(40)}${String(ours).padStart(8)}${share('ours', ours)}${String(raw).padStart(8)}${share('raw', raw)}`);
steps.forEach(([name], i) => row(name, counts.ours[i]!, counts.raw[i]!));
totals.forEach((name, i) => row(name, totalCounts.ours[i]!, totalCounts.raw[i]!));
