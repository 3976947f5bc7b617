/**
 * The plugin's registration, repeated, for a CPU profile of what it costs beyond connecting: not a
 * suite, a profiling aid (`node --cpu-prof --conditions=kcc-redis-source --import tsx
 * bench/profile/register-steps.ts [runs]`). Prints the first registration's time, then the median of the next `runs`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { fastifyKcc, type KccFastifyOptions } from '@kcc-redis/client/fastify';
import { LocalRedis } from '../../local/local-redis.js';
import { benchPluginOptions } from '../plugin.js';
import { median } from '../lib/rounds.js';

const runs = Number(process.argv[2] ?? 40);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-register-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const options: KccFastifyOptions = { ...benchPluginOptions(server), ...(process.env.KCC_PROF_NO_METRICS ? { metrics: false as const } : {}) };
const register = async () => {
  const app = Fastify();
  await app.register(fastifyKcc, options);
  await app.ready();
  return app;
};
const firstStart = performance.now();
if (process.env.KCC_PROF_MARKS) console.log(`first-start-us ${process.hrtime.bigint() / 1000n}`);
const resident = await register(); // the process's first: modules and lazily loaded parts of Node included
const first = performance.now() - firstStart;
if (process.env.KCC_PROF_MARKS) console.log(`first-end-us ${process.hrtime.bigint() / 1000n}`);
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  const app = await register();
  times.push(performance.now() - start);
  await app.close();
}
console.log(`register: first ${first.toFixed(2)} ms, then median ${median(times).toFixed(2)} ms over ${runs}`);
await resident.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
