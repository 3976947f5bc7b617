/**
 * A Redis writer holding the app's own credentials stores a revocation key with another type than
 * the client writes, or appends a log entry dated far ahead (found by an attack review,
 * 2026-12-04). Before: every write script failed before it published (one command stopped every
 * later logout from reaching the other instances, which still reported themselves fresh), and a
 * new instance's snapshot load ended the whole process with an unhandled rejection. Now the write
 * scripts and the readers replace such a key (what it held is lost, as if it had been deleted) and
 * go on.
 */
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { KccRedis, Revocations, createKeycloakPushVerifier } from '@kcc-redis/client';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { realmKey } from '../../support/logout-tokens.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'wrongtype', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'wrongtype-prod';
const warnings: string[] = [];
const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };
const claims = (sid: string) => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 60 });

beforeEach(async () => {
  warnings.length = 0;
  const admin = await server.admin();
  try {
    await admin.flushall();
  } finally {
    admin.disconnect();
  }
});

async function connect(): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, USER, { logger }), ['subscriber']));
}

async function start(): Promise<Revocations> {
  return closeLater(await Revocations.start(await connect(), { maxStalenessMs: 3_000 }));
}

/** Runs a command as the attacker: the app's own ACL user. */
async function asApp(command: string, name: string, ...args: (string | number)[]): Promise<unknown> {
  const redis = await connect();
  return redis.run((r) => r.call(command, redis.key(name), ...args));
}

