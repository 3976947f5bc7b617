/**
 * Instances of one app-env with different `sessionMaxLifetimeMs` (a rolling deploy that raises it,
 * one instance configured apart). Every writer pruned the shared state by its own lifetime, so one
 * with 10 h removed a 24 h instance's user-wide not-befores after 10 h, stored the client-wide
 * not-before and the Keycloak push to expire after 10 h, trimmed the log to 10 h and dated a revoked
 * session's record 10 h ahead, which the 24 h instance then forgot after 10 h: a session it still
 * accepts, logged out, valid again (found in the session-31 notes: documented, not enforced). Now
 * each running instance declares its lifetime, writers keep the state for the longest declared,
 * and a receiver dates a session's record by its own lifetime from when it was written.
 */
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, RedisReplayGuard, type RevocationEvent, Revocations, createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { namespacedKey } from '../../../client/src/contract/naming.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { DECLARATION_CLOCK_TOLERANCE_MS, LIFETIME_DECLARATION_TTL_MS, MAX_SESSION_LIFETIME_MS } from '../../../client/src/revocation/session-lifetimes.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_BATCH_VERSION, REVOCATION_EVENT, type RevocationBatch } from '../../../client/src/revocation/revocation-event.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { type RealmKey, realmKey } from '../../support/logout-tokens.js';
import { kccOptions, startTestRedis, withReadOnlyKeys } from '../../support/redis.js';

const HOUR_MS = 3_600_000;
const SHORT = 10 * HOUR_MS;
const LONG = 24 * HOUR_MS;
const user = 'lifespan-prod';
let server: LocalRedis;
let admin: Redis;
let realm: RealmKey;
const closeLater = closeAfterEach();

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'lifespan', env: 'prod' }], persistence: 'none' });
  admin = await server.admin();
  realm = await realmKey('realm-1');
});
afterEach(async () => {
  // Declarations last five minutes: each case starts from an empty namespace.
  await admin.flushall();
});
afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

async function instance(sessionMaxLifetimeMs: number, warnings: string[] = [], infos: string[] = []) {
  const logger = { info: (message: string) => void infos.push(message), warn: (message: string) => void warnings.push(message) };
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger }), ['subscriber']));
  const revocations = closeLater(await Revocations.start(redis, { sessionMaxLifetimeMs }));
  return { redis, revocations };
}

const key = (redis: KccRedis, name: string) => redis.key(name);
const named = (name: string) => namespacedKey(`${user}:`, name);
const lifetimesKey = () => named(REVOCATION_KEYS.lifetimes);

/** The app user's writes refused (NOPERM) while `during` runs. */
const readOnly = <T>(during: () => Promise<T>) => withReadOnlyKeys(admin, user, during);

/** 250 log entries 11 h old, as a 24 h instance's writes left them: two of the log's nodes of 100, which MINID ~ trims whole. */
async function seedOldLog(at = Date.now() - 11 * HOUR_MS): Promise<void> {
  const seeding = admin.pipeline();
  for (let i = 0; i < 250; i++) seeding.xadd(named(REVOCATION_KEYS.log), `${at}-${i + 1}`, 'i', `old-${i}`, 'e', '{}');
  await seeding.exec();
}

/**
 * A 10 h writer's first batch (which prunes) beside the declarations planted: whether it kept a
 * user-wide not-before 11 h old, and a client-wide one as old (both, or neither: they go by the same lifetime).
 */
async function keptByShortWriter(warnings: string[] = []): Promise<boolean> {
  const elevenHoursAgo = seconds(Date.now() - 11 * HOUR_MS);
  await admin.zadd(named(REVOCATION_KEYS.subjects), elevenHoursAgo, 'victim');
  await admin.set(named(REVOCATION_KEYS.clientNotBefore), String(elevenHoursAgo));
  const short = await instance(SHORT, warnings);
  await short.revocations.revokeSession('logged-out');
  const subject = (await admin.zscore(named(REVOCATION_KEYS.subjects), 'victim')) !== null;
  const client = (await admin.get(named(REVOCATION_KEYS.clientNotBefore))) !== null;
  expect(client).toBe(subject);
  return subject;
}
const seconds = (ms: number) => Math.floor(ms / 1000);

