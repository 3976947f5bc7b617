import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { type KccFastifyOptions, fastifyKcc } from '@kcc-redis/client/fastify';
import { LocalRedis } from '../local/local-redis.js';
import { bareConnect } from './lib/bare-connect.js';
import { type Metric, paired, report } from './lib/report.js';
import { ROUNDS, alternatingSamples, rotatingSamples, warmUp } from './lib/rounds.js';
import { summarize } from './lib/stats.js';

const USER = 'bench-prod';
/** The plugin opens the command connection plus the prewarmed subscriber (revocations) and reader (key-ring log). */
const CONNECTIONS = 3;
/**
 * Samples of each side per round, alternating sample by sample (half as many in the context rounds).
 * 80: `register.p90` is then the ninth slowest of a round. With 20 (the third slowest) it moved by
 * up to 0.15 between consecutive runs, and with 40 (the fifth) by 0.24 (2.04 / 1.80, 2026-12-05).
 */
const SAMPLES = 80;
/**
 * Both sides run in turn, unmeasured, this long before the first round. With four registrations of
 * each only, the first round read 1.40–1.48 on Node.js 20 (1.58 and 1.50 on 22 and 24) and the ratio
 * fell round after round to 1.31–1.34 (1.46 and 1.41) by the eleventh (2026-12-05, seven runs): V8
 * was still optimizing the registration, which runs more code than the bare connect, so the median
 * depended on where the rounds fell on that curve. With the warm-up, two runs read 1.31 [1.29–1.32]
 * and 1.33 [1.30–1.34], flat from the first round (16:07–16:09 UTC). The suite measures warm starts.
 */
const WARMUP_MS = 15_000;
const quiet = { info: () => {}, warn: () => {} };

/**
 * `register.p50`: from `fastify()` + `register(plugin, options)` to `await app.ready()`, with a key
 * ring already in Redis and another instance running (the upstream connector asks for a 120 s
 * plugin timeout). Baseline `bare_connect.p50`: a bare ioredis TLS connect of the same three
 * connections, in parallel. Samples alternate between the two within each round; the ratio is the
 * median of the rounds' ratios (docs/benchmarks.md, "Interleaved rounds"). Closing is not timed.
 * Context, in rounds of their own: the same against a bare connect without ioredis' ready check; and
 * ours, the bare connect made inside a Fastify app's start (`Fastify()`, a plugin, `ready()`) and the
 * bare connect, the three alternating: `fastify_bare_connect.p50` against the bare connect (what
 * Fastify's own start takes of the goal's allowance) and `register_vs_fastify.p50` against it (the
 * plugin's own part), from the same samples.
 */
/** The plugin's options in this suite (and in bench/profile/register-steps.ts): the local server, a literal key-encryption key. */
export function benchPluginOptions(server: LocalRedis): KccFastifyOptions {
  return {
    issuer: 'https://sso.example/realms/bench',
    clientId: 'bench',
    connection: { url: server.url, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, env: {}, logger: quiet },
    keyRing: { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' },
    logger: quiet,
  };
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-plugin-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const options = benchPluginOptions(server);
  const register = async (): Promise<FastifyInstance> => {
    const app = Fastify();
    await app.register(fastifyKcc, options);
    await app.ready();
    return app;
  };

  // Fastify's own start around the baseline's connect, in a plugin of its own (context: the part of
  // register.p50's ratio that is Fastify's, not the client's).
  const fastifyAroundBare = async (): Promise<() => Promise<void>> => {
    const app = Fastify();
    let disconnect = async () => {};
    await app.register(fp(async () => {
      disconnect = await bareConnect(server, USER, password, CONNECTIONS);
    }));
    await app.ready();
    return async () => {
      await disconnect();
      await app.close();
    };
  };

  const resident = await register(); // creates the ring; stays up as "the other instance"
  try {
    const p50 = { ours: [] as number[], baseline: [] as number[] };
    const p90 = { ours: [] as number[], baseline: [] as number[] };
    const registerSample = async () => {
      const app = await register();
      return () => app.close();
    };
    const bareSample = () => bareConnect(server, USER, password, CONNECTIONS);
    await warmUp(WARMUP_MS, [registerSample, bareSample]);
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, bare] = await alternatingSamples(SAMPLES, 1, registerSample, bareSample);
      const [o, b] = [summarize(ours), summarize(bare)];
      p50.ours.push(o.p50);
      p50.baseline.push(b.p50);
      p90.ours.push(o.p90);
      p90.baseline.push(b.p90);
    }
    const authOnly = { ours: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, bare] = await alternatingSamples(SAMPLES / 2, 1, registerSample, () => bareConnect(server, USER, password, CONNECTIONS, false));
      authOnly.ours.push(summarize(ours).p50);
      authOnly.baseline.push(summarize(bare).p50);
    }
    // Ours, Fastify around the bare connect, and the bare connect, alternating in the same rounds.
    const split = { ours: [] as number[], fastify: [] as number[], bare: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, withFastify, bare] = (await rotatingSamples(SAMPLES / 2, 1, [registerSample, fastifyAroundBare, bareSample])).map((samples) => summarize(samples).p50);
      split.ours.push(ours!);
      split.fastify.push(withFastify!);
      split.bare.push(bare!);
    }
    const metrics: Metric[] = [
      paired('register.p50', 'us', p50, 'bare_connect.p50', { on: 'ratio', op: '<=', target: 1.3 }),
      paired('register.p90', 'us', p90, 'bare_connect.p90', undefined, 'context'),
      paired('register_vs_auth_only.p50', 'us', authOnly, 'bare_connect_auth_only.p50', undefined, 'context: baseline without ioredis\' ready check (INFO)'),
      paired('fastify_bare_connect.p50', 'us', { ours: split.fastify, baseline: split.bare }, 'bare_connect_context.p50', undefined, 'context: Fastify\'s own start around the bare connect, no client'),
      paired('register_vs_fastify.p50', 'us', { ours: split.ours, baseline: split.fastify }, 'fastify_bare_connect.p50', undefined, 'context: the plugin against Fastify around the bare connect, same rounds'),
    ];
    report('plugin', metrics, { algorithm: 'PS256', connections: CONNECTIONS, rounds: ROUNDS, samplesPerRound: SAMPLES });
  } finally {
    await resident.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
