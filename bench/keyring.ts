import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, generateKeyPair } from 'jose';
import { KccRedis, KeyRing, type KeyRingOptions } from '@kcc-redis/client';
import { namespacedKey } from '@kcc-redis/client/contract';
import { KEY_RING_KEYS } from '../client/src/keyring/ring-keys.js';
import { LocalRedis } from '../local/local-redis.js';
import { bareConnect } from './lib/bare-connect.js';
import { type Metric, paired, report } from './lib/report.js';
import { ROUNDS, alternatingSamples, interleave, median } from './lib/rounds.js';
import { ratePerSecond, ratePerSecondSync, summarize } from './lib/stats.js';

const USER = 'bench-prod';
const RING: KeyRingOptions = { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' };
const quiet = { info: () => {}, warn: () => {} };
/**
 * Samples of each side per round (start-up on an existing ring, and a bare connect); half as many
 * against the bare connect without the ready check. 48, not 24: the tail reported beside the median
 * is a p90, the fifth slowest of 48 (a p99 of 24 samples was each round's slowest, and moved by 0.22
 * between consecutive runs on Node.js 20, by 0.40 between runs minutes apart on 24).
 */
const READY_SAMPLES = 48;
/**
 * Samples of each side per round on an empty namespace: as many as fit in about
 * {@link EMPTY_ROUND_MS} of timed work (a pair's time taken from a few pairs after a warm-up), at
 * least {@link EMPTY_SAMPLES_MIN}, at most {@link EMPTY_SAMPLES_MAX}. RSA key generation time varies
 * a lot from key to key (the search for primes), on both sides of the ratio: with 40 samples the
 * rounds' ratios scattered with a standard deviation of 0.13-0.22, and runs differed by up to 0.20
 * (1.16 and 1.36 on Node.js 22, 2026-12-05, minutes apart); with 10, consecutive runs by up to 0.26;
 * with 4, by 0.65. The scatter shrinks with the square root of the samples. A key takes 28-45 ms from
 * Node.js 22 on, so there the count grows for little time; on Node.js 20, where it takes 125-150 ms,
 * the minimum decides (about 23 s of timed work a round).
 */
const EMPTY_ROUND_MS = 12_000;
const EMPTY_SAMPLES_MIN = 80;
const EMPTY_SAMPLES_MAX = 160;

/**
 * `ready_existing`: `KccRedis.connect` (command connection + the key-ring log's reader) and
 * `KeyRing.start` on an existing ring, until it can sign; baseline: a bare ioredis TLS connect of the
 * same two connections. Closing is not timed. `ready_empty`: the same on an empty namespace (no
 * other instance up), which generates the first key; baseline: jose generating the same key pair.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-keyring-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, env: {}, logger: quiet };
  const admin = await server.admin();
  try {
    const startInstance = async () => {
      const redis = await KccRedis.connect(connection, ['reader']);
      const ring = await KeyRing.start(redis, RING);
      return { redis, ring };
    };
    const stopInstance = async ({ redis, ring }: { redis: KccRedis; ring: KeyRing }) => {
      await ring.close();
      await redis.close();
    };

    // An empty namespace: no ring, no ring log (else a starting instance waits for a write-back), no lock.
    const emptyKeys = Object.values(KEY_RING_KEYS).map((name) => namespacedKey(`${USER}:`, name));
    const ready: { existing: number[]; bare: number[]; existingP90: number[]; bareP90: number[] } = { existing: [], bare: [], existingP90: [], bareP90: [] };
    // Sample by sample, ours and jose alternating, as for `ready_existing`: a block of starts and
    // then a block of key generations would lie seconds apart, and the machine moves in between.
    // Each start is followed (untimed) by emptying the namespace again.
    const emptyStart = async () => {
      const instance = await startInstance();
      return async () => {
        await stopInstance(instance);
        await admin.del(...emptyKeys);
      };
    };
    const joseKeygen = async () => {
      await generateKeyPair('PS256');
    };
    const empty = { ours: [] as number[], baseline: [] as number[] };
    await admin.del(...emptyKeys);
    // A pair's time, after a warm-up: the first starts of a process are slower, and timed alone
    // they would size the rounds too small. These pairs are not part of any round.
    const [firstOurs, firstJose] = await alternatingSamples(6, 4, emptyStart, joseKeygen);
    const pairMs = (median(firstOurs) + median(firstJose)) / 1_000;
    const emptySamples = Math.min(EMPTY_SAMPLES_MAX, Math.max(EMPTY_SAMPLES_MIN, Math.round(EMPTY_ROUND_MS / pairMs)));
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, jose] = await alternatingSamples(emptySamples, 0, emptyStart, joseKeygen);
      empty.ours.push(median(ours));
      empty.baseline.push(median(jose));
    }

    const keep = await startInstance(); // the ring exists from here on
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, bare] = await alternatingSamples(READY_SAMPLES, 2, async () => {
        const instance = await startInstance();
        return () => stopInstance(instance);
      }, () => bareConnect(server, USER, connection.password, 2));
      const [o, b] = [summarize(ours), summarize(bare)];
      ready.existing.push(o.p50);
      ready.bare.push(b.p50);
      ready.existingP90.push(o.p90);
      ready.bareP90.push(b.p90);
    }
    const authOnly = { ours: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const [ours, bare] = await alternatingSamples(READY_SAMPLES / 2, 2, async () => {
        const instance = await startInstance();
        return () => stopInstance(instance);
      }, () => bareConnect(server, USER, connection.password, 2, false));
      authOnly.ours.push(summarize(ours).p50);
      authOnly.baseline.push(summarize(bare).p50);
    }

    const key = keep.ring.signingKey();
    const audience = 'https://sso.example/realms/main';
    const joseSign = () => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({}).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).setIssuer('bench').setSubject('bench')
        .setAudience(audience).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 60).setJti(randomUUID()).sign(key.key);
    };
    await ratePerSecond(300, joseSign); // warm-up
    const signing = await interleave(ROUNDS, () => ratePerSecond(600, () => keep.ring.signClientAssertion({ clientId: 'bench', audience })), () => ratePerSecond(600, joseSign));
    const jwks = Array.from({ length: ROUNDS }, () => ratePerSecondSync(300, () => keep.ring.jwks()));
    await stopInstance(keep);

    const metrics: Metric[] = [
      paired('ready_existing.p50', 'us', { ours: ready.existing, baseline: ready.bare }, 'bare_connect.p50', { on: 'ratio', op: '<=', target: 1.2 }),
      paired('ready_existing.p90', 'us', { ours: ready.existingP90, baseline: ready.bareP90 }, 'bare_connect.p90', undefined, 'context'),
      paired('ready_existing_vs_auth_only.p50', 'us', authOnly, 'bare_connect_auth_only.p50', undefined, 'context: baseline without ioredis\' ready check (INFO)'),
      paired('ready_empty.p50', 'us', empty, 'jose_keygen.p50', { on: 'ratio', op: '<=', target: 1.2 }),
      paired('assertion_sign_per_s', 'per_s', signing, 'jose_sign_per_s', { on: 'ratio', op: '>=', target: 0.9 }),
      { name: 'jwks_per_s', unit: 'per_s', value: median(jwks), goal: { on: 'value', op: '>=', target: 100_000 } },
    ];
    report('keyring', metrics, {
      algorithm: 'PS256',
      rounds: ROUNDS,
      samplesPerRound: { ready_existing: READY_SAMPLES, bare_connect: READY_SAMPLES, bare_connect_auth_only: READY_SAMPLES / 2, ready_empty: emptySamples, jose_keygen: emptySamples },
    });
  } finally {
    await admin.quit();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
