/**
 * The current readers read every committed fixture with its meaning: loaded into a real
 * redis-server as it was stored (or published and appended as it was sent), then read through the
 * client's own API. A fixture that stops reading right means instances of this release can no
 * longer run beside those of the release that wrote it (docs/formats.md).
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, RedisReplayGuard, Revocations, listInstances } from '../../../client/src/index.js';
import { MAX_MESSAGE_BYTES, decodeEnvelope } from '../../../client/src/envelope.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { RingLog } from '../../../client/src/keyring/ring-log.js';
import { ConnectorSeal } from '../../../client/src/keycloak-connector/connector-seal.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { declareSessionLifetime } from '../../../client/src/revocation/session-lifetimes.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { FIXTURE_APP_ENV, FIXTURE_PREFIX, FIXTURE_USER, type StoredValue, loadKeys, readFixture } from './format-fixtures.js';
import type { ConnectorSealFixture, HeartbeatFixture, KeyRingFixture, RevocationsFixture } from './format-writers.js';

const server = useTestRedis({ appEnvs: [FIXTURE_APP_ENV], persistence: 'none' });
const closeLater = closeAfterEach();
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const CENTURY_MS = 100 * 365 * 24 * 3_600_000;

afterEach(async () => {
  await (await server.admin()).flushall();
});

async function connect(roles: 'subscriber'[] = []): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, FIXTURE_USER, { heartbeat: false, logger: silent }), roles));
}

/** The stored ring as a reader starting on the fixture's ring: never rotating, never re-reading on its own. */
function startRing(redis: KccRedis, fixture: KeyRingFixture): Promise<KeyRing> {
  return KeyRing.start(redis, { keyEncryptionKey: fixture.kek, env: {}, algorithm: 'PS256', rotateEveryMs: CENTURY_MS, refreshIntervalMs: 3_600_000 }).then(closeLater);
}

describe('key ring fixture (keyring-v1.json)', () => {
  const fixture = readFixture<KeyRingFixture>('keyring-v1.json');
  const ringKey = `${FIXTURE_PREFIX}{fixture-prod}:keyring`;

  it('a starting instance signs with the active key, publishes the active and the next key, never the compromised one, and leaves the ring as stored', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const ring = await startRing(await connect(), fixture);
    const { activeKid, nextKid, compromisedKids, generation } = fixture.meaning;
    expect(ring.signingKey().kid).toBe(activeKid);
    expect(ring.jwks().keys.map((k) => k.kid).sort()).toEqual([activeKid, nextKid].sort());
    for (const kid of compromisedKids) expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(kid);
    expect(ring.health().generation).toBe(generation);
    // The private key decrypted under the fixture's key-encryption key signs what the published key verifies.
    const assertion = await ring.signClientAssertion({ clientId: 'shop', audience: 'https://sso.example.test/realms/fixture' });
    expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'PS256', kid: activeKid });
    await jwtVerify(assertion, createLocalJWKSet({ keys: [...ring.jwks().keys] }), { issuer: 'shop', audience: 'https://sso.example.test/realms/fixture' });
    expect(await admin.hget(ringKey, 'value')).toBe((fixture.redis[ringKey] as Extract<StoredValue, { type: 'hash' }>).value.value);
  });

  it('the ring log\'s tagged records tell a starting instance which generation Redis holds at least', async () => {
    await loadKeys(await server.admin(), fixture.redis);
    const redis = await connect();
    const keks = await KeyEncryptionKeys.load(async () => ({ kek: fixture.kek }), silent, false);
    const newest = await new RingLog(redis, 3_600_000).newest(keks);
    expect(newest.generation).toBe(fixture.meaning.generation);
  });
});

