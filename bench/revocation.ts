import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type JWK, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { KccRedis, RedisReplayGuard, Revocations, createBackchannelLogoutHandler } from '@kcc-redis/client';
import { namespacedKey } from '@kcc-redis/client/contract';
import { RevocationIndex } from '../client/src/revocation/revocation-index.js';
import { REVOCATION_KEYS } from '../client/src/revocation/revocation-keys.js';
import { LocalRedis } from '../local/local-redis.js';
import { InstancePool } from './lib/instance-pool.js';
import { type Metric, report } from './lib/report.js';
import { ratePerSecond, ratePerSecondSync, summarize } from './lib/stats.js';

const USER = 'bench-prod';
const RECEIVERS = 16;
const RUNS = 300;
const WARMUP = 30;
const BULK_WARMUP = 2_000;
const BULK = 10_000;

/** Times rounds of `send` until `arrived(round)` resolves; microseconds per round, after warm-up. */
async function rounds(send: (round: number) => Promise<unknown>, arrived: (round: number) => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let round = 0; round < RUNS + WARMUP; round++) {
    const all = arrived(round);
    const start = process.hrtime.bigint();
    await send(round);
    await all;
    if (round >= WARMUP) samples.push(Number(process.hrtime.bigint() - start) / 1_000);
  }
  return samples;
}

