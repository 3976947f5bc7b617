import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type JWK, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { KccRedis, RevocationIndex, Revocations, createBackchannelLogoutHandler } from '../client/src/index.js';
import { LocalRedis } from '../infra/local/local-redis.js';
import { type Metric, report } from './lib/report.js';
import { ratePerSecond, ratePerSecondSync, summarize } from './lib/stats.js';

const USER = 'bench-prod';
const RECEIVERS = 16;
const RUNS = 300;
const WARMUP = 30;

/** Times `RUNS` rounds of `send` until `RECEIVERS` receivers got it; returns microseconds per round. */
async function fanOut(send: (round: number) => Promise<unknown>, arm: (round: number, done: () => void) => void): Promise<number[]> {
  const samples: number[] = [];
  for (let round = 0; round < RUNS + WARMUP; round++) {
    let remaining = RECEIVERS;
    const all = new Promise<void>((resolve) => arm(round, () => --remaining === 0 && resolve()));
    const start = process.hrtime.bigint();
    await send(round);
    await all;
    if (round >= WARMUP) samples.push(Number(process.hrtime.bigint() - start) / 1_000);
  }
  return samples;
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-revocation-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const raw = () => new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    // Baseline 1: raw PUBLISH → message on 16 subscribers.
    const publisher = raw();
    const subscribers = Array.from({ length: RECEIVERS }, raw);
    cleanup.push(async () => [publisher, ...subscribers].forEach((c) => c.disconnect()));
    await Promise.all(subscribers.map((s) => s.subscribe(`${USER}:raw`)));
    let onMessage: (() => void) | undefined;
    subscribers.forEach((s) => s.on('message', () => onMessage?.()));
    const rawPublish = await fanOut((round) => publisher.publish(`${USER}:raw`, `m${round}`), (_r, done) => (onMessage = done));

    // Context: raw XADD → XREAD BLOCK on 16 readers.
    const streamKey = `${USER}:{${USER}}:raw-stream`;
    const readers = Array.from({ length: RECEIVERS }, raw);
    cleanup.push(async () => readers.forEach((c) => c.disconnect()));
    let onEntry: (() => void) | undefined;
    let stopReaders = false;
    const lastIds = readers.map(() => '$');
    readers.forEach((reader, i) => {
      void (async () => {
        while (!stopReaders) {
          const reply = (await reader.xread('BLOCK', 1000, 'STREAMS', streamKey, lastIds[i]!).catch(() => null)) as [string, [string, string[]][]][] | null;
          const entries = reply?.[0]?.[1] ?? [];
          if (entries.length > 0) {
            lastIds[i] = entries[entries.length - 1]![0];
            onEntry?.();
          }
        }
      })();
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // let every reader block once
    const rawStream = await fanOut(() => publisher.xadd(streamKey, '*', 'f', 'v'), (_r, done) => (onEntry = done));
    stopReaders = true;

    // Ours: a revocation accepted on instance A until isRevoked is true on all 16 (A included).
    const instances: { redis: KccRedis; revocations: Revocations }[] = [];
    for (let i = 0; i < RECEIVERS; i++) {
      const redis = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} }, ['subscriber', 'reader']);
      instances.push({ redis, revocations: await Revocations.start(redis) });
    }
    cleanup.push(async () => Promise.all(instances.map(async ({ redis, revocations }) => {
      await revocations.close();
      await redis.close();
    })));
    let watching: { sid: string; done: () => void } | undefined;
    const seen = new Set<number>();
    instances.forEach(({ revocations }, i) =>
      revocations.on('applied', (event) => {
        if (watching && event.kind === 'session' && event.sid === watching.sid && !seen.has(i)) {
          seen.add(i);
          watching.done();
        }
      }),
    );
    const propagation = await fanOut(
      (round) => instances[0]!.revocations.revokeSession(`bench-${round}`),
      (round, done) => {
        seen.clear();
        watching = { sid: `bench-${round}`, done };
      },
    );

    // isRevoked from memory on a populated index vs a GET round trip (one in flight).
    const checker = instances[1]!.revocations;
    for (let i = 0; i < 100_000; i++) checker.index.revokeSession(`populated-${i}`, Date.now() + 3_600_000);
    // Claims as an app has them: taken from an already verified token (no allocation per check).
    const probes = Array.from({ length: 1024 }, (_, i) => ({ sid: i % 2 ? `populated-${i}` : randomUUID(), sub: `user-${i}`, iat: Math.floor(Date.now() / 1000) }));
    const isRevokedRate = ratePerSecondSync(1_000, (i) => checker.isRevoked(probes[i & 1023]!) === 'revoked');
    await publisher.set(`${USER}:get-probe`, '1');
    const getRate = await ratePerSecond(1_000, () => publisher.get(`${USER}:get-probe`));

    // After 2,000 warm-up tokens, 10,000 distinct valid logout tokens handed concurrently to one instance's back-channel handler,
    // until all are revoked on all 16 instances; baseline: jose alone verifying the same tokens, 16 in flight.
    const issuer = 'https://sso.example/realms/bench';
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench-realm', alg: 'RS256', use: 'sig' };
    const realmKeys = createLocalJWKSet({ keys: [publicJwk] });
    const nowS = Math.floor(Date.now() / 1000);
    const WARM = 2_000;
    const all = await Promise.all(Array.from({ length: WARM + 10_000 }, (_, i) =>
      new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: `bulk-${i}` })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench-realm', typ: 'logout+jwt' })
        .setIssuer(issuer).setAudience('bench').setSubject(`user-${i}`).setIssuedAt(nowS).setExpirationTime(nowS + 120).setJti(randomUUID())
        .sign(privateKey)));
    const warmup = all.slice(0, WARM);
    const tokens = all.slice(WARM);
    const verifyAll = async (batch: readonly string[]) => {
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < batch.length) await jwtVerify(batch[next++]!, realmKeys, { issuer, audience: 'bench', algorithms: ['RS256'] });
      }));
    };
    await verifyAll(warmup);
    const verifyStart = performance.now();
    await verifyAll(tokens);
    const joseVerifyRate = tokens.length / ((performance.now() - verifyStart) / 1000);
    const handler = createBackchannelLogoutHandler({ issuer, clientId: 'bench', sink: instances[0]!.revocations, jwks: realmKeys });
    const deliver = (batch: readonly string[]) => Promise.all(batch.map((token) => handler({ contentType: 'application/x-www-form-urlencoded', body: `logout_token=${token}` })));
    const visibleEverywhere = async (extra: number) => {
      const target = instances.map(({ revocations }) => revocations.index.sessionCount + extra);
      return () => instances.every(({ revocations }, i) => revocations.index.sessionCount >= target[i]!);
    };
    const warmDone = await visibleEverywhere(WARM);
    await deliver(warmup);
    while (!warmDone()) await new Promise((resolve) => setImmediate(resolve));
    const done = await visibleEverywhere(tokens.length);
    const bulkStart = performance.now();
    const responses = await deliver(tokens);
    while (!done()) await new Promise((resolve) => setImmediate(resolve));
    const bulkRate = tokens.length / ((performance.now() - bulkStart) / 1000);
    const refused = responses.filter((r) => r.status !== 200).length;
    if (refused > 0) throw new Error(`bulk logout: ${refused} of ${tokens.length} tokens were refused`);

    // Heap growth for 1,000,000 revoked sessions (Keycloak session ids are UUIDs).
    const gc = (globalThis as { gc?: () => void }).gc;
    // The sid strings arrive with the messages (JSON-decoded), so they count: make them the same way,
    // inside the measurement. (crypto.randomUUID() strings weigh ~6x more and would mislead.)
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const index = new RevocationIndex();
    const expires = Date.now() + 36_000_000;
    for (let i = 0; i < 1_000_000; i++) index.revokeSession((JSON.parse(`"${randomUUID()}"`) as string), expires);
    gc?.();
    const memoryMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;

    const prop = summarize(propagation);
    const pub = summarize(rawPublish);
    const stream = summarize(rawStream);
    const metrics: Metric[] = [
      { name: 'propagation_16.p50', unit: 'us', value: prop.p50, baseline: { name: 'raw_publish_16.p50', value: pub.p50 }, goal: 'ratio ≤ 1.3' },
      { name: 'propagation_16.p99', unit: 'us', value: prop.p99, baseline: { name: 'raw_publish_16.p99', value: pub.p99 }, goal: 'ratio ≤ 1.5' },
      { name: 'raw_stream_16.p50', unit: 'us', value: stream.p50, baseline: { name: 'raw_publish_16.p50', value: pub.p50 }, goal: 'context' },
      { name: 'is_revoked_per_s', unit: 'per_s', value: isRevokedRate, baseline: { name: 'redis_get_per_s', value: getRate }, goal: 'ratio ≥ 1000' },
      { name: 'bulk_logout_per_s', unit: 'per_s', value: bulkRate, baseline: { name: 'jose_verify_concurrent_per_s', value: joseVerifyRate }, goal: 'ratio ≥ 0.4' },
      { name: 'memory_1m_revocations_mb', unit: 'MB', value: memoryMb, goal: gc ? '≤ 150' : '≤ 150 (run with --expose-gc for an exact figure)' },
    ];
    report('revocation', metrics, { receivers: RECEIVERS, runs: prop.runs, gcExposed: gc !== undefined, indexSize: index.sessionCount });
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
