/**
 * OpenTelemetry metrics of a connection, its key ring and its revocations, recorded by the real
 * OpenTelemetry SDK (`@opentelemetry/sdk-metrics`, in memory) against a real redis-server with the
 * stack's ACL users: the instruments as docs/metrics.md lists them, and each one moving when what
 * it counts happens (revocations applied, written, refused and dropped; staleness through a
 * partition; rotations, generations, a refused ring and its restoration; reconnects; heartbeats).
 */
import { inspect } from 'node:util';
import { metrics } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { KccMetrics, KccRedis, KeyRing, Revocations, type KccConnectionOptions, type KccLogger, type RedisCredentials } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { ALL_INSTRUMENTS, ATTRIBUTES } from '../../../client/src/metrics/instruments.js';
import { REVOCATION_BATCH_VERSION, REVOCATION_EVENT } from '../../../client/src/revocation/revocation-event.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { untilAsync } from '../../support/events.js';
import { InMemoryMetrics, pointValue } from '../../support/metric-reader.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const KEK = 'metrics-test-key-encryption-key-0123456789abcdefghijklmnopqrstuv';
const APP_ENVS = Array.from({ length: 12 }, (_, i) => ({ app: `mx${i}`, env: 'dev' }));
const server = useTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
let next = 0;
const cleanup: (() => Promise<unknown> | unknown)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Refusals and reconnects are expected here; their warnings would only clutter the output. */
const QUIET: KccLogger = { warn: () => {}, info: () => {} };

/** A fresh app-env's user, and its app-env attribute value. */
function namespace(): { user: string; appEnv: string } {
  const { app, env } = APP_ENVS[next++]!;
  return { user: `${app}-${env}`, appEnv: `${app}-${env}` };
}

interface Instance {
  readonly redis: KccRedis;
  readonly keyRing: KeyRing;
  readonly revocations: Revocations;
  readonly sdk: InMemoryMetrics;
  readonly metrics: KccMetrics;
}

/** One app instance: a connection, its ring and revocations, reported to its own in-memory SDK. */
async function instance(user: string, extra: KccConnectionOptions = {}, maxStalenessMs = 30_000): Promise<Instance> {
  const redis = await KccRedis.connect(kccOptions(server, user, { heartbeatIntervalMs: 100, logger: QUIET, ...extra }));
  cleanup.push(() => redis.close());
  const keyRing = await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', refreshIntervalMs: 50, lockTtlMs: 2_000 });
  cleanup.push(() => keyRing.close());
  const revocations = await Revocations.start(redis, { maxStalenessMs });
  cleanup.push(() => revocations.close());
  const sdk = new InMemoryMetrics();
  cleanup.push(() => sdk.shutdown());
  const kccMetrics = await KccMetrics.start({ redis, keyRing, revocations }, { meterProvider: sdk.meterProvider });
  cleanup.push(() => kccMetrics.close());
  return { redis, keyRing, revocations, sdk, metrics: kccMetrics };
}

/** Allowed values of each attribute: anything else (a sid, a sub, a kid) would be unbounded. */
const ALLOWED_VALUES: Record<string, readonly string[]> = {
  [ATTRIBUTES.revocationSource]: ['api', 'bus', 'log', 'snapshot'],
  [ATTRIBUTES.dropReason]: ['oversized', 'malformed', 'invalid'],
  [ATTRIBUTES.refusalReason]: ['malformed', 'unknown-kek', 'bad-authentication', 'newer-format', 'invalid', 'undecryptable', 'rollback', 'fork', 'compromised-kid', 'kek-downgrade', 'not-yet-active'],
  [ATTRIBUTES.rotationMode]: ['initial', 'scheduled', 'immediate'],
  [ATTRIBUTES.heartbeatOutcome]: ['written', 'failed'],
  [ATTRIBUTES.logPollOutcome]: ['confirmed', 'read'],
};

/** A connection alone (no key ring, no revocations, no heartbeat) and an in-memory SDK, both closed after the test. */
async function connectionOnly(): Promise<{ redis: KccRedis; sdk: InMemoryMetrics }> {
  const { user } = namespace();
  const redis = await KccRedis.connect(kccOptions(server, user, { heartbeat: false, logger: QUIET }));
  cleanup.push(() => redis.close());
  const sdk = new InMemoryMetrics();
  cleanup.push(() => sdk.shutdown());
  return { redis, sdk };
}

