/**
 * Keycloak's offline sessions share the `sid` of the browser session they came from, and a
 * back-channel logout of the browser session leaves them alive unless the client's "Backchannel
 * logout revoke offline sessions" is on (Keycloak's DefaultTokenManager.initLogoutToken then puts
 * `"revoke_offline_access": true` into `events`). Before, a logout refused every token of the `sid`
 * on every instance for the whole session lifetime, also the access tokens Keycloak went on issuing
 * from the offline session: failed requests for hours (an outside review of Keycloak's behaviour).
 * Now such a logout refuses the tokens of the `sid` issued up to its `iat` (+ a few seconds), on the
 * instance that took it, on the others (pub/sub) and on instances started later (the stored state).
 *
 * Attacked: a whole revocation must never be narrowed, neither by a later up-to one nor by an entry
 * planted in the up-to set with the app's own Redis credentials.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createLocalJWKSet } from 'jose';
import { KccInputError, KccRedis, RedisReplayGuard, Revocations, SESSION_UP_TO_SLACK_SECONDS, createBackchannelLogoutHandler } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { RecentWrites } from '../../../client/src/revocation/recent-writes.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { logoutInstance } from '../../support/logout-instance.js';
import { FORM_TYPE, LOGOUT_EVENT, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USERS = 20;
const server = useTestRedis({ appEnvs: Array.from({ length: USERS }, (_, i) => ({ app: `offline${i}`, env: 'prod' })), persistence: 'none' });
const closeLater = closeAfterEach();
const ISSUER = 'https://sso.example.test/realms/shop';
let key: RealmKey;
let ns = 0;

beforeAll(async () => {
  key = await realmKey('realm-1', 'ES256');
});

const instance = (user: string) => logoutInstance(server, user, key, ISSUER, closeLater);
const nowS = () => Math.floor(Date.now() / 1000);

/** Sends a logout token for `sid` issued at `iat` to `logout`; `revokeOffline` adds Keycloak's flag. */
async function logOut(logout: Awaited<ReturnType<typeof instance>>['logout'], sid: string, iat: number, revokeOffline = false): Promise<void> {
  const events = revokeOffline ? { [LOGOUT_EVENT]: {}, revoke_offline_access: true } : { [LOGOUT_EVENT]: {} };
  const token = await signToken(key, logoutClaims(ISSUER, { sid, iat, exp: iat + 120, events }));
  const answer = await logout({ contentType: FORM_TYPE, body: form(token) });
  expect(answer.status, answer.body).toBe(200);
}

/** The stored state of `sid` as the server's admin sees it: whole (expiry, ms) and up-to (epoch s) scores. */
async function stored(user: string, sid: string): Promise<{ whole: string | null; upTo: string | null }> {
  const admin = await server.admin();
  try {
    const [whole, upTo] = await Promise.all([
      admin.zscore(`${user}:{${user}}:${REVOCATION_KEYS.sessions}`, sid),
      admin.zscore(`${user}:{${user}}:${REVOCATION_KEYS.sessionsUpTo}`, sid),
    ]);
    return { whole, upTo };
  } finally {
    admin.disconnect();
  }
}

/** What `revocations` answers for tokens of `sid` refreshed from an offline session (scope offline_access) issued at each of `iats` (undefined: no iat). */
const answers = (revocations: Revocations, sid: string, iats: readonly (number | undefined)[]) => iats.map((iat) => revocations.check({ sid, sub: 'user-1', iat, scope: 'openid offline_access' }));

