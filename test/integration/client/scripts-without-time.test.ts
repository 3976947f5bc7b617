/**
 * No script calls TIME. ElastiCache Serverless answers a script that does with "ERR This Redis
 * command is not allowed from script" (symfony/symfony#54252, otovo/redis-rate-limiters#11), while
 * TIME as a command of its own is supported there. Stock redis-server has no switch for that, so the
 * stand-in here is stricter: the app-env's user is denied TIME altogether (`-time`), which also
 * refuses it inside every script the user runs. Every write path must work on it, on this host's
 * clock, with one warning.
 * Found on 2026-12-03: the revocation write script, the Keycloak push relay and the heartbeat each
 * called TIME, so on a serverless cache no revocation was written at all.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'notime-prod';
const KEK = 'no-time-test-key-encryption-key-0123456789abcdefghijklmnopqrst';
const server = useTestRedis({ appEnvs: [{ app: 'notime', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

beforeAll(async () => {
  const admin = await server.admin();
  try {
    await admin.call('ACL', 'SETUSER', USER, '-time');
  } finally {
    admin.disconnect();
  }
});

describe('a server that refuses TIME in scripts (ElastiCache Serverless)', () => {
  it('revocations, the heartbeat and the key ring are written all the same, and the refusal is said once', async () => {
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message), info: () => undefined };
    const connect = async () => closeLater(await KccRedis.connect(kccOptions(server, USER, { logger, heartbeatIntervalMs: 200 }), ['subscriber']));
    const [ra, rb] = [await connect(), await connect()];
    const [a, b] = [closeLater(await Revocations.start(ra)), closeLater(await Revocations.start(rb))];
    const iat = Math.floor(Date.now() / 1000) - 60;

    await a.revokeSession('sid-1');
    await a.revokeSubject('user-1', Math.floor(Date.now() / 1000));
    await a.revokeAllBefore(iat - 60);
    await until(
      () => b.check({ sid: 'sid-1' }) === 'revoked' && b.check({ sub: 'user-1', iat }) === 'revoked' && b.stats.clientNotBefore === iat - 60,
      'the three revocations on the other instance',
    );
    expect(a.stats).toMatchObject({ unwritten: 0, batchesWritten: 3 });

    await until(() => ra.stats.heartbeatsWritten >= 2, 'heartbeats written');
    expect(ra.stats.heartbeatFailures).toBe(0);

    const ring = closeLater(await KeyRing.start(ra, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, lockTtlMs: 2_000 }));
    expect((await ring.rotate({ immediate: true })).rotated).toBe(true);

    // Once per connection that asked (each instance estimates the server's clock on its own).
    expect(warnings.filter((w) => w.includes('TIME'))).toEqual(Array(2).fill('the Redis server refuses TIME: this host\'s clock is used as it is (key ring writes go ahead without comparing it with the server\'s; revocation bounds, heartbeats and the keycloak-connector provider\'s sealed times use it uncorrected: hosts more than a minute apart drop each other\'s connector messages)'));
    expect(warnings.filter((w) => !w.includes('TIME'))).toEqual([]);
  });
});