/** A connection with `options` (no heartbeat) and its metrics in an in-memory SDK, all closed after the test. */
async function connectionWithMetrics(options: KccConnectionOptions): Promise<{ redis: KccRedis; sdk: InMemoryMetrics }> {
  const redis = await KccRedis.connect({ tls: { ca: server.ca }, heartbeat: false, logger: QUIET, env: {}, ...options });
  cleanup.push(() => redis.close());
  const sdk = new InMemoryMetrics();
  cleanup.push(() => sdk.shutdown());
  const kccMetrics = await KccMetrics.start({ redis }, { meterProvider: sdk.meterProvider });
  cleanup.push(() => kccMetrics.close());
  return { redis, sdk };
}

describe('the instruments as recorded by the OpenTelemetry SDK', () => {
  it('every instrument of the table: its kind, unit, value type and description; every point attributed with the app-env and only known values', async () => {
    const { user, appEnv } = namespace();
    const a = await instance(user);
    await a.revocations.revokeSession('a-session-id');
    await a.revocations.revokeSubject('a-subject-id', Math.floor(Date.now() / 1000));
    const collected = await a.sdk.collect();
    expect([...collected.keys()].sort()).toEqual(ALL_INSTRUMENTS.map((spec) => spec.name).sort());
    for (const spec of ALL_INSTRUMENTS) {
      const metric = collected.get(spec.name)!;
      expect({ name: metric.name, kind: metric.kind, unit: metric.unit, valueType: metric.valueType, description: metric.description }).toEqual({
        name: spec.name,
        kind: spec.kind,
        unit: spec.unit,
        valueType: spec.valueType,
        description: spec.description,
      });
      expect(metric.points.length, spec.name).toBeGreaterThan(0);
      for (const { attributes } of metric.points) {
        expect(Object.keys(attributes).sort(), spec.name).toEqual([ATTRIBUTES.appEnv, ...spec.attributes].sort());
        expect(attributes[ATTRIBUTES.appEnv]).toBe(appEnv);
        for (const key of spec.attributes) expect(ALLOWED_VALUES[key], `${spec.name} ${key}`).toContain(attributes[key]);
      }
    }
    // Nothing of a revoked id or a key id leaks into an attribute.
    const everyValue = [...collected.values()].flatMap((m) => m.points.flatMap((p) => Object.values(p.attributes).map(String)));
    for (const secretish of ['a-session-id', 'a-subject-id', a.keyRing.signingKey().kid]) expect(everyValue).not.toContain(secretish);
  });

  it('the global MeterProvider of @opentelemetry/api when none is given', async () => {
    const { redis, sdk } = await connectionOnly();
    expect(metrics.setGlobalMeterProvider(sdk.meterProvider)).toBe(true);
    cleanup.push(() => metrics.disable());
    const kccMetrics = await KccMetrics.start({ redis });
    cleanup.push(() => kccMetrics.close());
    expect(kccMetrics.enabled).toBe(true);
    const collected = await sdk.collect();
    expect(pointValue(collected, 'kcc_redis.connection.reconnects')).toBe(0);
    // Only the connection's instruments; without a heartbeat, no heartbeat series.
    expect([...collected.keys()].every((name) => name.startsWith('kcc_redis.connection.'))).toBe(true);
  });

  it('close() removes the callback: nothing is observed after it (twice is fine)', async () => {
    const { redis, sdk } = await connectionOnly();
    const kccMetrics = await KccMetrics.start({ redis }, { meterProvider: sdk.meterProvider });
    kccMetrics.close();
    kccMetrics.close();
    expect([...(await sdk.collect()).keys()]).toEqual([]);
  });

  it('console.log / util.inspect / JSON show a summary, not the meter or its provider', async () => {
    const { redis, sdk } = await connectionOnly();
    const kccMetrics = await KccMetrics.start({ redis }, { meterProvider: sdk.meterProvider });
    cleanup.push(async () => kccMetrics.close());
    const shown = inspect(kccMetrics, { depth: 10 });
    expect(shown).toMatch(/^KccMetrics \{ enabled: true, instruments: \d+, closed: false \}$/);
    expect(JSON.parse(JSON.stringify(kccMetrics))).toEqual({ enabled: true, instruments: expect.any(Number), closed: false });
  });
});

