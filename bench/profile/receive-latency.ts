/**
 * Where propagation time goes, in the revocation suite's layout (16 receiving processes): a raw
 * PUBLISH of a short message to raw subscribers (the suite's baseline), a raw PUBLISH of the very
 * message a revocation publishes to the instances (their receiving share, without the write), and
 * the whole path (revokeSession on one instance more, in this process). Not a suite: a profiling aid,
 * `npx tsx --conditions=kcc-redis-source bench/profile/receive-latency.ts [rounds] [samples] [sides]`,
 * e.g. sides `raw_short,revoke_session`; `KCC_PROF_OURS` picks the receivers (instance-host.ts modes);
 * `KCC_PROF_BY_ROUND=1` also prints each round's p50 and ratio, in order; `KCC_PROF_P99=1` each side's
 * p99 and the median of the rounds' p99 ratios too (with `KCC_PROF_BY_ROUND`, round by round); `KCC_PROF_NO_HEARTBEAT=1` starts the receiving
 * instances without their heartbeat (a TIME and a script every 15 s); `KCC_PROF_STALENESS_MS=<ms>`
 * starts them with that `maxStalenessMs` (a log poll every third of it, 5 s at most); `KCC_PROF_SCHED=1` the
 * receivers' page faults and their threads' CPU, run-queue wait and time slices per message;
 * `KCC_PROF_PIDS=<file>` writes the receiving processes' ids there (for stack-breakdown.ts);
 * `KCC_PROF_RECEIVERS=<n>` receives in n processes instead of 16 (1: the nearest this machine comes
 * to a receiver with a core of its own, as an instance has in a deployment; the writer, the idle
 * baseline pool and redis-server still share the two cores).
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { encodeEnvelope } from '../../client/src/envelope.js';
import { LocalRedis } from '../../local/local-redis.js';
import { type HostMode, InstancePool } from '../lib/instance-pool.js';
import { median } from '../lib/rounds.js';
import { summarize } from '../lib/stats.js';

const USER = 'bench-prod';
const rounds = Number(process.argv[2] ?? 5);
const samples = Number(process.argv[3] ?? 100);
const receivers = Number(process.env.KCC_PROF_RECEIVERS ?? 16);
if (!Number.isInteger(receivers) || receivers < 1) throw new Error(`KCC_PROF_RECEIVERS must be a whole number of at least 1, not ${process.env.KCC_PROF_RECEIVERS}`);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-latency-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const host = { url: server.url, host: server.host, port: server.port, ca: server.ca, username: USER, password, channel: `${USER}:raw` };
const publisher = new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true });
const redis = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} }, ['subscriber']);
const a = await Revocations.start(redis);
const channel = redis.channel('revocations');
const ours = await InstancePool.start(receivers, (process.env.KCC_PROF_OURS ?? 'kcc') as HostMode, host);
const raw = await InstancePool.start(receivers, 'raw', host);
let n = 0;
const sides: Record<string, () => Promise<void>> = {
  raw_short: async () => {
    const id = `m${n++}`;
    const all = raw.allSee(id);
    await publisher.publish(host.channel, id);
    await all;
  },
  raw_publish_revocation: async () => {
    const sid = `watch-x${n++}`;
    const { json } = encodeEnvelope('another-instance', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 36_000_000 }] }, 65_536);
    const all = ours.allSee(sid);
    await publisher.publish(channel, json);
    await all;
  },
  // The same receivers and session id, in a message with nothing around the one revocation.
  raw_publish_minimal: async () => {
    const sid = `watch-m${n++}`;
    const all = ours.allSee(sid);
    await publisher.publish(channel, JSON.stringify({ data: { revocations: [{ sid }] } }));
    await all;
  },
  revoke_session: async () => {
    const sid = `watch-${n++}`;
    const all = ours.allSee(sid);
    await a.revokeSession(sid);
    await all;
  },
};
const names = process.argv[4] ? process.argv[4].split(",") : Object.keys(sides);
/** CPU time (user + system, µs) the processes of `pool` used so far, from /proc (Linux). */
const cpuOf = async (pool: InstancePool) => {
  let ticks = 0;
  for (const pid of pool.pids) {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1_000_000) / 100;
};
/**
 * KCC_PROF_SCHED: what the kernel counted for `pool`'s processes (Linux /proc), summed over them:
 * minor page faults, and for the main thread and for the other threads together (V8's compiler and
 * GC helpers, libuv's pool) CPU time, time spent runnable but waiting for a core, and time slices.
 */
