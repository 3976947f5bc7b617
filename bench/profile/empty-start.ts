/**
 * What an empty start costs beside the key generation (`ready_empty`): starts on an empty namespace
 * with ES256 (whose key takes under a millisecond to generate: the start's fixed cost) and with
 * PS256, a start on an existing ring, a bare connect of the same two connections, and jose
 * generating each key, in turn, medians of `runs` (the first 5 left out). Not a suite: a profiling
 * aid, `npx tsx --conditions=kcc-redis-source bench/profile/empty-start.ts [runs]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from 'jose';
import { KccRedis, KeyRing, type SigningAlgorithm } from '@kcc-redis/client';
import { namespacedKey } from '@kcc-redis/client/contract';
import { KEY_RING_KEYS } from '../../client/src/keyring/ring-keys.js';
import { LocalRedis } from '../../local/local-redis.js';
import { bareConnect } from '../lib/bare-connect.js';
import { median } from '../lib/rounds.js';

const USER = 'bench-prod';
const runs = Number(process.argv[2] ?? 40);
const dir = await mkdtemp(join(tmpdir(), 'kcc-prof-empty-'));
const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
const password = server.users.get(USER)!.password;
const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password, env: {}, logger: { info: () => {}, warn: () => {} } };
const admin = await server.admin();
const emptyKeys = Object.values(KEY_RING_KEYS).map((name) => namespacedKey(`${USER}:`, name));

/** Times `open` (which resolves with its closer), then closes untimed. */
const timed = async (open: () => Promise<() => Promise<unknown>>) => {
  const start = performance.now();
  const close = await open();
  const ms = performance.now() - start;
  await close();
  return ms;
};
const startRing = (algorithm: SigningAlgorithm) => async () => {
  const redis = await KccRedis.connect(connection, ['reader']);
  const ring = await KeyRing.start(redis, { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm });
  return async () => {
    await ring.close();
    await redis.close();
  };
};
const keygen = (alg: SigningAlgorithm) => async () => {
  await generateKeyPair(alg);
  return async () => undefined;
};
const sides: Record<string, () => Promise<number>> = {
  empty_es256: async () => (await admin.del(...emptyKeys), timed(startRing('ES256'))),
  empty_ps256: async () => (await admin.del(...emptyKeys), timed(startRing('PS256'))),
  existing_ps256: () => timed(startRing('PS256')),
  bare_connect: () => timed(() => bareConnect(server, USER, password, 2)),
  jose_keygen_ps256: () => timed(keygen('PS256')),
  jose_keygen_es256: () => timed(keygen('ES256')),
};
const samples = Object.fromEntries(Object.keys(sides).map((name) => [name, [] as number[]]));
for (let i = 0; i < runs + 5; i++) {
  for (const [name, side] of Object.entries(sides)) {
    const ms = await side();
    if (i >= 5) samples[name]!.push(ms);
  }
}
console.log(`Node.js ${process.version}, medians of ${runs} (ms):`);
for (const [name, values] of Object.entries(samples)) console.log(`  ${name.padEnd(18)} ${median(values).toFixed(2)}`);
admin.disconnect();
await server.stop();
await rm(dir, { recursive: true, force: true });