describe('revocations', () => {
  it('applied and written batches: on the writer (api) and on another instance (bus)', async () => {
    const { user } = namespace();
    const [writer, reader] = [await instance(user), await instance(user, {}, 300)]; // the reader polls the log every 100 ms
    await writer.revocations.revokeSession('s-1');
    await writer.revocations.revokeSession('s-2');
    expect(await writer.sdk.value('kcc_redis.revocation.applied')).toBe(2);
    expect(await writer.sdk.value('kcc_redis.revocation.batch.written')).toBeGreaterThanOrEqual(1);
    expect(await writer.sdk.value('kcc_redis.revocation.session.count')).toBe(2);
    await reader.sdk.until('kcc_redis.revocation.applied', {}, (v) => v === 2, 'both revocations applied on the other instance');
    expect(await reader.sdk.value('kcc_redis.revocation.batch.written')).toBe(0);
    expect(await reader.sdk.value('kcc_redis.revocation.session.count')).toBe(2);
    await writer.revocations.revokeSubject('u-1', Math.floor(Date.now() / 1000));
    await reader.sdk.until('kcc_redis.revocation.subject.count', {}, (v) => v === 1, 'the subject held on the other instance');
    // Every entry came over pub/sub: the reader's polls confirm the log from its head.
    const outcome = (o: string) => ({ [ATTRIBUTES.logPollOutcome]: o });
    await reader.sdk.until('kcc_redis.revocation.log.polls', outcome('confirmed'), (v) => v !== undefined && v >= 2, 'two confirmed log polls on the reader');
    expect(await reader.sdk.value('kcc_redis.revocation.log.polls', outcome('read'))).toBe(reader.revocations.stats.logPolls.read);
    // A gap reload and a revocation given up are what an operator alarms on (an on-call review): reported as the stats count them.
    expect(await reader.sdk.value('kcc_redis.revocation.gap_reloads')).toBe(reader.revocations.stats.gapReloads.done);
    expect(await writer.sdk.value('kcc_redis.revocation.unwritten.dropped')).toBe(writer.revocations.stats.unwrittenDropped);
  });

  it('refused by entry point (a future not-before at the API, a poison batch on the bus) and dropped by reason (junk on the channel)', async () => {
    const { user } = namespace();
    const target = await instance(user);
    const source = (s: string) => ({ [ATTRIBUTES.revocationSource]: s });
    const farFuture = Math.floor(Date.now() / 1000) + 86_400;
    await expect(target.revocations.revokeAllBefore(farFuture)).rejects.toMatchObject({ code: 'KCC_INPUT_INVALID' });
    expect(await target.sdk.value('kcc_redis.revocation.refused', source('api'))).toBe(1);

    // Someone with the app-env's credentials publishes a poison batch and junk on the channel.
    const raw: Redis = await connectAs(server, user);
    cleanup.push(() => raw.disconnect());
    const channel = target.redis.channel(REVOCATION_KEYS.channel);
    const poison = encodeEnvelope('attacker', REVOCATION_EVENT, { v: REVOCATION_BATCH_VERSION, revocations: [{ kind: 'client', nbf: farFuture }] }, 65_536).json;
    await raw.publish(channel, poison);
    await raw.publish(channel, 'not json at all');
    await target.sdk.until('kcc_redis.revocation.refused', source('bus'), (v) => v === 1, 'the poison batch refused from the bus');
    const dropped = { ...source('bus'), [ATTRIBUTES.dropReason]: 'malformed' };
    await target.sdk.until('kcc_redis.revocation.message.dropped', dropped, (v) => v === 1, 'the junk message dropped as malformed');
    const collected = await target.sdk.collect();
    expect(pointValue(collected, 'kcc_redis.revocation.refused', source('log'))).toBe(0);
    expect(pointValue(collected, 'kcc_redis.revocation.message.dropped', { ...source('bus'), [ATTRIBUTES.dropReason]: 'oversized' })).toBe(0);
    // Refused means not applied: every token stays valid.
    expect(pointValue(collected, 'kcc_redis.revocation.applied')).toBe(0);
    expect(target.revocations.check({ sid: 'x', sub: 'y', iat: Math.floor(Date.now() / 1000) })).toBe('active');
  });

  it('staleness: seconds since the last contact grow through a partition, stale turns 1 past maxStalenessMs and back to 0 after it; heartbeat writes fail meanwhile', async () => {
    const { user } = namespace();
    const proxy = await TcpProxy.start(server.port);
    cleanup.push(() => proxy.stop());
    // Short reconnect delays: a command queued during the partition fails after its retries within seconds.
    const isolated = await instance(user, { url: proxy.url, reconnectMaxDelayMs: 100 }, 400);
    expect(await isolated.sdk.value('kcc_redis.revocation.stale')).toBe(0);
    expect(await isolated.sdk.value('kcc_redis.revocation.staleness')).toBeLessThan(0.4);
    await isolated.sdk.until('kcc_redis.heartbeat.writes', { [ATTRIBUTES.heartbeatOutcome]: 'written' }, (v) => (v ?? 0) >= 1, 'a heartbeat written');
    proxy.cut();
    await isolated.sdk.until('kcc_redis.revocation.stale', {}, (v) => v === 1, 'stale during the partition');
    expect(await isolated.sdk.value('kcc_redis.revocation.staleness')).toBeGreaterThan(0.4);
    await isolated.sdk.until('kcc_redis.heartbeat.writes', { [ATTRIBUTES.heartbeatOutcome]: 'failed' }, (v) => (v ?? 0) >= 1, 'a heartbeat write failed', 30_000);
    expect(await isolated.sdk.value('kcc_redis.connection.reconnects')).toBeGreaterThanOrEqual(1);
    proxy.heal();
    await isolated.sdk.until('kcc_redis.revocation.stale', {}, (v) => v === 0, 'current again after the partition', 30_000);
    expect(await isolated.sdk.value('kcc_redis.revocation.staleness')).toBeLessThan(0.4);
  });
});