describe('revocations fixture (revocations-v1.json)', () => {
  const fixture = readFixture<RevocationsFixture>('revocations-v1.json');
  const m = fixture.meaning;
  const logKey = `${FIXTURE_PREFIX}{fixture-prod}:${REVOCATION_KEYS.log}`;

  /** Without a push verifier: a stored or relayed push raises the pushed not-before (its signed action's time has passed, so a verifier would refuse it as expired). */
  async function reader(): Promise<Revocations> {
    const redis = await connect(['subscriber']);
    return closeLater(await Revocations.start(redis, { sessionMaxLifetimeMs: m.sessionMaxLifetimeMs, maxStalenessMs: 300 }));
  }

  /** What every revocation of the fixture means, token by token. */
  function expectFixtureMeaning(revocations: Revocations): void {
    const check = (sid: string, sub: string, secondsBefore: number, scope?: string) => revocations.check({ sid, sub, iat: m.at - secondsBefore, ...(scope ? { scope } : {}) });
    // The whole session: every token of it.
    expect(check(m.wholeSession, 'someone', 100)).toBe('revoked');
    // The session up to a time: its tokens up to then; later offline ones pass.
    expect(check(m.sessionUpTo.sid, 'someone', 300, 'openid offline_access')).toBe('revoked');
    expect(check(m.sessionUpTo.sid, 'someone', 100, 'openid offline_access')).toBe('active');
    // The user: tokens issued before the user's not-before.
    expect(check('another-session', m.subject.sub, 700)).toBe('revoked');
    expect(check('another-session', m.subject.sub, 100)).toBe('active');
    // Keycloak's push (at - 800) is later than the client-wide not-before (at - 1000): it is the one in force.
    expect(check('another-session', 'someone', 900)).toBe('revoked');
    expect(check('another-session', 'someone', 700)).toBe('active');
    expect(check('another-session', 'someone', 1_100)).toBe('revoked');
    expect(revocations.stats.pushedNotBefore).toBe(m.pushedNotBefore);
    expect(revocations.stats.clientNotBefore).toBe(m.pushedNotBefore);
    expect(revocations.stats.refused).toEqual({ api: 0, bus: 0, log: 0, snapshot: 0 });
    expect(revocations.stats.messagesDropped).toBe(0);
  }

  it('the stored state (compacted keys and the stored Keycloak push) loaded by a starting instance', async () => {
    await loadKeys(await server.admin(), fixture.redis);
    const revocations = await reader();
    expectFixtureMeaning(revocations);
    expect(revocations.stats.revokedSessions).toBe(2);
    expect(revocations.stats.revokedSubjects).toBe(1);
  });

  it('the pub/sub messages, published as sent, applied by a running instance', async () => {
    const revocations = await reader();
    const publisher = closeLater(await connectAs(server, FIXTURE_USER));
    for (const { message } of fixture.messages) await publisher.publish(`${FIXTURE_PREFIX}${REVOCATION_KEYS.channel}`, message);
    await until(() => revocations.stats.revokedSessions === 2 && revocations.stats.pushedNotBefore !== 0, 'every message applied');
    expectFixtureMeaning(revocations);
  });

  it('the log entries, appended as stored (no message heard), applied by a running instance\'s poll', async () => {
    const revocations = await reader();
    const admin = await server.admin();
    const log = fixture.redis[logKey] as Extract<StoredValue, { type: 'stream' }>;
    for (const [, fields] of log.value) await admin.xadd(logKey, '*', ...fields);
    await until(() => revocations.stats.revokedSessions === 2 && revocations.stats.pushedNotBefore !== 0, 'every log entry applied');
    expectFixtureMeaning(revocations);
  });

  it('the session-lifetime declaration: writers keep the state for the longest lifetime declared (its lapse time loaded as current)', async () => {
    const name = `${FIXTURE_PREFIX}{fixture-prod}:${REVOCATION_KEYS.lifetimes}`;
    const stored = fixture.redis[name] as Extract<StoredValue, { type: 'zset' }>;
    const admin = await server.admin();
    // The score is a lapse time (server ms): moved to 5 minutes from now, the member (the lifetime) as stored.
    await admin.zadd(name, Date.now() + 300_000, stored.value[0]![0]);
    const declared = await declareSessionLifetime(await connect(), 3_600_000);
    expect(declared).toEqual({ longestMs: m.sessionMaxLifetimeMs, count: 2 });
  });

  it('the replay record: the same logout token id again is a replay', async () => {
    await loadKeys(await server.admin(), fixture.redis);
    const guard = new RedisReplayGuard(await connect());
    expect(await guard.firstUse(m.replayId, 60_000)).toBe(false);
    expect(await guard.firstUse('another-id', 60_000)).toBe(true);
  });
});

describe('heartbeat fixture (heartbeat-v1.json)', () => {
  const fixture = readFixture<HeartbeatFixture>('heartbeat-v1.json');

  it('lists the instance with its id, host, version and interval', async () => {
    await loadKeys(await server.admin(), fixture.redis, { ttlMs: () => 45_000 });
    const list = await listInstances(await connect());
    expect(list.unreadable).toBe(0);
    expect(list.instances).toHaveLength(1);
    expect(list.instances[0]).toMatchObject({ ...fixture.meaning, v: 1, pid: expect.any(Number) });
  });
});

describe('connector seal fixture (connector-seal-v1.json)', () => {
  const fixture = readFixture<ConnectorSealFixture>('connector-seal-v1.json');

  async function seal(): Promise<ConnectorSeal> {
    return new ConnectorSeal(await KeyEncryptionKeys.load(async () => ({ kek: fixture.kek }), silent, false));
  }

  it('opens the stored value (no expiry) under its hidden name', async () => {
    const s = await seal();
    expect(s.names(fixture.value.name)[0]).toBe(fixture.value.hiddenName);
    expect(await s.openValue(fixture.value.context, fixture.value.sealed, Date.now())).toEqual({ text: fixture.value.text });
    // Bound to its key: under another one it does not open.
    expect(await s.openValue(`${fixture.value.context}-moved`, fixture.value.sealed, Date.now())).toEqual({ refused: 'unopened' });
  });

  it('opens the message at its time, with its id, from its envelope; refuses it as expired later', async () => {
    const s = await seal();
    const { message } = fixture;
    expect(s.names(message.name)[0]).toBe(message.hiddenName);
    const decoded = decodeEnvelope<string>(message.envelope, MAX_MESSAGE_BYTES);
    expect(decoded.ok && decoded.envelope).toMatchObject({ v: 1, id: message.id, type: 'keycloak-connector', data: message.sealed });
    expect(await s.openMessage(message.context, message.sealed, message.sentAt)).toEqual({ text: message.text, id: message.id, sentAt: message.sentAt });
    expect(await s.openMessage(message.context, message.sealed, message.sentAt + 10 * 60_000)).toEqual({ refused: 'expired' });
  });
});