interface Sched { faults: number; main: [number, number, number]; others: [number, number, number] }
const schedOf = async (pool: InstancePool): Promise<Sched> => {
  const total: Sched = { faults: 0, main: [0, 0, 0], others: [0, 0, 0] };
  for (const pid of pool.pids) {
    total.faults += Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[7]);
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      // schedstat: ns on a CPU, ns runnable on a run queue, time slices.
      const row = (await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).trim().split(' ').map(Number);
      const into = tid === String(pid) ? total.main : total.others;
      for (let i = 0; i < 3; i++) into[i]! += row[i]!;
    }
  }
  return total;
};
const printSched = (label: string, before: Sched, after: Sched, messages: number) => {
  const per = (a: number, b: number) => (a - b) / messages / receivers;
  console.log(`  ${label} minor page faults per message per process: ${per(after.faults, before.faults).toFixed(2)}`);
  for (const thread of ['main', 'others'] as const) {
    const [cpu, wait, slices] = after[thread].map((v, i) => per(v, before[thread][i]!));
    console.log(`  ${label} ${thread.padEnd(6)} per message per process: CPU ${(cpu! / 1000).toFixed(1)} µs, waiting for a core ${(wait! / 1000).toFixed(1)} µs, ${slices!.toFixed(2)} time slices`);
  }
};
{
  const idle = { ours: await cpuOf(ours), raw: await cpuOf(raw) };
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  console.log(`idle CPU over 5 s per process: ours ${(((await cpuOf(ours)) - idle.ours) / receivers / 1000).toFixed(1)} ms, raw ${(((await cpuOf(raw)) - idle.raw) / receivers / 1000).toFixed(1)} ms`);
}
const admin = new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: 'kcc-local-admin', password: server.adminPassword, protocol: 2, disableClientInfo: true });
await admin.config('RESETSTAT');
const cpuBefore = { ours: await cpuOf(ours), raw: await cpuOf(raw) };
const schedBefore = { ours: await schedOf(ours), raw: await schedOf(raw) };
// For bench/profile/stack-breakdown.ts: which process is which pool's.
if (process.env.KCC_PROF_PIDS) await writeFile(process.env.KCC_PROF_PIDS, [...ours.pids.map((p) => `${p} ours`), ...raw.pids.map((p) => `${p} raw`)].join('\n') + '\n');
console.log('measuring');
const perRound: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
const perRoundP99: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
for (let round = 0; round < rounds; round++) {
  const got: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let i = 0; i < samples + 10; i++) {
    // Forward, then backward (a b | b a), as the suite alternates: rotating (a b c | b c a | c a b)
    // would always run one side right after another and hand it what that one leaves behind.
    for (let j = 0; j < names.length; j++) {
      const name = names[i % 2 === 0 ? j : names.length - 1 - j]!;
      const start = process.hrtime.bigint();
      await sides[name]!();
      if (i >= 10) got[name]!.push(Number(process.hrtime.bigint() - start) / 1_000);
    }
  }
  for (const k of names) {
    const { p50, p99 } = summarize(got[k]!);
    perRound[k]!.push(p50);
    perRoundP99[k]!.push(p99);
  }
}
const base = perRound.raw_short!;
for (const k of names) {
  const ratios = perRound[k]!.map((v, i) => v / base[i]!);
  console.log(`${k.padEnd(24)} p50 ${median(perRound[k]!).toFixed(0).padStart(6)} µs  ratio ${median(ratios).toFixed(2)} [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`);
  // Round by round, in order: a trend within the run shows here (docs/benchmarks.md, "Latest figures").
  if (process.env.KCC_PROF_BY_ROUND) console.log(`  by round: ${perRound[k]!.map((v, i) => `${v.toFixed(0)} µs (${ratios[i]!.toFixed(2)})`).join(', ')}`);
  if (process.env.KCC_PROF_P99) {
    const tail = perRoundP99[k]!.map((v, i) => v / perRoundP99.raw_short![i]!);
    console.log(`${''.padEnd(24)} p99 ${median(perRoundP99[k]!).toFixed(0).padStart(6)} µs  ratio ${median(tail).toFixed(2)} [${Math.min(...tail).toFixed(2)}–${Math.max(...tail).toFixed(2)}]`);
    if (process.env.KCC_PROF_BY_ROUND) console.log(`  p99 by round: ${perRoundP99[k]!.map((v, i) => `${v.toFixed(0)} µs (${tail[i]!.toFixed(2)})`).join(', ')}`);
  }
}
const messages = rounds * (samples + 10);
const ourMessages = names.filter((k) => k !== 'raw_short').length * messages;
if (ourMessages > 0) console.log(`CPU per message per receiving process: ours ${(((await cpuOf(ours)) - cpuBefore.ours) / ourMessages / receivers).toFixed(1)} µs`);
if (names.includes('raw_short')) console.log(`CPU per message per receiving process: raw ${(((await cpuOf(raw)) - cpuBefore.raw) / messages / receivers).toFixed(1)} µs`);
if (process.env.KCC_PROF_SCHED) {
  if (ourMessages > 0) printSched('ours', schedBefore.ours, await schedOf(ours), ourMessages);
  if (names.includes('raw_short')) printSched('raw ', schedBefore.raw, await schedOf(raw), messages);
}
console.log((await admin.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat')).map((l) => l.split(',')[0]).join('\n'));
admin.disconnect();
await ours.stop();
await raw.stop();
await a.close();
await redis.close();
publisher.disconnect();
await server.stop();
await rm(dir, { recursive: true, force: true });
process.exit(0);