describe('connection', () => {
  it('a rotated password: the connections dropped count as reconnects, the rejected password as auth failures, the re-read as one credential refresh', async () => {
    const { user } = namespace();
    const oldPassword = server.users.get(user)!.password;
    const newPassword = 'M'.repeat(32) + 'm'.repeat(32);
    let secret: RedisCredentials = { username: user, password: oldPassword };
    const { redis, sdk } = await connectionWithMetrics({ url: server.url, credentialsProvider: async () => secret, credentialRefreshMinIntervalMs: 20 });
    expect(await sdk.value('kcc_redis.connection.auth.failures')).toBe(0);

    await server.setPasswords(user, [newPassword]);
    secret = { username: user, password: newPassword };
    const admin = await server.admin();
    await admin.call('CLIENT', 'KILL', 'USER', user);
    await admin.quit();
    await sdk.until('kcc_redis.connection.credential.refreshes', {}, (v) => v === 1, 'the new password picked up');
    await redis.run((r) => r.ping());
    const collected = await sdk.collect();
    expect(pointValue(collected, 'kcc_redis.connection.auth.failures')).toBeGreaterThanOrEqual(1);
    expect(pointValue(collected, 'kcc_redis.connection.reconnects')).toBeGreaterThanOrEqual(1);
    expect(pointValue(collected, 'kcc_redis.connection.renewals')).toBe(0);
    expect(pointValue(collected, 'kcc_redis.connection.socket_timeouts')).toBe(0);
    // The reconnects resumed the TLS session of the connections they replaced.
    expect(pointValue(collected, 'kcc_redis.connection.tls_resumptions')).toBeGreaterThanOrEqual(1);
  });

  it('a node that vanishes without a reset: the socket given up for want of a reply counts as a socket timeout', async () => {
    const { user } = namespace();
    const proxy = await TcpProxy.start(server.port);
    cleanup.push(() => proxy.stop());
    const { redis, sdk } = await connectionWithMetrics({ url: proxy.url, username: user, password: server.users.get(user)!.password, socketTimeoutMs: 300 });
    expect(await sdk.value('kcc_redis.connection.socket_timeouts')).toBe(0);
    proxy.vanish();
    expect(await redis.run((r) => r.ping())).toBe('PONG'); // sent again on a new connection
    expect(await sdk.value('kcc_redis.connection.socket_timeouts')).toBe(1);
  });
});