describe('a revocation key of the wrong type, or a log dated ahead', () => {
  for (const [what, name, command, args] of [
    ['the revoked sessions as a hash', REVOCATION_KEYS.sessions, 'HSET', ['x', 'y']],
    ['the subjects as a list', REVOCATION_KEYS.subjects, 'RPUSH', ['x']],
    ['the client-wide not-before as a set', REVOCATION_KEYS.clientNotBefore, 'SADD', ['x']],
    ['the log as a string', REVOCATION_KEYS.log, 'SET', ['x']],
  ] as const) {
    it(`${what}: the next write replaces it, and every instance hears the revocation`, async () => {
      const writer = await start();
      const other = await start();
      await asApp(command, name, ...args);
      await writer.revokeSession(`after-${name}`);
      await until(() => other.check(claims(`after-${name}`)) === 'revoked', 'the other instance heard the revocation');
      expect(warnings.some((w) => w.includes('wrong type'))).toBe(true);
      expect((await start()).check(claims(`after-${name}`))).toBe('revoked');
    });
  }

  it('a log whose last id is the largest there is: writes go on (before: "The stream has exhausted the last possible ID" on every write)', async () => {
    const writer = await start();
    const other = await start();
    await asApp('XADD', REVOCATION_KEYS.log, '18446744073709551615-18446744073709551615', 'x', 'y');
    await writer.revokeSession('after-exhausted');
    await writer.revokeSession('after-exhausted-2');
    await until(() => other.check(claims('after-exhausted-2')) === 'revoked', 'the other instance heard both');
    expect(other.check(claims('after-exhausted'))).toBe('revoked');
    expect((await start()).check(claims('after-exhausted'))).toBe('revoked');
  });

  it('a log entry dated ten days ahead: the log is replaced (later entries take the server\'s time, trimmed by age again), and a reader past the entry from the future reads on', async () => {
    const writer = await start();
    const other = await start();
    // The other instance hears nothing (as if every message were lost): only its log polls bring revocations.
    await (other as unknown as { unsubscribe: () => Promise<void> }).unsubscribe();
    await until(() => other.stats.logPolls.read + other.stats.logPolls.confirmed > 0, 'the other instance\'s first poll');
    const ahead = Date.now() + 10 * 86_400_000;
    await asApp('XADD', REVOCATION_KEYS.log, `${ahead}-0`, 'x', 'y');
    const polled = other.stats.logPolls.read;
    await until(() => other.stats.logPolls.read > polled, 'the other instance read up to the entry from the future');
    await writer.revokeSession('after-future');
    const redis = await connect();
    const [last] = (await redis.run((r) => r.xrevrange(redis.key(REVOCATION_KEYS.log), '+', '-', 'COUNT', 1))) as [string, string[]][];
    expect(Number(last![0].split('-')[0])).toBeLessThan(Date.now() + 60_000);
    // Its position lies ten days ahead of the new log's entries: it sees the log went back and reloads the state.
    await until(() => other.check(claims('after-future')) === 'revoked', 'the other instance has it', 10_000);
    await writer.revokeSession('after-future-2');
    await until(() => other.check(claims('after-future-2')) === 'revoked', 'the other instance has the next one', 10_000);
  });

  it('a new instance starts when the stored sessions are a hash (before: its snapshot load ended the process with an unhandled rejection)', async () => {
    const writer = await start();
    await writer.revokeSubject('kept-user', Math.floor(Date.now() / 1000) - 5);
    await asApp('DEL', REVOCATION_KEYS.sessions);
    await asApp('HSET', REVOCATION_KEYS.sessions, 'x', 'y');
    const later = await start();
    expect(later.stats.refused.snapshot).toBeGreaterThan(0);
    expect(later.check({ sid: 'x', sub: 'kept-user', iat: Math.floor(Date.now() / 1000) - 60 })).toBe('revoked');
    expect(await asApp('TYPE', REVOCATION_KEYS.sessions)).toBe('none');
  });

  it('a running instance whose poll meets a log of the wrong type replaces it and stays fresh', async () => {
    const running = await start();
    await asApp('DEL', REVOCATION_KEYS.log);
    await asApp('SET', REVOCATION_KEYS.log, 'x');
    await until(() => warnings.some((w) => w.includes('wrong type')), 'the poll replaced the log');
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(running.stale).toBe(false);
  });

  it('a Keycloak push relayed while the stored push is a hash and the log a string: both replaced, the push stored and heard', async () => {
    const key = await realmKey('realm-1');
    const keycloakPushes = createKeycloakPushVerifier({ issuer: 'https://sso.example.test/realms/shop', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
    const startWithPushes = async () => closeLater(await Revocations.start(await connect(), { maxStalenessMs: 3_000, keycloakPushes }));
    const relaying = await startWithPushes();
    const other = await startWithPushes();
    const notBefore = Math.floor(Date.now() / 1000) - 10;
    const action = { id: randomUUID(), expiration: Math.floor(Date.now() / 1000) + 30, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore };
    const signed = await new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
    const verdict = await keycloakPushes.verify(signed);
    if (!verdict.ok) throw new Error(`the test's push was refused: ${verdict.reason}`);
    // Just before the relay: a poll in between would replace them first (as readers do).
    await asApp('HSET', REVOCATION_KEYS.keycloakPush, 'x', 'y');
    await asApp('SET', REVOCATION_KEYS.log, 'x');
    await relaying.applyKeycloakPush(verdict.push);
    await until(() => other.stats.pushedNotBefore === notBefore, 'the other instance followed the push');
    expect(await asApp('TYPE', REVOCATION_KEYS.keycloakPush)).toBe('string');
    expect((await startWithPushes()).stats.pushedNotBefore).toBe(notBefore);
  });

  it('any other error inside the write is still the write\'s error (a command the user may not run: NOPERM), nothing replaced', async () => {
    const writer = await start();
    const admin = await server.admin();
    try {
      await admin.call('ACL', 'SETUSER', USER, '-zadd');
      await expect(writer.revokeSession('refused')).rejects.toThrow(/^ERR The user executing the script can't run this command/);
      expect(warnings.some((w) => w.includes('wrong type'))).toBe(false);
    } finally {
      await admin.call('ACL', 'SETUSER', USER, '+zadd');
      admin.disconnect();
    }
  });

  it('a log append refused for another reason (a command the user may not run) is raised as it was, and the log is kept (found by a review: it deleted the log)', async () => {
    const writer = await start();
    await writer.revokeSession('kept-1');
    await writer.revokeSession('kept-2');
    const before = await asApp('XLEN', REVOCATION_KEYS.log);
    const admin = await server.admin();
    try {
      await admin.call('ACL', 'SETUSER', USER, '-xadd');
      await expect(writer.revokeSession('refused')).rejects.toThrow(/can't run this command/);
    } finally {
      await admin.call('ACL', 'SETUSER', USER, '+xadd');
      admin.disconnect();
    }
    expect(await asApp('XLEN', REVOCATION_KEYS.log)).toBe(before);
    expect(warnings.some((w) => w.includes('wrong type'))).toBe(false);
  });

  it('a writer whose estimate of the server\'s time lags by two hours replaces nothing (found by a review: with an hour\'s bound it emptied the log at every write)', async () => {
    const writer = await start();
    const redis = (writer as unknown as { redis: KccRedis }).redis;
    redis.serverClock.now = async () => Date.now() - 2 * 3_600_000;
    for (let i = 0; i < 5; i++) await writer.revokeSession(`lagging-${i}`);
    expect(await asApp('XLEN', REVOCATION_KEYS.log)).toBe(5);
    expect(warnings.some((w) => w.includes('wrong type'))).toBe(false);
  });
});
