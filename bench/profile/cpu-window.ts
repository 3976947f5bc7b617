/**
 * Sums a V8 CPU profile (`node --cpu-prof`) between two marks: the CPU of each function, by itself
 * and with what it called, in one stretch of a run. Not a suite: a profiling aid, e.g. for the
 * first registration of `register-steps.ts`:
 *
 *   KCC_PROF_MARKS=1 node --cpu-prof --cpu-prof-dir=/tmp/prof --conditions=kcc-redis-source \
 *     --import tsx bench/profile/register-steps.ts 0 > /tmp/prof/marks.txt
 *   npx tsx bench/profile/cpu-window.ts /tmp/prof/<file>.cpuprofile /tmp/prof/marks.txt [rows]
 *
 * The marks file holds `first-start-us <n>` and `first-end-us <n>` lines (process.hrtime in µs,
 * the clock V8 stamps its samples with).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const [profileFile, marksFile, rowsArg] = process.argv.slice(2);
if (!profileFile || !marksFile) throw new Error('usage: cpu-window.ts <profile.cpuprofile> <marks.txt> [rows]');
const marks = readFileSync(marksFile, 'utf8');
const mark = (name: string) => Number(new RegExp(`${name} (\\d+)`).exec(marks)?.[1] ?? Number.NaN);
const [from, to] = [mark('first-start-us'), mark('first-end-us')];
if (!Number.isFinite(from) || !Number.isFinite(to)) throw new Error(`${marksFile} has no first-start-us / first-end-us lines`);
const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const name = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-3).join('/')}:${node.callFrame.lineNumber}`;

const self = new Map<string, number>();
const total = new Map<string, number>();
let at = profile.startTime;
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i]!;
  if (at < from || at > to) return;
  const weight = profile.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
  self.set(name(byId.get(id)!), (self.get(name(byId.get(id)!)) ?? 0) + weight);
  const counted = new Set<string>(); // a recursive function counts once per sample
  for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
    const key = name(byId.get(node)!);
    if (counted.has(key)) continue;
    counted.add(key);
    total.set(key, (total.get(key) ?? 0) + weight);
  }
});
const rows = Number(rowsArg ?? 40);
const print = (title: string, figures: Map<string, number>) => {
  console.log(title);
  for (const [key, us] of [...figures].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms  ${key}`);
};
console.log(`window: ${((to - from) / 1000).toFixed(1)} ms`);
print('by itself:', self);
print('with what it called:', total);