describe('key ring', () => {
  it('generation and rotations: initial on the first instance, scheduled and immediate where they were written, the generation everywhere', async () => {
    const { user } = namespace();
    const first = await instance(user);
    const second = await instance(user);
    const mode = (m: string) => ({ [ATTRIBUTES.rotationMode]: m });
    const generation = first.keyRing.health().generation;
    expect(await first.sdk.value('kcc_redis.key_ring.rotations', mode('initial'))).toBe(1);
    expect(await second.sdk.value('kcc_redis.key_ring.rotations', mode('initial'))).toBe(0);
    expect(await second.sdk.value('kcc_redis.key_ring.generation')).toBe(generation);

    expect((await second.keyRing.rotate()).rotated).toBe(true);
    expect((await second.keyRing.rotate({ immediate: true })).rotated).toBe(true);
    const collected = await second.sdk.collect();
    expect(pointValue(collected, 'kcc_redis.key_ring.rotations', mode('scheduled'))).toBe(1);
    expect(pointValue(collected, 'kcc_redis.key_ring.rotations', mode('immediate'))).toBe(1);
    expect(pointValue(collected, 'kcc_redis.key_ring.generation')).toBe(generation + 2);
    await first.sdk.until('kcc_redis.key_ring.generation', {}, (v) => v === generation + 2, 'the other instance on the new generation');
    expect(await first.sdk.value('kcc_redis.key_ring.rotations', mode('scheduled'))).toBe(0);
  });

  it('a ring tampered with in Redis: refused by reason, written back (restored)', async () => {
    const { user } = namespace();
    const a = await instance(user);
    const raw: Redis = await connectAs(server, user);
    cleanup.push(() => raw.disconnect());
    const good = (await storedRing(raw, user))!.value;
    await writeStoredRing(raw, user, 'not a ring');
    await a.sdk.until('kcc_redis.key_ring.refused', { [ATTRIBUTES.refusalReason]: 'malformed' }, (v) => v === 1, 'the tampered ring refused');
    await a.sdk.until('kcc_redis.key_ring.restored', {}, (v) => v === 1, 'the held ring written back');
    await untilAsync(async () => (await storedRing(raw, user))?.value === good, 'the good ring back in Redis');
    await a.sdk.until('kcc_redis.key_ring.degraded', {}, (v) => v === 0, 'ready again');
    expect(await a.sdk.value('kcc_redis.key_ring.refused', { [ATTRIBUTES.refusalReason]: 'rollback' })).toBe(0);
  });

  it('a ring under a key-encryption key this instance does not hold: degraded 1 while it stands (not written over), 0 once Redis holds a good ring', async () => {
    const { user } = namespace();
    const a = await instance(user);
    expect(await a.sdk.value('kcc_redis.key_ring.degraded')).toBe(0);
    const raw: Redis = await connectAs(server, user);
    cleanup.push(() => raw.disconnect());
    const good = (await storedRing(raw, user))!.value;
    const foreign = await sealedWith('another-key-encryption-key-0123456789abcdefghijklmnop', { ...ringPayload(good), generation: ringPayload(good).generation + 1 });
    await writeStoredRing(raw, user, foreign);
    await a.sdk.until('kcc_redis.key_ring.degraded', {}, (v) => v === 1, 'degraded');
    expect(await a.sdk.value('kcc_redis.key_ring.refused', { [ATTRIBUTES.refusalReason]: 'unknown-kek' })).toBe(1);
    expect(a.keyRing.health().status).toBe('degraded');
    await writeStoredRing(raw, user, good);
    await a.sdk.until('kcc_redis.key_ring.degraded', {}, (v) => v === 0, 'ready again');
    expect(await a.sdk.value('kcc_redis.key_ring.restored')).toBe(0);
  });
});
