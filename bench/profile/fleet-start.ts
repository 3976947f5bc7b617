/**
 * What a fleet starting at once against a large revocation state does to every other client of the
 * server: `starters` processes each load the stored state (a million revoked sessions by default)
 * at the same moment, while this process, otherwise idle, sends a `PING` every millisecond or so and
 * times each. Reports each configuration's probe latencies (p50, p99, max: how long any other client's
 * command, a logout's write, waited behind the loads; one at a time, so a long wait is one sample),
 * the loads' own times, the server's time per script (`INFO commandstats`, EVAL and EVALSHA) and its
 * main thread's CPU. Not a suite: a profiling aid,
 * `npx tsx --conditions=kcc-redis-source bench/profile/fleet-start.ts [starters] [sessions] [chunk×window ...]`
 * e.g. `... fleet-start.ts 8 1000000 5000x8 2000x2`.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { KccRedis } from '@kcc-redis/client';
import { LocalRedis } from '../../local/local-redis.js';
import { namespacedKey } from '../../client/src/contract/naming.js';
import { REVOCATION_KEYS } from '../../client/src/revocation/revocation-keys.js';
import { loadRevocationSnapshot } from '../../client/src/revocation/revocation-snapshot.js';
import { RevocationIndex } from '../../client/src/revocation/revocation-index.js';

const USER = 'bench-prod';
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

interface Job {
  readonly url: string;
  readonly ca: string;
  readonly password: string;
  readonly chunk: number;
  readonly window: number;
}

if (process.argv[2] === 'starter') {
  // One instance's load, in a process of its own, on 'go'.
  const job = JSON.parse(process.env.KCC_FLEET_JOB!) as Job;
  const redis = await KccRedis.connect({ url: job.url, tls: { ca: job.ca }, username: USER, password: job.password, env: {}, logger: quiet }, []);
  process.send!('ready');
  await new Promise((resolve) => process.once('message', resolve));
  const start = performance.now();
  const index = new RevocationIndex();
  await loadRevocationSnapshot(redis, index, 3_600_000, { chunk: job.chunk, window: job.window });
  const ms = performance.now() - start;
  if (index.sessionCount === 0) throw new Error('loaded nothing');
  process.send!({ ms, sessions: index.sessionCount });
  await redis.close();
  process.exit(0);
}

const starters = Number(process.argv[2] ?? 8);
const sessions = Number(process.argv[3] ?? 1_000_000);
const configs = (process.argv.length > 4 ? process.argv.slice(4) : ['5000x8', '2000x2']).map((text) => {
  const [chunk, window] = text.split('x').map(Number);
  return { chunk: chunk!, window: window! };
});
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-fleet-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const client = () => new Redis(server.url, { tls: { ca: server.ca, servername: 'localhost' }, username: USER, password, lazyConnect: true, enableReadyCheck: false });
const writer = client();
await writer.connect();
const key = namespacedKey(`${USER}:`, REVOCATION_KEYS.sessions);
const far = Date.now() + 3_600_000;
for (let i = 0; i < sessions; i += 1_000) {
  await writer.zadd(key, ...Array.from({ length: Math.min(1_000, sessions - i) }, (_, j) => [far - (i + j), randomUUID()]).flat());
}
const admin = await server.admin();
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const self = fileURLToPath(import.meta.url);
/** The server's main thread's CPU time so far (s), user and system, from `INFO cpu`: what every other client's command waits for. */
const serverCpu = (info: string) => ['used_cpu_sys_main_thread', 'used_cpu_user_main_thread'].reduce((sum, field) => sum + Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN), 0);

for (let round = 0; round < 2; round++) {
  for (const { chunk, window } of configs) {
    const job: Job = { url: server.url, ca: server.ca, password, chunk, window };
    const children = Array.from({ length: starters }, () => fork(self, ['starter'], { env: { ...process.env, KCC_FLEET_JOB: JSON.stringify(job) }, execArgv: process.execArgv }));
    await Promise.all(children.map((child) => new Promise((resolve) => child.once('message', resolve))));
    await admin.config('RESETSTAT');
    const cpuBefore = serverCpu(await admin.info('cpu'));
    const done = children.map((child) => new Promise<{ ms: number }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as { ms: number }));
      child.once('exit', (code) => code !== 0 && reject(new Error(`starter exited ${code}`)));
    }));
    const probe = client();
    await probe.connect();
    let running = true;
    const waits: number[] = [];
    const probing = (async () => {
      while (running) {
        const t = performance.now();
        await probe.ping();
        waits.push(performance.now() - t);
        // A PING a millisecond: each waits as a logout's write would, without adding much to the server's work.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const start = performance.now();
    for (const child of children) child.send('go');
    const loads = (await Promise.all(done)).map((d) => d.ms).sort((a, b) => a - b);
    const storm = performance.now() - start;
    running = false;
    await probing;
    probe.disconnect();
    const cpu = serverCpu(await admin.info('cpu')) - cpuBefore;
    // The reads go out as EVALSHA once a script is loaded on the connection (EVAL only the first time).
    const scripts = (await admin.info('commandstats')).split('\n').filter((line) => /^cmdstat_eval(sha)?:/.test(line));
    const [calls, usec] = scripts.reduce(([c, u], line) => [c + Number(/calls=(\d+)/.exec(line)?.[1] ?? 0), u + Number(/usec=(\d+)/.exec(line)?.[1] ?? 0)], [0, 0]);
    const perCall = calls > 0 ? (usec / calls).toFixed(0) : undefined;
    waits.sort((a, b) => a - b);
    console.log(
      `round ${round + 1} chunk ${chunk} window ${window}: ${starters} loads of ${sessions} in ${storm.toFixed(0)} ms (each ${loads[0]!.toFixed(0)}–${loads.at(-1)!.toFixed(0)} ms); ` +
        `probe PING p50 ${percentile(waits, 0.5).toFixed(2)} ms, p99 ${percentile(waits, 0.99).toFixed(2)} ms, max ${waits.at(-1)!.toFixed(2)} ms (${waits.length} probes); server per script ${perCall ?? '?'} µs (${calls} scripts); server main thread CPU ${(cpu * 1000).toFixed(0)} ms (${((cpu * 1e6) / ((starters * sessions) / 1000)).toFixed(0)} µs per 1,000 entries loaded, probes included)`,
    );
  }
}
admin.disconnect();
writer.disconnect();
await server.stop();
await rm(dir, { recursive: true, force: true });