describe('a back-channel logout that leaves the offline session alive', () => {
  it('refuses the tokens of the sid issued up to the logout (+ the slack) and lets later ones pass: on the instance that took it, on another (pub/sub), on one started later (stored state)', async () => {
    const user = `offline${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const t = nowS() - 30;
    await logOut(a.logout, 'browser', t);
    const iats = [undefined, t - 600, t, t + SESSION_UP_TO_SLACK_SECONDS, t + SESSION_UP_TO_SLACK_SECONDS + 1, t + 25];
    const expected = ['revoked', 'revoked', 'revoked', 'revoked', 'active', 'active'];
    expect(answers(a.revocations, 'browser', iats)).toEqual(expected);
    await until(() => b.revocations.check({ sid: 'browser', iat: t }) === 'revoked', 'the logout on the other instance');
    expect(answers(b.revocations, 'browser', iats)).toEqual(expected);
    const c = await instance(user);
    expect(answers(c.revocations, 'browser', iats)).toEqual(expected);
    expect(await stored(user, 'browser')).toEqual({ whole: null, upTo: String(t) });
    // A later token that is not an offline session's (no offline_access in its scope) is refused:
    // Keycloak sends the logout tokens before it removes the online session, and refreshes it meanwhile.
    for (const revocations of [a.revocations, b.revocations, c.revocations]) {
      expect(revocations.check({ sid: 'browser', iat: t + 25, scope: 'openid profile' })).toBe('revoked');
      expect(revocations.check({ sid: 'browser', iat: t + 25 })).toBe('revoked');
    }
  });

  it('with "revoke_offline_access": true in events, Keycloak ends the offline session too: every token of the sid is refused, everywhere', async () => {
    const user = `offline${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const t = nowS() - 30;
    await logOut(a.logout, 'browser', t, true);
    const iats = [t, t + 25];
    await until(() => b.revocations.check({ sid: 'browser', iat: t }) === 'revoked', 'the logout on the other instance');
    const c = await instance(user);
    for (const revocations of [a.revocations, b.revocations, c.revocations]) expect(answers(revocations, 'browser', iats)).toEqual(['revoked', 'revoked']);
    const state = await stored(user, 'browser');
    expect(state.upTo).toBeNull();
    expect(Number(state.whole)).toBeGreaterThan(Date.now());
  });

  it('the app revoking the session whole after such a logout refuses every token again, everywhere; the up-to entry is gone from Redis', async () => {
    const user = `offline${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const t = nowS() - 30;
    await logOut(a.logout, 'browser', t);
    await until(() => b.revocations.check({ sid: 'browser', iat: t }) === 'revoked', 'the logout on the other instance');
    expect(answers(b.revocations, 'browser', [t + 25])).toEqual(['active']);
    await b.revocations.revokeSession('browser');
    await until(() => answers(a.revocations, 'browser', [t + 25])[0] === 'revoked', 'the whole revocation on the first instance');
    const c = await instance(user);
    expect(answers(c.revocations, 'browser', [t, t + 25])).toEqual(['revoked', 'revoked']);
    expect((await stored(user, 'browser')).upTo).toBeNull();
  });

  it('such a logout after the app revoked the session whole leaves it whole: everywhere, and nothing in the up-to set', async () => {
    const user = `offline${ns++}-prod`;
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const t = nowS() - 30;
    await a.revocations.revokeSession('browser');
    const wholeBefore = Number((await stored(user, 'browser')).whole);
    await logOut(b.logout, 'browser', t);
    // A marker written afterwards: once the other instance has it, it has the logout too.
    await b.revocations.revokeSession('marker');
    await until(() => a.revocations.check({ sid: 'marker' }) === 'revoked', 'the marker on the first instance');
    const c = await instance(user);
    for (const revocations of [a.revocations, b.revocations, c.revocations]) expect(answers(revocations, 'browser', [t, t + 25])).toEqual(['revoked', 'revoked']);
    const state = await stored(user, 'browser');
    expect(state.upTo).toBeNull();
    expect(Number(state.whole)).toBeGreaterThanOrEqual(wholeBefore);
  });

  it('an entry planted in the up-to set for a session revoked whole (the app\'s own credentials) does not narrow it on an instance started later', async () => {
    const user = `offline${ns++}-prod`;
    const { revocations } = await instance(user);
    await revocations.revokeSession('stolen');
    const admin = await server.admin();
    try {
      await admin.zadd(`${user}:{${user}}:${REVOCATION_KEYS.sessionsUpTo}`, String(nowS() - 3_600), 'stolen');
    } finally {
      admin.disconnect();
    }
    const later = await instance(user);
    expect(answers(later.revocations, 'stolen', [nowS() - 7_200, nowS()])).toEqual(['revoked', 'revoked']);
  });

  it('revokeSession with issuedUpTo in the future is refused, naming issuedUpTo, and changes nothing', async () => {
    const user = `offline${ns++}-prod`;
    const { revocations } = await instance(user);
    const error = await revocations.revokeSession('browser', { issuedUpTo: nowS() + 3_600 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccInputError);
    expect((error as Error).message).toMatch(/issuedUpTo .* is more than 60 s in the future/);
    expect(revocations.check({ sid: 'browser', iat: nowS() })).toBe('active');
    expect(await stored(user, 'browser')).toEqual({ whole: null, upTo: null });
    expect(revocations.stats.refused.api).toBe(1);
  });

  it.each([
    ['null (a missing iat passed on)', null, 'null'],
    ['0', 0, '0'],
    ['an empty string', '', 'string'],
    ['NaN', Number.NaN, 'NaN'],
  ])('revokeSession with issuedUpTo %s is refused, naming it, and changes nothing (an attack review: it resolved and revoked nothing)', async (_, issuedUpTo, named) => {
    const user = `offline${ns++}-prod`;
    const { revocations } = await instance(user);
    const error = await revocations.revokeSession('browser', { issuedUpTo: issuedUpTo as number }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccInputError);
    expect((error as Error).message).toContain(`issuedUpTo must be a time in epoch seconds (a positive number, e.g. the logout token's iat), got ${named}`);
    expect(await stored(user, 'browser')).toEqual({ whole: null, upTo: null });
  });

  it('revokeSession with issuedUpTo beyond any date, or not epoch seconds at all (a duration passed by mistake), is refused, naming it: a rejected promise, never a throw, nothing written (a review)', async () => {
    const user = `offline${ns++}-prod`;
    const { revocations } = await instance(user);
    let call: Promise<void> | undefined;
    expect(() => void (call = revocations.revokeSession('browser', { issuedUpTo: 1e300 }))).not.toThrow();
    await expect(call).rejects.toThrow(/issuedUpTo 1e\+300 \(beyond any date\) is more than 60 s in the future/);
    for (const mistake of [3_600, performance.now() / 1000, 1_700_000_000]) {
      await expect(revocations.revokeSession('browser', { issuedUpTo: mistake })).rejects.toThrow(/issuedUpTo .* is not a time in epoch seconds \(a duration, or performance\.now\(\) \/ 1000\?\)/);
    }
    expect(revocations.stats.refused.api).toBe(4);
    // A real time older than the lifetime is taken, as an old not-before is (a logout token that old
    // reaches a handler whose maxTokenAgeMs exceeds sessionMaxLifetimeMs).
    await expect(revocations.revokeSession('old', { issuedUpTo: nowS() - 11 * 3_600 })).resolves.toBeUndefined();
    expect(await stored(user, 'browser')).toEqual({ whole: null, upTo: null });
  });

  it('keepOfflineSessions: false makes every back-channel logout refuse every token of its sid (an app without offline tokens, or wanting a logout of an offline session to hold while Keycloak still sends it)', async () => {
    const user = `offline${ns++}-prod`;
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    const logout = createBackchannelLogoutHandler({
      issuer: ISSUER, clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis),
      jwks: createLocalJWKSet({ keys: [key.publicJwk] }), logger: { info: () => {}, warn: () => {} }, keepOfflineSessions: false,
    });
    const t = nowS() - 30;
    await logOut(logout, 'browser', t);
    expect(answers(revocations, 'browser', [t, t + 25])).toEqual(['revoked', 'revoked']);
    expect((await stored(user, 'browser')).upTo).toBeNull();
    expect(() => createBackchannelLogoutHandler({
      issuer: ISSUER, clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis),
      jwks: createLocalJWKSet({ keys: [key.publicJwk] }), keepOfflineSessions: 'no' as unknown as boolean,
    })).toThrow(/keepOfflineSessions: "no" must be true or false; a string is not read as a boolean/);
  });

  it('an up-to revocation Redis lost (a failover) is written again by the instance that wrote it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const user = `offline${ns++}-prod`;
      const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
      const revocations = closeLater(await Revocations.start(redis));
      const t = nowS() - 30;
      await revocations.revokeSession('lost', { issuedUpTo: t });
      const admin = await server.admin();
      try {
        await admin.zrem(`${user}:{${user}}:${REVOCATION_KEYS.sessionsUpTo}`, 'lost');
      } finally {
        admin.disconnect();
      }
      vi.advanceTimersByTime(60_000);
      await until(() => revocations.stats.rewrittenAfterLoss === 1, 'the loss found by the minute\'s check', 20_000);
      expect(await stored(user, 'lost')).toEqual({ whole: null, upTo: String(t) });
    } finally {
      vi.useRealTimers();
    }
  });

  it('the lost-writes check takes an up-to revocation as held when Redis has it up to that time or later, or the session whole as long; as missing otherwise', async () => {
    const user = `offline${ns++}-prod`;
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    const t = nowS() - 30;
    const exp = Date.now() + 60_000;
    const recent = new RecentWrites(redis, 3_600_000);
    const upTo = { kind: 'session', sid: 'kept', exp, upTo: t } as const;
    recent.add(upTo);
    await revocations.revokeSession('kept', { issuedUpTo: t });
    expect(await recent.missing()).toEqual([]); // before (every up-to taken for missing): written again at every check
    const later = new RecentWrites(redis, 3_600_000);
    later.add({ ...upTo, upTo: t + 10 });
    expect(await later.missing()).toEqual([{ ...upTo, upTo: t + 10 }]);
    await revocations.revokeSession('kept'); // whole, for the session lifetime: covers both
    expect(await later.missing()).toEqual([]);
  });
});
