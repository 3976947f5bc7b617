/**
 * Where the plugin's start-up time goes, step by step (median of `runs`): connect, KeyRing.start,
 * Revocations.start (alone and together), against a bare connect of the same connections. Not a
 * suite: a profiling aid, `npx tsx --conditions=kcc-redis-source bench/profile/start-steps.ts [runs]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KccRedis, KeyRing, Revocations } from '@kcc-redis/client';
import { LocalRedis } from '../../local/local-redis.js';
import { bareConnect } from '../lib/bare-connect.js';
import { median } from '../lib/rounds.js';

const USER = 'bench-prod';
const runs = Number(process.argv[2] ?? 30);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-start-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password, env: {}, logger: quiet };
const ringOptions = { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' as const };
const resident = await KccRedis.connect(connection, ['reader']);
const residentRing = await KeyRing.start(resident, ringOptions);
const times: Record<string, number[]> = {};
const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const start = performance.now();
  const result = await fn();
  (times[name] ??= []).push(performance.now() - start);
  return result;
};
for (let i = 0; i < runs + 3; i++) {
  const disconnect = await time('bare connect ×3', () => bareConnect(server, USER, password, 3));
  await disconnect();
  const redis = await time('KccRedis.connect (3 connections)', () => KccRedis.connect(connection, ['subscriber', 'reader']));
  const ring = await time('KeyRing.start', () => KeyRing.start(redis, ringOptions));
  const revocations = await time('Revocations.start', () => Revocations.start(redis));
  await ring.close();
  await revocations.close();
  await redis.close();
  const fresh = await KccRedis.connect(connection, ['subscriber', 'reader']);
  const [r2, v2] = await time('both, in parallel (as the plugin)', () => Promise.all([KeyRing.start(fresh, ringOptions), Revocations.start(fresh)]));
  await r2.close();
  await v2.close();
  await fresh.close();
  if (i < 3) for (const k of Object.keys(times)) times[k]!.length = 0;
}
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(36)} ${median(v).toFixed(2)} ms`);
await residentRing.close();
await resident.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
process.exit(0);
