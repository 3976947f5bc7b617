/**
 * The plugin's registration from this checkout against the same from another (a change's before and
 * after), with the suite's bare connect as the common baseline: the three in turn, sample by sample
 * (bench/lib/rounds.ts), medians per round, then the median of the rounds' ratios. Not a suite: a
 * profiling aid, e.g. for the commit before HEAD:
 *
 *   git worktree add /tmp/before HEAD~1 && ln -s "$PWD/node_modules" /tmp/before/node_modules
 *   npx tsx --conditions=kcc-redis-source bench/profile/register-ab.ts /tmp/before [rounds] [samples]
 *
 * Both register against one local server, with the suite's options; one registration of this
 * checkout stays up as the other instance (the suite's `resident`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyPluginAsync } from 'fastify';
import { fastifyKcc, type KccFastifyOptions } from '@kcc-redis/client/fastify';
import { LocalRedis } from '../../local/local-redis.js';
import { benchPluginOptions } from '../plugin.js';
import { bareConnect } from '../lib/bare-connect.js';
import { median, rotatingSamples } from '../lib/rounds.js';

const [otherCheckout, roundsArg, samplesArg] = process.argv.slice(2);
if (!otherCheckout) throw new Error('usage: register-ab.ts <other checkout> [rounds] [samples]');
const other = ((await import(resolve(otherCheckout, 'client/src/fastify/index.ts'))) as { fastifyKcc: FastifyPluginAsync<KccFastifyOptions> }).fastifyKcc;
const rounds = Number(roundsArg ?? 7);
const samples = Number(samplesArg ?? 100);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-register-ab-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const options = benchPluginOptions(server);
const { username, password } = options.connection as { username: string; password: string };
const registering = (plugin: FastifyPluginAsync<KccFastifyOptions>) => async () => {
  const app = Fastify();
  await app.register(plugin, options);
  await app.ready();
  return () => app.close();
};
const resident = Fastify();
await resident.register(fastifyKcc, options);
await resident.ready();
const p50 = { here: [] as number[], other: [] as number[], bare: [] as number[] };
for (let round = 0; round < rounds; round++) {
  const [here, there, bare] = await rotatingSamples(samples, round === 0 ? 20 : 2, [registering(fastifyKcc), registering(other), () => bareConnect(server, username, password, 3)]);
  p50.here.push(median(here!));
  p50.other.push(median(there!));
  p50.bare.push(median(bare!));
  console.log(`round ${round + 1}: p50 this checkout ${median(here!).toFixed(0)} µs, other ${median(there!).toFixed(0)} µs, bare connect ${median(bare!).toFixed(0)} µs`);
}
const ratio = (a: number[], b: number[]) => median(a.map((v, i) => v / b[i]!)).toFixed(3);
console.log(`median of the rounds' ratios: this checkout / bare ${ratio(p50.here, p50.bare)}, other / bare ${ratio(p50.other, p50.bare)}, this / other ${ratio(p50.here, p50.other)}`);
await resident.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
