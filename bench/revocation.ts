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
import { SNAPSHOT_CHUNK } from '../client/src/revocation/revocation-snapshot.js';
import { LocalRedis } from '../local/local-redis.js';
import { checkRates } from './lib/check-rates.js';
import { InstancePool } from './lib/instance-pool.js';
import { revocationMessage } from './lib/revocation-message.js';
import { type Metric, paired, report } from './lib/report.js';
import { FRESH_PROCESSES_WARMUP_MS, ROUNDS, alternatingSamples, interleave, median, rotatingSamples, warmUp } from './lib/rounds.js';
import { summarize } from './lib/stats.js';

const USER = 'bench-prod';
/**
 * Propagation samples of each side per round (alternating sample by sample), after the fresh
 * processes' warm-up ({@link FRESH_PROCESSES_WARMUP_MS}). 2,000: 20 samples of a round are then
 * slower than its p99. More does not steady the tail: with 8,000 (the 80th slowest), four runs read
 * `propagation_16.p99` 1.53, 1.61, 1.83 and 1.45 (2026-12-05, 15:45–16:42 UTC; rounds 0.93–2.37),
 * where four runs with 2,000 read 1.74, 1.81, 1.85 and 1.55 (14:29–15:03), and each run took 4.5
 * minutes longer. With 1,000 and 500, pairs differed by 0.20 and 0.18 (docs/benchmarks-history.md).
 */
const SAMPLES = 2_000;
/** Samples of each side per round for the context figures beside `propagation_16` (their p50s), and unmeasured before the first round (fresh processes). */
const CONTEXT_SAMPLES = 400;
const CONTEXT_WARMUP = 500;
/** Logout tokens per round of the bulk measurement, and unmeasured before the first round. */
const BULK = 3_000;
const BULK_WARMUP = 1_000;
/** Revoked sessions in the populated index the checks run on. */
const POPULATED = 100_000;
const MILLION = 1_000_000;
/** Loads of the million per side and round (`ready_1m`). */
const READY_1M_SAMPLES = 2;

interface Receivers {
  readonly ours: InstancePool;
  readonly raw: InstancePool;
}

/**
 * Every receiving instance and every baseline subscriber runs outside the measuring process, as app
 * instances do. 16 instances: one process each (A, the writer, is the 16th: it applies its own
 * revocation at once). 64 instances: 8 processes × 8 (A + 63 others; the 64 baseline subscribers
 * laid out 8 × 8). Ours and the baseline alternate sample by sample within each round, in rounds
 * (docs/benchmarks.md, "Interleaved rounds"): each ratio is the median of the per-round ratios.
 */