/**
 * Every instance and every baseline subscriber runs in its own process, as app instances do: with
 * sixteen of them in one process, their decoding and GC would share one thread and measure the
 * benchmark's packing, not the design.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-revocation-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const host = { url: server.url, host: server.host, port: server.port, ca: server.ca, username: USER, password, channel: `${USER}:raw` };
  const raw = () => new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true });
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    // Baseline: raw PUBLISH → message on 16 subscribers (16 processes).
    const publisher = raw();
    cleanup.push(async () => publisher.disconnect());
    const subscribers = await InstancePool.start(RECEIVERS, 'raw', host);
    const rawPublish = await rounds((round) => publisher.publish(host.channel, `m${round}`), (round) => subscribers.allSee(`m${round}`));
    await subscribers.stop();

    // Context: raw XADD → XREAD BLOCK on 16 readers (in this process).
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
    const rawStream = await rounds(
      () => publisher.xadd(streamKey, '*', 'f', 'v'),
      () => new Promise<void>((resolve) => {
        let remaining = RECEIVERS;
        onEntry = () => --remaining === 0 && resolve();
      }),
    );
    stopReaders = true;

    // Ours: a revocation accepted on instance A until isRevoked is true on all 16 (A + 15 processes).
    const redis = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} }, ['subscriber']);
    const a = await Revocations.start(redis);
    cleanup.push(async () => {
      await a.close();
      await redis.close();
    });
    const others = await InstancePool.start(RECEIVERS - 1, 'kcc', host);
    cleanup.push(() => others.stop());
    const propagation = await rounds(
      async (round) => {
        await a.revokeSession(`watch-${round}`);
        if (a.check({ sid: `watch-${round}` }) !== 'revoked') throw new Error('not applied locally');
      },
      (round) => others.allSee(`watch-${round}`),
    );

    // isRevoked from memory on a populated index vs a GET round trip (one in flight).
    // 100,000 revoked sessions in the stored state, loaded by a fresh instance at start.
    const sessionsKey = namespacedKey(`${USER}:`, REVOCATION_KEYS.sessions);
    for (let i = 0; i < 100_000; i += 1_000) {
      const expiry = Date.now() + 3_600_000;
      await publisher.zadd(sessionsKey, ...Array.from({ length: 1_000 }, (_, j) => [expiry, `populated-${i + j}`]).flat());
    }
    const populated = await Revocations.start(redis);
    cleanup.push(() => populated.close());
    // Claims as an app has them: taken from an already verified token (no allocation per check).
    const probes = Array.from({ length: 1024 }, (_, i) => ({ sid: i % 2 ? `populated-${i}` : randomUUID(), sub: `user-${i}`, iat: Math.floor(Date.now() / 1000) }));
    const isRevokedRate = ratePerSecondSync(1_000, (i) => populated.check(probes[i & 1023]!) === 'revoked');
    await publisher.set(`${USER}:get-probe`, '1');
    const getRate = await ratePerSecond(1_000, () => publisher.get(`${USER}:get-probe`));

    // After a warm-up, 10,000 distinct valid logout tokens handed concurrently to A's back-channel
    // handler, until all are revoked on all 16 instances; baseline: jose alone, same tokens, 16 in flight.
    const issuer = 'https://sso.example/realms/bench';
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench-realm', alg: 'RS256', use: 'sig' };
    const realmKeys = createLocalJWKSet({ keys: [publicJwk] });
    const nowS = Math.floor(Date.now() / 1000);
    const all = await Promise.all(Array.from({ length: BULK_WARMUP + BULK }, (_, i) =>
      new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: `bulk-${i}` })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench-realm', typ: 'logout+jwt' })
        .setIssuer(issuer).setAudience('bench').setSubject(`user-${i}`).setIssuedAt(nowS).setExpirationTime(nowS + 120).setJti(randomUUID())
        .sign(privateKey)));
    const warmup = all.slice(0, BULK_WARMUP);
    const tokens = all.slice(BULK_WARMUP);
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
    const handler = createBackchannelLogoutHandler({ issuer, clientId: 'bench', sink: a, replayGuard: new RedisReplayGuard(redis), jwks: realmKeys });
    const deliver = async (batch: readonly string[]) => {
      const responses = await Promise.all(batch.map((token) => handler({ contentType: 'application/x-www-form-urlencoded', body: `logout_token=${token}` })));
      const refused = responses.filter((r) => r.status !== 200).length;
      if (refused > 0) throw new Error(`bulk logout: ${refused} of ${batch.length} tokens were refused`);
    };
    const before = RUNS + WARMUP; // the watched sessions of the propagation rounds
    await deliver(warmup);
    await others.allReach(before + BULK_WARMUP);
    const bulkStart = performance.now();
    await deliver(tokens);
    await others.allReach(before + BULK_WARMUP + BULK);
    const bulkRate = tokens.length / ((performance.now() - bulkStart) / 1000);

    // Heap growth for 1,000,000 revoked sessions. The sid strings arrive JSON-decoded with the
    // messages, so they count: make them the same way (crypto.randomUUID() strings weigh ~6x more).
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const index = new RevocationIndex();
    const expires = Date.now() + 36_000_000;
    for (let i = 0; i < 1_000_000; i++) index.revokeSession(JSON.parse(`"${randomUUID()}"`) as string, expires);
    gc?.();
    const memoryMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;

    const prop = summarize(propagation);
    const pub = summarize(rawPublish);
    const stream = summarize(rawStream);
    const metrics: Metric[] = [
      { name: 'propagation_16.p50', unit: 'us', value: prop.p50, baseline: { name: 'raw_publish_16.p50', value: pub.p50 }, goal: 'ratio ≤ 1.3' },
      { name: 'propagation_16.p99', unit: 'us', value: prop.p99, baseline: { name: 'raw_publish_16.p99', value: pub.p99 }, goal: 'ratio ≤ 1.5' },
      { name: 'raw_stream_16.p50', unit: 'us', value: stream.p50, baseline: { name: 'raw_publish_16.p50', value: pub.p50 }, goal: 'context (readers in one process)' },
      { name: 'is_revoked_per_s', unit: 'per_s', value: isRevokedRate, baseline: { name: 'redis_get_per_s', value: getRate }, goal: 'ratio ≥ 1000' },
      { name: 'bulk_logout_per_s', unit: 'per_s', value: bulkRate, baseline: { name: 'jose_verify_concurrent_per_s', value: joseVerifyRate }, goal: 'ratio ≥ 0.4' },
      { name: 'memory_1m_revocations_mb', unit: 'MB', value: memoryMb, goal: gc ? '≤ 150' : '≤ 150 (run with --expose-gc for an exact figure)' },
    ];
    report('revocation', metrics, { receivers: RECEIVERS, processes: 'one per instance and per baseline subscriber', runs: prop.runs, gcExposed: gc !== undefined, indexSize: index.sessionCount });
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
