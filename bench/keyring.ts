import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SignJWT, generateKeyPair } from 'jose';
import { KccRedis, KeyRing, type KeyRingOptions } from '@kcc-redis/client';
import { LocalRedis } from '../local/local-redis.js';
import { type Metric, report } from './lib/report.js';
import { ratePerSecond, ratePerSecondSync, summarize, timeRuns } from './lib/stats.js';

const USER = 'bench-prod';
const RING: KeyRingOptions = { keyEncryptionKey: 'bench-key-encryption-key-0123456789abcdefghij', env: {}, algorithm: 'PS256' };

/** Medians of alternating rounds, so drift on a shared machine hits both sides alike. */
async function alternate(rounds: number, ms: number, a: () => unknown, b: () => unknown): Promise<[number, number]> {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    as.push(await ratePerSecond(ms, a));
    bs.push(await ratePerSecond(ms, b));
  }
  return [summarize(as).p50, summarize(bs).p50];
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-keyring-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, env: {} };
  const admin = await server.admin();
  try {
    // Baseline: a bare ioredis TLS connect of the same two connections (commands + event-log reader).
    const bareConnect = await timeRuns(30, 3, async () => {
      const clients = [0, 1].map(() => new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password: connection.password, protocol: 2, disableClientInfo: true, lazyConnect: true }));
      await Promise.all(clients.map((c) => c.connect()));
      clients.forEach((c) => c.disconnect());
    });

    const startInstance = async () => {
      const redis = await KccRedis.connect(connection, ['reader']);
      const ring = await KeyRing.start(redis, RING);
      return { redis, ring };
    };
    const stopInstance = async ({ redis, ring }: { redis: KccRedis; ring: KeyRing }) => {
      await ring.close();
      await redis.close();
    };
    const keep = await startInstance(); // the ring now exists
    const readyExisting = await timeRuns(30, 3, async () => stopInstance(await startInstance()));

    const emptyKeys = [`${USER}:{${USER}}:keyring`, `${USER}:{${USER}}:lock:keyring-rotation`];
    const readyEmptySamples: number[] = [];
    for (let i = 0; i < 14; i++) {
      await admin.del(...emptyKeys);
      const start = process.hrtime.bigint();
      const instance = await startInstance();
      const elapsed = Number(process.hrtime.bigint() - start) / 1_000;
      if (i >= 2) readyEmptySamples.push(elapsed);
      await stopInstance(instance);
    }
    const joseKeygen = await timeRuns(12, 2, () => generateKeyPair('PS256'));
    await stopInstance(keep);

    const { redis, ring } = await startInstance();
    const key = ring.signingKey();
    const audience = 'https://sso.example/realms/main';
    const joseSign = () => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({}).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).setIssuer('bench').setSubject('bench')
        .setAudience(audience).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 60).setJti(randomUUID()).sign(key.key);
    };
    const [assertionRate, joseRate] = await alternate(3, 1_000, () => ring.signClientAssertion({ clientId: 'bench', audience }), joseSign);
    const jwksRate = ratePerSecondSync(1_000, () => ring.jwks());
    await stopInstance({ redis, ring });

    const bare = summarize(bareConnect);
    const existing = summarize(readyExisting);
    const empty = summarize(readyEmptySamples);
    const keygen = summarize(joseKeygen);
    const metrics: Metric[] = [
      { name: 'ready_existing.p50', unit: 'us', value: existing.p50, baseline: { name: 'bare_connect.p50', value: bare.p50 }, goal: 'ratio ≤ 1.5' },
      { name: 'ready_existing.p99', unit: 'us', value: existing.p99, baseline: { name: 'bare_connect.p99', value: bare.p99 } },
      { name: 'ready_empty.p50', unit: 'us', value: empty.p50, baseline: { name: 'jose_keygen.p50', value: keygen.p50 }, goal: 'ratio ≤ 1.2' },
      { name: 'ready_empty.p99', unit: 'us', value: empty.p99, baseline: { name: 'jose_keygen.p99', value: keygen.p99 } },
      { name: 'assertion_sign_per_s', unit: 'per_s', value: assertionRate, baseline: { name: 'jose_sign_per_s', value: joseRate }, goal: 'ratio ≥ 0.9' },
      { name: 'jwks_per_s', unit: 'per_s', value: jwksRate, goal: '≥ 100000' },
    ];
    report('keyring', metrics, { algorithm: 'PS256', runs: { ready_existing: existing.runs, ready_empty: empty.runs, bare_connect: bare.runs, jose_keygen: keygen.runs } });
  } finally {
    await admin.quit();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
