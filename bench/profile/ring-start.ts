/**
 * KeyRing.start on an existing ring, repeated on one connection, for a CPU profile of its steps: not
 * a suite, a profiling aid (`node --cpu-prof --conditions=kcc-redis-source --import tsx
 * bench/profile/ring-start.ts [runs]`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KccRedis, KeyRing } from '@kcc-redis/client';
import { LocalRedis } from '../../local/local-redis.js';
import { median } from '../lib/rounds.js';

const USER = 'bench-prod';
const runs = Number(process.argv[2] ?? 200);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-ring-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password, env: {}, logger: quiet };
const ringOptions = { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' as const };
const redis = await KccRedis.connect(connection, ['reader']);
const first = await KeyRing.start(redis, ringOptions);
await first.close();
const times: number[] = [];
for (let i = 0; i < runs; i++) {
  const fresh = await KccRedis.connect(connection, ['reader']);
  const start = performance.now();
  const ring = await KeyRing.start(fresh, ringOptions);
  times.push(performance.now() - start);
  await ring.close();
  await fresh.close();
}
console.log(`KeyRing.start: median ${median(times).toFixed(2)} ms over ${runs}`);
await redis.close();
await server.stop();
await rm(dir, { recursive: true, force: true });
