/**
 * The Redis commands of one start, in the order they were sent, each with when it went out and when
 * its reply came (ms from the start), by connection: which round trips follow one another and where
 * the app's thread keeps them waiting. Not a suite: a profiling aid,
 *
 *   npx tsx --conditions=kcc-redis-source bench/profile/command-trace.ts <register|empty|existing> [algorithm]
 *
 * `register`: the Fastify plugin's registration, as the plugin suite times it. `empty` and
 * `existing`: `KccRedis.connect` (command connection and the key ring's reader) and `KeyRing.start`
 * on an empty namespace and on an existing ring, as the keyring suite times them (PS256 unless
 * `algorithm` says otherwise: ES256 leaves the fixed cost of an empty start). Ten starts warm the
 * process; the eleventh is traced. It wraps ioredis' `sendCommand`, which costs the traced start a
 * little: compare traces with traces, not with the suites' figures.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { KccRedis, KeyRing, type SigningAlgorithm } from '@kcc-redis/client';
import { namespacedKey } from '@kcc-redis/client/contract';
import { fastifyKcc } from '@kcc-redis/client/fastify';
import { KEY_RING_KEYS } from '../../client/src/keyring/ring-keys.js';
import { LocalRedis } from '../../local/local-redis.js';
import { benchPluginOptions } from '../plugin.js';

const [which = 'register', algorithm = 'PS256'] = process.argv.slice(2) as [string?, SigningAlgorithm?];
if (!['register', 'empty', 'existing'].includes(which)) throw new Error('usage: command-trace.ts <register|empty|existing> [algorithm]');
const USER = 'bench-prod';
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-trace-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const admin = await server.admin();
const pluginOptions = benchPluginOptions(server);
const connection = pluginOptions.connection!;
const keyRing = { ...pluginOptions.keyRing, algorithm };
const emptyKeys = Object.values(KEY_RING_KEYS).map((name) => namespacedKey(`${USER}:`, name));

interface Traced { readonly sent: number; replied?: number; failed?: boolean; readonly what: string }
let tracing: Traced[] | undefined;
let origin = 0;
type SendCommand = (this: Redis, command: { name: string; args: unknown[]; promise: Promise<unknown> }, stream?: unknown) => unknown;
const prototype = Redis.prototype as unknown as { sendCommand: SendCommand };
const send = prototype.sendCommand;
prototype.sendCommand = function (command, stream) {
  if (tracing) {
    const role = String(this.options.connectionName ?? '?').split(':').pop();
    const entry: Traced = { sent: performance.now() - origin, what: `${role} ${command.name} ${String(command.args[0] ?? '').replace(/\s+/g, ' ').slice(0, 40)}` };
    tracing.push(entry);
    command.promise.then(() => (entry.replied = performance.now() - origin), () => (entry.failed = true));
  }
  return send.call(this, command, stream);
};

const start = async (): Promise<() => Promise<unknown>> => {
  if (which === 'register') {
    const app = Fastify();
    await app.register(fastifyKcc, pluginOptions);
    await app.ready();
    return () => app.close();
  }
  const redis = await KccRedis.connect(connection, ['reader']);
  const ring = await KeyRing.start(redis, keyRing);
  return async () => {
    await ring.close();
    await redis.close();
  };
};
/** Before each start, untimed: an empty namespace for `empty`. */
const prepare = async () => {
  if (which === 'empty') await admin.del(...emptyKeys);
};
const resident = which === 'empty' ? undefined : await start(); // the other instance; for `existing`, the ring
for (let i = 0; i < 10; i++) {
  await prepare();
  await (await start())();
}
await prepare();
tracing = [];
origin = performance.now();
const close = await start();
const total = performance.now() - origin;
const traced = tracing;
tracing = undefined;
for (const t of traced) console.log(`${t.sent.toFixed(2).padStart(7)} → ${t.failed ? '  error' : t.replied === undefined ? 'pending' : t.replied.toFixed(2).padStart(7)}  ${t.what}`);
console.log(`${which} ${which === 'register' ? '' : `${algorithm} `}start: ${total.toFixed(2)} ms`);
await close();
await resident?.();
await admin.quit();
await server.stop();
await rm(dir, { recursive: true, force: true });
