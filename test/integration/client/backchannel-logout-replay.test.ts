/**
 * A replayed valid logout token (an attack review of the logout endpoint, low): it was refused
 * (400 "jti" already used) only after its revocation had been applied again, so each replay wrote
 * the revocation to Redis, appended it to the event log and published it to every instance. Now an
 * endpoint that applied and recorded a token itself refuses its replays without writing anything.
 *
 * The defense: whoever holds the app's Redis credentials can plant a replay record (`jti:<hash>`)
 * for a token not sent yet. A planted record must never stop a revocation: only the endpoint's own
 * memory of what it applied lets it skip the write, never what Redis says.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, RedisReplayGuard, Revocations } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { logoutInstance } from '../../support/logout-instance.js';
import { nextEvent, until } from '../../support/events.js';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 3 }, (_, i) => ({ app: `replay${i}`, env: 'prod' })) });
const closeLater = closeAfterEach();
let ns = 0;
const ISSUER = 'https://sso.example.test/realms/shop';
let key: RealmKey;

beforeAll(async () => {
  key = await realmKey('realm-1', 'ES256');
});

const instance = (user: string) => logoutInstance(server, user, key, ISSUER, closeLater);

/** What the app-env's revocations wrote to Redis: entries in its event log, messages on its channel (as the server's admin sees them). */
async function watch(redis: KccRedis): Promise<{ logEntries: () => Promise<number>; messages: () => number }> {
  const admin = closeLater(await server.admin());
  const subscriber = closeLater(await server.admin());
  let messages = 0;
  subscriber.on('message', () => void (messages += 1));
  await subscriber.subscribe(redis.channel('revocations'));
  const log = redis.key('revocation-events');
  return { logEntries: async () => Number(await admin.xlen(log)), messages: () => messages };
}

const post = (token: string) => ({ contentType: FORM_TYPE, body: form(token) });

describe('a replayed logout token', () => {
  it('50 replays to the instance that took it write nothing: no log entry, no message; each is 400 "jti" already used', async () => {
    const user = `replay${ns++}-prod`;
    const { redis, revocations, logout } = await instance(user);
    const seen = await watch(redis);
    const token = await signToken(key, logoutClaims(ISSUER, { sid: 'victim-session' }));
    expect((await logout(post(token))).status).toBe(200);
    await until(() => seen.messages() === 1, 'the logout\'s message');
    const [entries, written] = [await seen.logEntries(), revocations.stats.batchesWritten];
    expect(entries).toBe(1);

    for (let i = 0; i < 50; i++) {
      const replay = await logout(post(token));
      expect(replay.status).toBe(400);
      expect(JSON.parse(replay.body)).toEqual({ error: 'invalid_request', error_description: 'invalid logout_token: "jti" already used' });
    }
    // A revocation written afterwards: once its message is heard, any message of the replays would have been too.
    await revocations.revokeSession('after-the-replays');
    await until(() => seen.messages() >= 2, 'the later revocation\'s message');
    expect(seen.messages()).toBe(2); // before the fix, one more for each replay
    expect(await seen.logEntries()).toBe(entries + 1); // before the fix, one more for each replay
    expect(revocations.stats.batchesWritten).toBe(written + 1);
    expect(logout.stats.rejected.replayed_jti).toBe(50);
    expect(revocations.check({ sid: 'victim-session' })).toBe('revoked');
  });

  it('a replay record planted in Redis for a token not sent yet does not stop its revocation: applied here, written and heard by another instance', async () => {
    const user = `replay${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const claims = logoutClaims(ISSUER, { sid: 'planted-session' });
    const token = await signToken(key, claims);
    // The app's own credentials, as an attacker holding them would: the record RedisReplayGuard would write.
    const digest = createHash('sha256').update(claims.jti as string).digest('base64url');
    expect(await a.redis.run((r) => r.set(a.redis.key(`jti:${digest}`), 'planted', 'PX', 60_000))).toBe('OK');
    expect(await new RedisReplayGuard(a.redis).firstUse(claims.jti as string, 60_000)).toBe(false); // the record is the guard's

    const heard = nextEvent(b.revocations, 'applied');
    const response = await a.logout(post(token));
    expect(response.status).toBe(400); // the record says "used", as before the fix
    expect(a.revocations.check({ sid: 'planted-session' })).toBe('revoked');
    await heard;
    expect(b.revocations.check({ sid: 'planted-session' })).toBe('revoked');
    const late = closeLater(await Revocations.start(closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']))));
    expect(late.check({ sid: 'planted-session' })).toBe('revoked'); // durable in Redis

    // A second instance the same token reaches, with the same planted record, applies it too.
    expect((await b.logout(post(token))).status).toBe(400);
    expect(b.revocations.stats.batchesWritten).toBe(1);
  });

  it('replays spread over two instances cost one write on each, whatever their number', async () => {
    const user = `replay${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const seen = await watch(a.redis);
    const token = await signToken(key, logoutClaims(ISSUER, { sid: 'spread-session' }));
    expect((await a.logout(post(token))).status).toBe(200);
    for (let i = 0; i < 40; i++) expect((await (i % 2 === 0 ? b : a).logout(post(token))).status).toBe(400);
    await a.revocations.revokeSession('after-the-replays');
    await until(() => seen.messages() >= 3, 'the later revocation\'s message');
    expect(seen.messages()).toBe(3); // the logout, b's first replay, the later revocation
    expect(a.revocations.stats.batchesWritten + b.revocations.stats.batchesWritten).toBe(3);
  });
});
