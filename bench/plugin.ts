import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { type KccFastifyOptions, fastifyKcc } from '@kcc-redis/client/fastify';
import { LocalRedis } from '../local/local-redis.js';
import { type Metric, report } from './lib/report.js';
import { summarize } from './lib/stats.js';

const USER = 'bench-prod';
/** The plugin opens the command connection plus the prewarmed subscriber (revocations) and reader (key-ring log). */
const CONNECTIONS = 3;
const RUNS = 60;
const WARMUP = 4;
const quiet = { info: () => {}, warn: () => {} };

const elapsedUs = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1_000;

/**
 * `register.p50`: from `fastify()` + `register(plugin, options)` to `await app.ready()`, with a key
 * ring already in Redis and another instance running (the upstream connector asks for a 120 s
 * plugin timeout). Baseline `bare_connect.p50`: a bare ioredis TLS connect of the same three
 * connections, in parallel. Samples alternate between the two so that drift hits both alike.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-plugin-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const options: KccFastifyOptions = {
    issuer: 'https://sso.example/realms/bench',
    clientId: 'bench',
    connection: { url: server.url, tls: { ca: server.ca }, username: USER, password, env: {}, logger: quiet },
    keyRing: { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' },
    logger: quiet,
  };
  const register = async (): Promise<FastifyInstance> => {
    const app = Fastify();
    await app.register(fastifyKcc, options);
    await app.ready();
    return app;
  };
  const bareConnect = async (): Promise<void> => {
    const clients = Array.from({ length: CONNECTIONS }, () =>
      new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true, lazyConnect: true }));
    await Promise.all(clients.map((c) => c.connect()));
    clients.forEach((c) => c.disconnect());
  };

  const resident = await register(); // creates the ring; stays up as "the other instance"
  try {
    const registerSamples: number[] = [];
    const bareSamples: number[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      let start = process.hrtime.bigint();
      await bareConnect();
      const bare = elapsedUs(start);
      start = process.hrtime.bigint();
      const app = await register();
      const registered = elapsedUs(start);
      await app.close();
      if (i >= WARMUP) {
        bareSamples.push(bare);
        registerSamples.push(registered);
      }
    }
    const plugin = summarize(registerSamples);
    const bare = summarize(bareSamples);
    const metrics: Metric[] = [
      { name: 'register.p50', unit: 'us', value: plugin.p50, baseline: { name: 'bare_connect.p50', value: bare.p50 }, goal: 'ratio ≤ 2' },
      { name: 'register.p90', unit: 'us', value: plugin.p90, baseline: { name: 'bare_connect.p90', value: bare.p90 } },
      { name: 'register.p99', unit: 'us', value: plugin.p99, baseline: { name: 'bare_connect.p99', value: bare.p99 } },
      { name: 'register.max', unit: 'us', value: plugin.max, baseline: { name: 'bare_connect.max', value: bare.max } },
    ];
    report('plugin', metrics, { algorithm: 'PS256', connections: CONNECTIONS, runs: { register: plugin.runs, bare_connect: bare.runs } });
    console.log(`runs: register ${plugin.runs}, bare_connect ${bare.runs} (after ${WARMUP} warm-up rounds; ${CONNECTIONS} TLS connections each)`);
  } finally {
    await resident.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
