/**
 * CPU cost of receiving one revocation message on an instance, against a raw subscriber receiving
 * the same bytes. Not a suite: a profiling aid (`npx tsx --conditions=kcc-redis-source
 * bench/profile/receive-cost.ts [count]`; add KCC_PROF_CPU=1 for a --cpu-prof of each receiver,
 * KCC_PROF_ALLOC=1 for the bytes each receiver allocates per message, KCC_PROF_BATCH=<n> for
 * messages of n revocations each, as a burst of logouts makes them, with a count small enough that
 * the receivers' tables stay comparable between rounds, e.g. 400).
 * The receiver runs in its own process and reports its own CPU time (user + system) over the
 * messages, so the publisher's work is not in the figure.
 */
import { fork } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Redis } from 'ioredis';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { encodeEnvelope } from '../../client/src/envelope.js';
import { MAX_BATCH } from '../../client/src/revocation/revocation-event.js';
import { LocalRedis } from '../../local/local-redis.js';

const USER = 'bench-prod';
const role = process.env.KCC_PROF_ROLE;
/** Revocations per message: receivers drop a batch of more than MAX_BATCH. */
const batch = Number(process.env.KCC_PROF_BATCH ?? 1);
if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) throw new Error(`KCC_PROF_BATCH must be a whole number from 1 to ${MAX_BATCH} (a batch's most), not ${process.env.KCC_PROF_BATCH}`);

if (role !== undefined) {
  const c = JSON.parse(process.env.KCC_PROF_CONN!) as { url: string; host: string; port: number; ca: string; password: string };
  let received = 0;
  let expected = Number.POSITIVE_INFINITY;
  let start: NodeJS.CpuUsage | undefined;
  // KCC_PROF_ALLOC: bytes allocated on the JS heap per message, from the heap's growth after a full
  // GC (a count small enough that no GC runs meanwhile; a round during which one ran says so, and
  // its figure is then too low).
  const heapUsed = () => getHeapStatistics().used_heap_size;
  let heapAtGo = 0;
  let goAt = 0;
  let gcs = 0;
  // Entries arrive after the fact: the GC forced at 'go' is told apart by its start time.
  if (process.env.KCC_PROF_ALLOC) new PerformanceObserver((list) => (gcs += list.getEntries().filter((e) => e.startTime >= goAt).length)).observe({ entryTypes: ['gc'] });
  const done = () => {
    if (received < expected) return;
    const cpu = process.cpuUsage(start);
    process.send!({ t: 'done', us: cpu.user + cpu.system, bytes: heapUsed() - heapAtGo, gcs });
  };
  process.on('message', (m: { t: string; count: number }) => {
    if (m.t === 'go') {
      (globalThis as { gc?: () => void }).gc?.();
      goAt = performance.now();
      gcs = 0;
      heapAtGo = heapUsed();
      received = 0;
      expected = m.count;
      start = process.cpuUsage();
    } else if (m.t === 'stop') process.exit(0);
  });
  if (role === 'raw') {
    const sub = new Redis({ host: c.host, port: c.port, tls: { ca: c.ca }, username: USER, password: c.password, protocol: 2, disableClientInfo: true });
    sub.on('message', () => {
      received++;
      done();
    });
    await sub.subscribe(`${USER}:revocations`);
  } else if (role === 'kcc-sub') {
    const redis = await KccRedis.connect({ url: c.url, tls: { ca: c.ca }, username: USER, password: c.password, env: {} }, ['subscriber']);
    await redis.subscribe(redis.channel('revocations'), (message) => {
      if ((JSON.parse(message) as { data: { revocations: { sid: string }[] } }).data.revocations[0]!.sid.startsWith('watch-')) received++;
      done();
    });
  } else {
    const redis = await KccRedis.connect({ url: c.url, tls: { ca: c.ca }, username: USER, password: c.password, env: {} }, ['subscriber']);
    const revocations = await Revocations.start(redis);
    // A message counts once its last revocation is applied.
    const last = `-${batch - 1}`;
    revocations.on('applied', (event) => {
      if (event.kind !== 'session' || !event.sid.endsWith(last)) return;
      received++;
      done();
    });
  }
  process.send!({ t: 'ready' });
} else {
  const count = Number(process.argv[2] ?? 20_000);
  const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const conn = { url: server.url, host: server.host, port: server.port, ca: server.ca, password };
  const publisher = new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true });
  const probe = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} });
  const channel = probe.channel('revocations');
  await probe.close();
  const messages = (round: number) => Array.from({ length: count }, (_, i) =>
    encodeEnvelope('publisher-instance', 'revocation', { v: 1, revocations: Array.from({ length: batch }, (_, j) => ({ kind: 'session', sid: `watch-${round}-${i}-${j}`, exp: Date.now() + 36_000_000 })) }, 65_536).json);
  const measure = async (mode: string) => {
    const execArgv = ['--conditions=kcc-redis-source', '--import', 'tsx', ...(process.env.KCC_PROF_ALLOC ? ['--expose-gc'] : []), ...(process.env.KCC_PROF_CPU ? ['--cpu-prof', '--cpu-prof-interval=50', `--cpu-prof-dir=${join(dir, mode)}`] : [])];
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv, env: { ...process.env, KCC_PROF_ROLE: mode, KCC_PROF_CONN: JSON.stringify(conn) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve) => child.once('message', () => resolve()));
    const results: number[] = [];
    const allocs: string[] = [];
    for (let round = 0; round < 4; round++) {
      const payloads = messages(round);
      const finished = new Promise<number>((resolve) => child.once('message', (m: { us: number; bytes: number; gcs: number }) => {
        allocs.push(`${(m.bytes / count).toFixed(0)}${m.gcs > 0 ? ` (${m.gcs} GC)` : ''}`);
        resolve(m.us);
      }));
      child.send({ t: 'go', count });
      const inFlight = Number(process.env.KCC_PROF_IN_FLIGHT ?? 1);
      const gapMs = Number(process.env.KCC_PROF_GAP_MS ?? 0);
      for (let i = 0; i < payloads.length; i += inFlight) {
        await Promise.all(payloads.slice(i, i + inFlight).map((m) => publisher.publish(channel, m)));
        if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
      results.push((await finished) / count);
    }
    child.send({ t: 'stop' });
    console.log(`${mode}: CPU per message (µs), rounds: ${results.map((r) => r.toFixed(1)).join(' ')}`);
    if (batch > 1) console.log(`${mode}: CPU per revocation (µs, ${batch} a message), rounds: ${results.map((r) => (r / batch).toFixed(2)).join(' ')}`);
    if (process.env.KCC_PROF_ALLOC) console.log(`${mode}: heap bytes allocated per message, rounds: ${allocs.join(' ')}`);
  };
  console.log(`message: ${messages(0)[0]!.length} bytes; profiles in ${dir}`);
  for (const mode of (process.env.KCC_PROF_MODES ?? 'raw,kcc,raw,kcc').split(',')) await measure(mode);
  publisher.disconnect();
  await server.stop();
}