describe('revocations: instances with different session lifetimes', () => {
  it('a 10 h writer keeps what a running 24 h instance needs: user-wide not-befores, the client-wide one, the log, a session record', async () => {
    const long = await instance(LONG);
    const warnings: string[] = [];
    const short = await instance(SHORT, warnings);
    const subjects = key(short.redis, REVOCATION_KEYS.subjects);
    const log = key(short.redis, REVOCATION_KEYS.log);
    // As the 24 h instance stored them 11 h ago: still in force there.
    const elevenHoursAgo = Date.now() - 11 * HOUR_MS;
    await admin.zadd(subjects, seconds(elevenHoursAgo), 'victim');
    // A "log out everyone" two minutes before that (before the tokens the checks below ask about).
    const clientNotBefore = String(seconds(elevenHoursAgo) - 120);
    await admin.set(key(short.redis, REVOCATION_KEYS.clientNotBefore), clientNotBefore);
    await seedOldLog(elevenHoursAgo);

    const heard = nextEvent(long.revocations, 'applied');
    await short.revocations.revokeSession('logged-out'); // the first batch prunes

    expect(await admin.zscore(subjects, 'victim')).toBe(String(seconds(elevenHoursAgo)));
    expect(await admin.get(key(short.redis, REVOCATION_KEYS.clientNotBefore))).toBe(clientNotBefore);
    expect(await admin.xlen(log)).toBe(251);
    const sessionRecord = Number(await admin.zscore(key(short.redis, REVOCATION_KEYS.sessions), 'logged-out'));
    expect(sessionRecord).toBeGreaterThan(Date.now() + LONG - 60_000);
    // The 24 h instance dates the record by its own lifetime from the write, not by the writer's.
    const [event] = (await heard) as [RevocationEvent];
    expect(event.kind).toBe('session');
    expect(event.kind === 'session' && event.exp).toBeGreaterThan(Date.now() + LONG - 60_000);
    // The shorter instance says so, once.
    expect(warnings.filter((w) => w.includes('longer sessionMaxLifetimeMs (86400000 ms) than this one (36000000 ms)'))).toHaveLength(1);

    // A 24 h instance started now loads the user-wide not-before.
    const late = await instance(LONG);
    const issuedBefore = seconds(elevenHoursAgo) - 60;
    expect(late.revocations.check({ sid: 'any', sub: 'victim', iat: issuedBefore })).toBe('revoked');
    expect(late.revocations.check({ sid: 'any', sub: 'bystander', iat: issuedBefore })).toBe('active');

    // Without an expiry: volatile-* eviction (ElastiCache's default) takes only keys with one.
    await short.revocations.revokeAllBefore(seconds(Date.now()));
    expect(await admin.pttl(key(short.redis, REVOCATION_KEYS.clientNotBefore))).toBe(-1);
  });

  it('alone, a 10 h writer prunes by its own lifetime; a lapsed, a forged (dated past the TTL and the clock tolerance, ten years) or a malformed declaration changes nothing, and is removed', async () => {
    const warnings: string[] = [];
    const lifetimes = lifetimesKey();
    const subjects = named(REVOCATION_KEYS.subjects);
    const now = Date.now();
    await admin.zadd(lifetimes, now - DECLARATION_CLOCK_TOLERANCE_MS - 60_000, String(LONG)); // lapsed, even for a clock an hour behind
    await admin.zadd(lifetimes, now + LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS + 60_000, String(MAX_SESSION_LIFETIME_MS)); // no instance dates a declaration that far
    await admin.zadd(lifetimes, now + 60_000, 'ten years', now + 60_000, '86400000.5', now + 60_000, String(MAX_SESSION_LIFETIME_MS + 1), now + 60_000, '0172800000');
    const elevenHoursAgo = now - 11 * HOUR_MS;
    await admin.zadd(subjects, seconds(elevenHoursAgo), 'victim');
    await admin.set(named(REVOCATION_KEYS.clientNotBefore), String(seconds(elevenHoursAgo)));

    const short = await instance(SHORT, warnings);
    await short.revocations.revokeSession('logged-out');

    expect(await admin.zscore(subjects, 'victim')).toBeNull();
    expect(await admin.get(named(REVOCATION_KEYS.clientNotBefore))).toBeNull(); // covers no token a 10 h session can hold
    const sessionRecord = Number(await admin.zscore(key(short.redis, REVOCATION_KEYS.sessions), 'logged-out'));
    expect(sessionRecord).toBeLessThan(Date.now() + SHORT + 60_000);
    expect(warnings.filter((w) => w.includes('sessionMaxLifetimeMs'))).toEqual([]);
    // Its declaration removed the lapsed, the forged and the malformed ones, and is the one left.
    expect(await admin.zrange(lifetimes, 0, -1)).toEqual([String(SHORT)]);
    expect(Number(await admin.zscore(lifetimes, String(SHORT)))).toBeLessThanOrEqual(Date.now() + LIFETIME_DECLARATION_TTL_MS + 5_000);
    // The set outlives its last renewal as long as a declaration in it still counts (the TTL and the clock tolerance).
    expect(await admin.pttl(lifetimes)).toBeGreaterThan(LIFETIME_DECLARATION_TTL_MS + DECLARATION_CLOCK_TOLERANCE_MS - 60_000);
  });

  it("clocks up to an hour apart: a declaration dated by a clock 50 min ahead, or 50 min behind, still counts, and a writer's declaration leaves it", async () => {
    const now = Date.now();
    // A 24 h instance whose clock runs 50 min ahead renewed it; so did a 20 h one whose clock runs 50 min behind.
    await admin.zadd(lifetimesKey(), now + 50 * 60_000 + LIFETIME_DECLARATION_TTL_MS, String(LONG), now - 50 * 60_000 + LIFETIME_DECLARATION_TTL_MS, String(20 * HOUR_MS));
    expect(await keptByShortWriter()).toBe(true);
    expect((await admin.zrange(lifetimesKey(), 0, -1)).sort()).toEqual([String(SHORT), String(20 * HOUR_MS), String(LONG)].sort());
  });

  it('more declarations than any fleet makes (17, forged): the state is kept for the longest possible, never pruned sooner, and the writer says so', async () => {
    const now = Date.now();
    const crowd = Array.from({ length: 16 }, (_, i) => [now + 60_000, String(i + 1)]).flat();
    // Sixteen tiny lifetimes dated before the 24 h one, so that a read of sixteen would miss it.
    await admin.zadd(lifetimesKey(), ...crowd, now + 120_000, String(LONG));
    const warnings: string[] = [];
    expect(await keptByShortWriter(warnings)).toBe(true);
    expect(warnings.filter((w) => /^18 session lifetimes are declared in this app-env, more than any fleet declares \(16 are read\)/.test(w))).toHaveLength(1);
  });

  // From an attack review: malformed members counted towards the seventeen before they were left
  // out, so seventeen of them made the writers keep everything for ten years (and the declaration's
  // sweep, 64 members from the lowest, did not reach them behind well-formed ones).
  it('malformed members in the window count for nothing (17 of them: the longest declared applies, not ten years); more than 64 members of any kind is a crowd', async () => {
    const warnings: string[] = [];
    const short = await instance(SHORT, warnings);
    const now = Date.now();
    await admin.zadd(lifetimesKey(), now + 120_000, String(LONG));
    // Planted after the instance's declaration (whose sweep would remove them): the writes until its
    // next declaration, a minute later, meet them.
    const junk = (count: number, from: number) => Array.from({ length: count }, (_, i) => [now + 60_000, `junk-${from + i}`]).flat();
    await admin.zadd(lifetimesKey(), ...junk(17, 0));
    // What the writes applied shows in a session record's expiry: the longest lifetime, from the write.
    const keptFor = async (sid: string) => Number(await admin.zscore(named(REVOCATION_KEYS.sessions), sid)) - Date.now();
    await short.revocations.revokeSession('beside-17-junk');
    const kept = await keptFor('beside-17-junk');
    expect(kept).toBeGreaterThan(LONG - 60_000);
    expect(kept).toBeLessThanOrEqual(LONG);
    await admin.zadd(lifetimesKey(), ...junk(48, 17)); // 65 members in the window
    await short.revocations.revokeSession('in-a-crowd');
    expect(await keptFor('in-a-crowd')).toBeGreaterThan(365 * 24 * HOUR_MS);
  });

  it("a forged message dated far ahead (envelope at) is remembered no longer than the receiver's own lifetime from now", async () => {
    const long = await instance(LONG);
    const applied = nextEvent(long.revocations, 'applied');
    const batch: RevocationBatch = { v: REVOCATION_BATCH_VERSION, revocations: [{ kind: 'session', sid: 'forged', exp: Date.now() + 1_000 }] };
    const { envelope } = encodeEnvelope('forger', REVOCATION_EVENT, batch, 65_536);
    await admin.publish(long.redis.channel(REVOCATION_KEYS.channel), JSON.stringify({ ...envelope, at: 1e15 }));
    const [event] = (await applied) as [RevocationEvent];
    expect(event.kind === 'session' && event.exp).toBeLessThanOrEqual(Date.now() + LONG);
    expect(event.kind === 'session' && event.exp).toBeGreaterThan(Date.now() + LONG - 60_000);
  });

  it('a renewal Redis refuses is said once, and its recovery once', async () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const { redis } = await instance(LONG, warnings, infos);
    await admin.del(lifetimesKey());
    const refused = () => warnings.filter((w) => w.startsWith("renewing this instance's session lifetime in Redis failed"));
    await readOnly(async () => {
      // A reconnect renews (as the minute's timer does); twice, still refused: said once.
      redis.client.disconnect(true);
      await until(() => refused().length > 0, 'the renewal refused');
      await until(() => redis.client.status === 'ready', 'reconnected');
      const renewals = infos.length;
      redis.client.disconnect(true);
      await until(() => redis.client.status !== 'ready', 'disconnected');
      await until(() => redis.client.status === 'ready', 'reconnected again');
      await untilAsync(async () => (await admin.exists(lifetimesKey())) === 0 && infos.length === renewals, 'still refused');
    });
    expect(refused()).toHaveLength(1);
    redis.client.disconnect(true);
    await untilAsync(async () => (await admin.zscore(lifetimesKey(), String(LONG))) !== null, 'the declaration after the reconnect');
    await until(() => infos.includes("this instance's session lifetime is declared in Redis again"), 'the recovery said');
  });

  it('a start whose declaration Redis refuses still starts, says so, and declares once Redis takes it', async () => {
    const warnings: string[] = [];
    const started = await readOnly(() => instance(LONG, warnings));
    expect(started.revocations.check({ sid: 'any' })).toBe('active');
    expect(warnings.filter((w) => w.startsWith("could not declare this instance's session lifetime"))).toHaveLength(1);
    expect(await admin.exists(lifetimesKey())).toBe(0);
    // The next try (every minute; a reconnect also tries): here the reconnect.
    started.redis.client.disconnect(true);
    await untilAsync(async () => (await admin.zscore(lifetimesKey(), String(LONG))) !== null, 'the declaration after the reconnect');
  });

  it('a Keycloak push relayed by a 10 h instance is kept for the running 24 h instance (stored without an expiry, its log entries by the longest lifetime)', async () => {
    await instance(LONG);
    const short = await instance(SHORT);
    const handlers = createKeycloakAdminHandlers({
      enabled: true,
      issuer: 'https://sso.example.com/realms/main',
      clientId: 'shop',
      sink: short.revocations,
      replayGuard: new RedisReplayGuard(short.redis),
      jwks: createLocalJWKSet({ keys: [realm.publicJwk] }),
    });
    const action = { id: randomUUID(), expiration: seconds(Date.now()) + 30, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore: seconds(Date.now()) };
    const body = await new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: realm.alg, kid: realm.kid, typ: 'JWT' }).sign(realm.privateKey);
    await seedOldLog();
    expect((await handlers.pushNotBefore({ contentType: 'text/plain', body })).status).toBe(200);
    // Kept without an expiry (volatile-* eviction takes only keys with one); the log by the longest lifetime.
    expect(await admin.pttl(key(short.redis, REVOCATION_KEYS.keycloakPush))).toBe(-1);
    expect(await admin.xlen(named(REVOCATION_KEYS.log))).toBe(251);
  });
});