export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-bench-revocation-'));
  const server = await LocalRedis.start({ dir, appEnvs: [{ app: 'bench', env: 'prod' }], persistence: 'none' });
  const password = server.users.get(USER)!.password;
  const host = { url: server.url, host: server.host, port: server.port, ca: server.ca, username: USER, password, channel: `${USER}:raw` };
  const connection = { url: server.url, tls: { ca: server.ca }, username: USER, password, env: {} };
  const rawClient = (lazyConnect = false) => new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password, protocol: 2, disableClientInfo: true, lazyConnect });
  const cleanup: (() => Promise<unknown>)[] = [];
  const metrics: Metric[] = [];
  try {
    const publisher = rawClient();
    cleanup.push(async () => publisher.disconnect());
    const redis = await KccRedis.connect(connection, ['subscriber']);
    const a = await Revocations.start(redis);
    cleanup.push(async () => {
      await a.close();
      await redis.close();
    });
    let watched = 0;

    /** Rounds of propagation: A revokes until every other instance sees it, against PUBLISH until every subscriber sees the message. */
    const propagation = async (receivers: Receivers) => {
      const p50 = { ours: [] as number[], baseline: [] as number[] };
      const p99 = { ours: [] as number[], baseline: [] as number[] };
      const ours = async () => {
        const sid = `watch-${watched++}`;
        const all = receivers.ours.allSee(sid);
        await a.revokeSession(sid);
        if (a.check({ sid }) !== 'revoked') throw new Error('not applied locally');
        await all;
      };
      const raw = async () => {
        const id = `m${watched++}`;
        const all = receivers.raw.allSee(id);
        await publisher.publish(host.channel, id);
        await all;
      };
      await warmUp(FRESH_PROCESSES_WARMUP_MS, [ours, raw]);
      for (let round = 0; round < ROUNDS; round++) {
        const [oursSamples, rawSamples] = await alternatingSamples(SAMPLES, 2, ours, raw);
        const [o, b] = [summarize(oursSamples), summarize(rawSamples)];
        p50.ours.push(o.p50);
        p50.baseline.push(b.p50);
        p99.ours.push(o.p99);
        p99.baseline.push(b.p99);
      }
      return { p50, p99 };
    };

    // 16 instances, one per process.
    let receivers: Receivers = { ours: await InstancePool.start(15, 'kcc', host), raw: await InstancePool.start(16, 'raw', host) };
    cleanup.push(() => receivers.ours.stop(), () => receivers.raw.stop());
    const p16 = await propagation(receivers);
    metrics.push(
      paired('propagation_16.p50', 'us', p16.p50, 'raw_publish_16.p50', { on: 'ratio', op: '<=', target: 1.15 }),
      paired('propagation_16.p99', 'us', p16.p99, 'raw_publish_16.p99', { on: 'ratio', op: '<=', target: 1.3 }),
    );

    // Bulk logout: per round BULK fresh logout tokens (distinct sids and jtis) handed concurrently to
    // A's back-channel handler until all are revoked on all 16 instances; baseline: jose verifying the
    // same tokens, 16 in flight. Tokens are signed up front (unmeasured).
    const issuer = 'https://sso.example/realms/bench';
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench-realm', alg: 'RS256', use: 'sig' };
    const realmKeys = createLocalJWKSet({ keys: [publicJwk] });
    const nowS = Math.floor(Date.now() / 1000);
    const sign = (count: number, offset: number) => Promise.all(Array.from({ length: count }, (_, i) =>
      new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: `bulk-${offset + i}` })
        .setProtectedHeader({ alg: 'RS256', kid: 'bench-realm', typ: 'logout+jwt' })
        .setIssuer(issuer).setAudience('bench').setSubject(`user-${offset + i}`).setIssuedAt(nowS).setExpirationTime(nowS + 600).setJti(randomUUID())
        .sign(privateKey)));
    const warmupTokens = await sign(BULK_WARMUP, 0);
    const roundTokens: string[][] = [];
    for (let round = 0; round < ROUNDS; round++) roundTokens.push(await sign(BULK, BULK_WARMUP + round * BULK));
    const verifyAll = async (batch: readonly string[]) => {
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < batch.length) await jwtVerify(batch[next++]!, realmKeys, { issuer, audience: 'bench', algorithms: ['RS256'] });
      }));
    };
    const handler = createBackchannelLogoutHandler({ issuer, clientId: 'bench', sink: a, replayGuard: new RedisReplayGuard(redis), jwks: realmKeys });
    const deliver = async (batch: readonly string[]) => {
      const responses = await Promise.all(batch.map((token) => handler({ contentType: 'application/x-www-form-urlencoded', body: `logout_token=${token}` })));
      const refused = responses.filter((r) => r.status !== 200).length;
      if (refused > 0) throw new Error(`bulk logout: ${refused} of ${batch.length} tokens were refused`);
      await receivers.ours.allReach(a.stats.revokedSessions);
    };
    await verifyAll(warmupTokens);
    await deliver(warmupTokens);
    const bulk = await interleave(
      ROUNDS,
      async (round) => {
        const start = performance.now();
        await deliver(roundTokens[round]!);
        return BULK / ((performance.now() - start) / 1000);
      },
      async (round) => {
        const start = performance.now();
        await verifyAll(roundTokens[round]!);
        return BULK / ((performance.now() - start) / 1000);
      },
    );
    metrics.push(paired('bulk_logout_per_s', 'per_s', bulk, 'jose_verify_concurrent_per_s', { on: 'ratio', op: '>=', target: 0.7 }));
    await receivers.ours.stop();
    await receivers.raw.stop();

    // 64 instances: 8 processes × 8 (A + 63 others), baseline 8 × 8 subscribers.
    receivers = { ours: await InstancePool.start([8, 8, 8, 8, 8, 8, 8, 7], 'kcc', host), raw: await InstancePool.start(8, 'raw', host, 8) };
    const p64 = await propagation(receivers);
    metrics.push(
      paired('propagation_64.p50', 'us', p64.p50, 'raw_publish_64.p50', { on: 'ratio', op: '<=', target: 1.2 }),
      paired('propagation_64.p99', 'us', p64.p99, 'raw_publish_64.p99', undefined, 'context'),
    );
    await receivers.ours.stop();
    await receivers.raw.stop();
    // A is done. Open, it would check every minute that Redis still holds what it wrote (up to 10,000
    // revocations) and write them again once the state is replaced below, in the middle of ready_1m.
    await a.close();
    // With A closed, nothing in this process applies the raw messages of the context figures.
    metrics.push(...await messageShares(publisher, host, redis.channel('revocations'), () => watched++));

    // Checks from memory on an index of 100,000 revoked sessions (loaded by a fresh instance from the
    // stored state), against a bare Set.has on a Set of the same ids (as decoded from JSON), same probes.
    const sessionsKey = namespacedKey(`${USER}:`, REVOCATION_KEYS.sessions);
    // Only these: the propagation and bulk rounds above revoked some 56,000 more (the bulk logouts
    // up to their time, in a set of their own).
    const upToKey = namespacedKey(`${USER}:`, REVOCATION_KEYS.sessionsUpTo);
    await publisher.del(sessionsKey, upToKey);
    const populatedIds: string[] = [];
    const expiry = Date.now() + 3_600_000;
    for (let i = 0; i < POPULATED; i += 1_000) {
      const ids = Array.from({ length: 1_000 }, () => randomUUID());
      populatedIds.push(...ids);
      await publisher.zadd(sessionsKey, ...ids.flatMap((id) => [expiry, id]));
    }
    // Claims as an app has them: 1,024 live sessions coming back request after request (half
    // revoked), and 65,536 distinct ones (beyond the remembered answers). Each round in a fresh
    // process (check-rates.ts), each side timed by a loop of its own.
    const probes = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? populatedIds[(i * 7919) % POPULATED]! : randomUUID()));
    const checks = await checkRates(
      { connection, ids: populatedIds.map((id) => JSON.stringify(id)), repeated: probes(1_024), distinct: probes(65_536), populated: POPULATED, ms: 300, warmupMs: 100 },
      ROUNDS,
    );
    metrics.push(
      paired('is_revoked_per_s', 'per_s', checks.repeated, 'set_has_per_s', { on: 'ratio', op: '>=', target: 0.25 }),
      paired('is_revoked_distinct_per_s', 'per_s', checks.distinct, 'set_has_distinct_per_s', undefined, 'context: 65,536 distinct sids'),
    );

    // Memory for 1,000,000 revoked sessions: growth of heapUsed + arrayBuffers (the table's typed
    // arrays live outside the heap). The sid strings arrive JSON-decoded with the messages: made the
    // same way, and garbage once digested.
    // An ArrayBuffer's memory is returned after the collection that finds it dead, not during it:
    // collect, let the backing stores go, collect again.
    const gc = (globalThis as { gc?: () => void }).gc;
    const used = async () => {
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const memory: number[] = [];
    let index: RevocationIndex | undefined; // dropped after each round, so the next round's "before" does not hold it
    for (let round = 0; round < 3; round++) {
      const before = await used();
      index = new RevocationIndex();
      const expires = Date.now() + 36_000_000;
      for (let i = 0; i < MILLION; i++) index.revokeSession(JSON.parse(`"${randomUUID()}"`) as string, expires);
      memory.push(((await used()) - before) / 1024 / 1024);
      if (index.sessionCount !== MILLION) throw new Error('index lost sessions');
      index = undefined;
    }
    metrics.push({ name: 'memory_1m_revocations_mb', unit: 'MB', value: median(memory), goal: { on: 'value', op: '<=', target: 32 }, note: gc ? undefined : '(run with --expose-gc for an exact figure)' });

    // A new instance on 1,000,000 stored revocations: KccRedis.connect + Revocations.start until
    // check() is current; baseline: a raw ioredis connect and the same stored sessions read with plain
    // pipelined commands (ZCARD, then every ZRANGE chunk in one pipeline). Closing is not timed.
    await publisher.del(sessionsKey, upToKey);
    const far = Date.now() + 3_600_000;
    for (let i = 0; i < MILLION; i += 1_000) {
      await publisher.zadd(sessionsKey, ...Array.from({ length: 1_000 }, (_, j) => [far - (i + j), randomUUID()]).flat());
    }
    const startInstance = async () => {
      const instanceRedis = await KccRedis.connect(connection, ['subscriber']);
      const instance = await Revocations.start(instanceRedis);
      if (instance.stats.revokedSessions < MILLION) throw new Error(`loaded ${instance.stats.revokedSessions} of ${MILLION}`);
      return async () => {
        await instance.close();
        await instanceRedis.close();
      };
    };
    const rawRead = async () => {
      const client = rawClient(true);
      await client.connect();
      const count = await client.zcard(sessionsKey);
      const pipeline = client.pipeline();
      for (let s = 0; s < count; s += SNAPSHOT_CHUNK) pipeline.zrange(sessionsKey, s, String(s + SNAPSHOT_CHUNK - 1), 'REV', 'WITHSCORES');
      const replies = (await pipeline.exec()) ?? [];
      let read = 0;
      for (const [error, flat] of replies) {
        if (error) throw error;
        read += (flat as string[]).length / 2;
      }
      if (read < MILLION) throw new Error(`read ${read} of ${MILLION}`);
      return async () => client.disconnect();
    };
    const ready = { ours: [] as number[], baseline: [] as number[] };
    await rawRead().then((close) => close()); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      // Two of each per round (one left consecutive runs 0.18 apart).
      const [ours, raw] = await alternatingSamples(READY_1M_SAMPLES, 0, startInstance, rawRead);
      ready.ours.push(median(ours));
      ready.baseline.push(median(raw));
    }
    metrics.push(
      paired('ready_1m.p50', 'us', ready, 'raw_read_1m.p50', { on: 'ratio', op: '<=', target: 1.5 }),
      { name: 'ready_1m_ms.p50', unit: 'ms', value: median(ready.ours) / 1000, goal: { on: 'value', op: '<=', target: 3000 } },
    );

    report('revocation', metrics, {
      rounds: ROUNDS,
      samplesPerRound: { propagation: SAMPLES, bulk_logout: BULK, ready_1m: READY_1M_SAMPLES },
      layout: { propagation_16: 'A + 15 processes × 1 vs 16 × 1 subscribers', propagation_64: 'A + 8 processes (7 × 8 + 1 × 7) vs 8 × 8 subscribers' },
      populated: POPULATED,
      gcExposed: gc !== undefined,
    });
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Context beside `propagation_16`, in rounds of their own after it, on fresh processes: three sides
 * alternating sample by sample against one baseline, so that their ratios share its samples. The
 * baseline: a raw `PUBLISH` of a short id to 16 raw subscribers (as `raw_publish_16`). The sides: the
 * message an instance publishes for one revocation (`revocationMessage`, built before it is timed)
 * by raw `PUBLISH` on the revocation channel, applied by 16 instances (`raw_publish_revocation_16`:
 * the receivers' share, without the write script), and the same message on a channel of its own to
 * 16 raw ioredis subscribers that `JSON.parse` it (`raw_publish_revocation_json_16`: the message's
 * share, with no client code). Each pool is 16 processes of one instance or subscriber.
 */
async function messageShares(publisher: Redis, host: Record<string, unknown> & { channel: string }, revocationChannel: string, nextId: () => number): Promise<Metric[]> {
  const jsonChannel = `${USER}:revocation-json`;
  // One pool after the other: 48 processes starting at once on two cores stalled some for over 10 s,
  // and their subscribers' socket timeouts went off (a warning and a reconnect before measuring).
  const pools: InstancePool[] = [];
  const started = async (pool: Promise<InstancePool>) => {
    pools.push(await pool);
    return pools.at(-1)!;
  };
  try {
    const instances = await started(InstancePool.start(16, 'kcc', host));
    const parsers = await started(InstancePool.start(16, 'raw-json', { ...host, jsonChannel }));
    const raw = await started(InstancePool.start(16, 'raw', host));
    const rawMessage = (pool: InstancePool, channel: string) => {
      const queue: [string, string][] = [];
      return {
        prepare: (count: number) => queue.push(...Array.from({ length: count }, () => {
          const sid = `watch-${nextId()}`;
          return [sid, revocationMessage(sid)] as [string, string];
        })),
        send: async () => {
          const [sid, message] = queue.shift()!;
          const all = pool.allSee(sid);
          await publisher.publish(channel, message);
          await all;
        },
      };
    };
    const applied = rawMessage(instances, revocationChannel);
    const parsed = rawMessage(parsers, jsonChannel);
    const rawShort = async () => {
      const id = `m${nextId()}`;
      const all = raw.allSee(id);
      await publisher.publish(host.channel, id);
      await all;
    };
    const figures = { applied: [] as number[], parsed: [] as number[], short: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const warmup = round === 0 ? CONTEXT_WARMUP : 2;
      applied.prepare(warmup + CONTEXT_SAMPLES);
      parsed.prepare(warmup + CONTEXT_SAMPLES);
      const [a, p, s] = (await rotatingSamples(CONTEXT_SAMPLES, warmup, [applied.send, parsed.send, rawShort])).map(summarize);
      figures.applied.push(a!.p50);
      figures.parsed.push(p!.p50);
      figures.short.push(s!.p50);
    }
    return [
      paired('raw_publish_revocation_16.p50', 'us', { ours: figures.applied, baseline: figures.short }, 'raw_publish_16_context.p50', undefined, "context: an instance's message for one revocation by raw PUBLISH, applied by 16 instances (the receivers' share, no write script)"),
      paired('raw_publish_revocation_json_16.p50', 'us', { ours: figures.parsed, baseline: figures.short }, 'raw_publish_16_context.p50', undefined, "context: the same message to 16 raw subscribers that JSON.parse it (the message's share, no client code), same rounds"),
    ];
  } finally {
    await Promise.all(pools.map((pool) => pool.stop()));
  }
}
