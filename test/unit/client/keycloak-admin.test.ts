import { randomUUID } from 'node:crypto';
import { CompactSign, SignJWT, createLocalJWKSet } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RealmKey, hmacToken, logoutClaims, publicKeyPem, realmKey, unsignedToken } from '../../support/logout-tokens.js';
import { until } from '../../support/events.js';
import { RecordingSink } from '../../support/recording-sink.js';
import {
  KccConfigError,
  KccInputError,
  type AdminRejectionReason,
  type EndpointRequest,
  KEYCLOAK_ADMIN_PATHS,
  MAX_ACTION_EXPIRATION_AHEAD_SECONDS,
  MAX_NOT_BEFORE_SKEW_SECONDS,
  type KeycloakAdminHandlers,
  type KeycloakAdminOptions,
  createKeycloakAdminHandlers,
  createKeycloakPushVerifier,
} from '../../../client/src/index.js';
import { isVerifiedKeycloakPush } from '../../../client/src/revocation/keycloak-admin-action.js';
import { NOT_BEFORE_READ_SLACK_SECONDS } from '../../../client/src/revocation/revocation-event.js';
import { applyAndRecord } from '../../../client/src/revocation/revocation-endpoint.js';

const ISSUER = 'https://sso.example.test/realms/shop';
/** What Keycloak's HttpClientProvider.postText sends (ContentType.TEXT_PLAIN). */
const TEXT = 'text/plain; charset=ISO-8859-1';
const quiet = { info: () => {}, warn: () => {} };
const now = () => Math.floor(Date.now() / 1000);

type Action = Record<string, unknown>;
/** Keycloak's LogoutAction / PushNotBeforeAction as Jackson writes it (null fields omitted). */
const logoutAction = (overrides: Action = {}): Action => ({ id: randomUUID(), expiration: now() + 30, resource: 'shop', action: 'LOGOUT', notBefore: now(), ...overrides });
const pushAction = (overrides: Action = {}): Action => ({ id: randomUUID(), expiration: now() + 30, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore: now() - 10, ...overrides });

/** Signs like Keycloak's DefaultTokenManager.encode: JWS, header typ JWT, realm key and alg. */
const sign = (key: RealmKey, action: Action, header: Record<string, unknown> = { typ: 'JWT' }): Promise<string> =>
  new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);

/**
 * An access token the realm signed, as Keycloak issues them (iss, typ Bearer, exp, iat, jti, azp, …),
 * that also carries an admin action's members: it must not pass for one.
 */
const accessTokenWithActionClaims = (key: RealmKey, action: Action): Promise<string> =>
  new SignJWT({ ...action, typ: 'Bearer', azp: 'shop', sid: 'session-1', scope: 'openid' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(ISSUER).setSubject('user-1').setAudience('account').setIssuedAt().setExpirationTime('5m').setJti(randomUUID())
    .sign(key.privateKey);

describe('Keycloak admin endpoints (k_logout, k_push_not_before)', () => {
  let key: RealmKey;
  let otherKeySameKid: RealmKey;
  let strangerKey: RealmKey;
  let sink: RecordingSink;
  let admin: KeycloakAdminHandlers;
  const options = (): KeycloakAdminOptions => ({ enabled: true, issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink, jwks: createLocalJWKSet({ keys: [key.publicJwk] }), logger: quiet });

  beforeAll(async () => {
    [key, otherKeySameKid, strangerKey] = await Promise.all([realmKey('realm-1'), realmKey('realm-1'), realmKey('stranger')]);
  });
  beforeEach(() => {
    sink = new RecordingSink();
    admin = createKeycloakAdminHandlers(options());
  });
  const post = (body: string, contentType = TEXT): EndpointRequest => ({ contentType, body });

  it('is off unless enabled: the factory throws a KccConfigError naming the option', () => {
    expect(() => createKeycloakAdminHandlers({ ...options(), enabled: false })).toThrow(KccConfigError);
    expect(() => createKeycloakAdminHandlers({ ...options(), enabled: false })).toThrow(/\n  - enabled: Keycloak admin endpoints \(k_logout, k_push_not_before\) are off unless enabled is true/);
    expect(() => createKeycloakAdminHandlers({ ...options(), enabled: 'yes' as unknown as boolean })).toThrow(/\n  - enabled:/);
    expect(KEYCLOAK_ADMIN_PATHS).toEqual({ logout: 'k_logout', pushNotBefore: 'k_push_not_before' });
  });

  describe('accepts', () => {
    it('LOGOUT with session ids: revokes each Keycloak session (and adapter session) id', async () => {
      const response = await admin.logout(post(await sign(key, logoutAction({ notBefore: 0, keycloakSessionIds: ['kc-1', 'kc-2'], adapterSessionIds: ['app-1', 'kc-1'] }))));
      expect(response).toEqual({ status: 200, headers: { 'Cache-Control': 'no-store' }, body: '' });
      expect(sink.sessions.sort()).toEqual(['app-1', 'kc-1', 'kc-2']);
      expect(sink.clientWide).toEqual([]);
      expect(sink.jtis[0]!.jti).toMatch(/^keycloak-admin:/);
      expect(sink.jtis[0]!.ttlMs).toBeLessThanOrEqual(91_000); // expiration (30 s) + clockToleranceMs (60 s) + 1 s
      expect(admin.logout.stats.accepted).toBe(1);
    });

    it('LOGOUT without session ids ("log out all"): client-wide not-before from the action', async () => {
      const notBefore = now() - 1;
      expect((await admin.logout(post(await sign(key, logoutAction({ notBefore }))))).status).toBe(200);
      expect(sink.clientWide).toEqual([notBefore]);
      expect(sink.sessions).toEqual([]);
    });

    it('LOGOUT without session ids and notBefore 0: client-wide not-before now', async () => {
      const before = now();
      expect((await admin.logout(post(await sign(key, logoutAction({ notBefore: 0 }))))).status).toBe(200);
      expect(sink.clientWide).toHaveLength(1);
      expect(sink.clientWide[0]).toBeGreaterThanOrEqual(before);
      expect(sink.clientWide[0]).toBeLessThanOrEqual(now());
    });

    it('LOGOUT with empty session lists revokes nothing (Keycloak adapters do the same)', async () => {
      expect((await admin.logout(post(await sign(key, logoutAction({ keycloakSessionIds: [], adapterSessionIds: [] }))))).status).toBe(200);
      expect(sink.revocations).toBe(0);
    });

    it('PUSH_NOT_BEFORE: hands the sink the verified push (value, order, the signed action itself); notBefore 0 (Keycloak\'s "Clear") too', async () => {
      const action = pushAction();
      const token = await sign(key, action);
      expect((await admin.pushNotBefore(post(token, 'text/plain'))).status).toBe(200);
      const clear = pushAction({ notBefore: 0 });
      const clearToken = await sign(key, clear);
      expect((await admin.pushNotBefore(post(clearToken))).status).toBe(200);
      expect(sink.pushes).toEqual([
        { notBefore: action.notBefore, expiration: action.expiration, id: action.id, signedAction: token },
        { notBefore: 0, expiration: clear.expiration, id: clear.id, signedAction: clearToken },
      ]);
      expect(sink.pushes.every(isVerifiedKeycloakPush)).toBe(true);
      expect(sink.clientWide).toEqual([]); // never a bare value: only the signed action lowers
      expect(admin.pushNotBefore.stats.accepted).toBe(2);
    });

    it('numbers at the edge of their ranges: notBefore now + MAX_NOT_BEFORE_SKEW_SECONDS, expiration MAX_ACTION_EXPIRATION_AHEAD_SECONDS ahead', async () => {
      const action = pushAction({ notBefore: now() + MAX_NOT_BEFORE_SKEW_SECONDS - 1, expiration: now() + MAX_ACTION_EXPIRATION_AHEAD_SECONDS - 1 });
      expect((await admin.pushNotBefore(post(await sign(key, action)))).status).toBe(200);
      expect(sink.pushes.map((p) => p.notBefore)).toEqual([action.notBefore]);
      expect(sink.jtis[0]!.ttlMs).toBeLessThanOrEqual((MAX_ACTION_EXPIRATION_AHEAD_SECONDS + 62) * 1000);
    });

    it('a JWS header without typ (Keycloak always writes "JWT", but the header is optional)', async () => {
      expect((await admin.logout(post(await sign(key, logoutAction({ keycloakSessionIds: ['kc-9'] }), {})))).status).toBe(200);
      expect(sink.sessions).toEqual(['kc-9']);
    });
  });

  type Case = [name: string, endpoint: keyof KeycloakAdminHandlers, reason: AdminRejectionReason, request: () => Promise<EndpointRequest>];
  const cases: Case[] = [
    ['a PUSH_NOT_BEFORE action sent to k_logout', 'logout', 'wrong_action', async () => post(await sign(key, pushAction()))],
    ['a LOGOUT action sent to k_push_not_before', 'pushNotBefore', 'wrong_action', async () => post(await sign(key, logoutAction()))],
    ['an unknown action', 'logout', 'wrong_action', async () => post(await sign(key, logoutAction({ action: 'TEST_AVAILABLE' })))],
    ['an expired LOGOUT', 'logout', 'expired', async () => post(await sign(key, logoutAction({ expiration: now() - 120 })))],
    ['an expired PUSH_NOT_BEFORE', 'pushNotBefore', 'expired', async () => post(await sign(key, pushAction({ expiration: now() - 120 })))],
    ['another client\'s resource', 'logout', 'bad_resource', async () => post(await sign(key, logoutAction({ resource: 'reports' })))],
    ['another client\'s resource (push)', 'pushNotBefore', 'bad_resource', async () => post(await sign(key, pushAction({ resource: 'reports' })))],
    ['a bad signature', 'logout', 'bad_signature', async () => post(await sign(otherKeySameKid, logoutAction()))],
    ['a bad signature (push)', 'pushNotBefore', 'bad_signature', async () => post(await sign(otherKeySameKid, pushAction()))],
    ['an unknown kid', 'logout', 'unknown_kid', async () => post(await sign(strangerKey, logoutAction()))],
    ['alg none', 'logout', 'unsupported_alg', async () => post(unsignedToken(logoutAction(), key.kid))],
    ['HS256 keyed with the realm public key', 'pushNotBefore', 'unsupported_alg', async () => post(hmacToken(pushAction(), key.kid, await publicKeyPem(key)))],
    ['a payload without id', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ id: undefined })))],
    ['a payload with a string expiration', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ expiration: String(now() + 30) })))],
    ['a fractional expiration', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ expiration: now() + 30.5 })))],
    ['a negative notBefore', 'pushNotBefore', 'bad_payload', async () => post(await sign(key, pushAction({ notBefore: -1 })))],
    ['a fractional notBefore', 'pushNotBefore', 'bad_payload', async () => post(await sign(key, pushAction({ notBefore: now() - 0.5 })))],
    ['expiration 1e300 with session ids (it revoked them, then answered 503)', 'logout', 'bad_expiration', async () => post(await sign(key, logoutAction({ expiration: 1e300, keycloakSessionIds: ['kc-1'] })))],
    ['expiration 1e300 (push)', 'pushNotBefore', 'bad_expiration', async () => post(await sign(key, pushAction({ expiration: 1e300 })))],
    ['expiration an hour ahead (Keycloak sends 30 s)', 'logout', 'bad_expiration', async () => post(await sign(key, logoutAction({ expiration: now() + 3_600 })))],
    ['expiration 0', 'pushNotBefore', 'bad_expiration', async () => post(await sign(key, pushAction({ expiration: 0 })))],
    ['a push of notBefore in the year 2100', 'pushNotBefore', 'future_not_before', async () => post(await sign(key, pushAction({ notBefore: 4_102_444_800 })))],
    ['a push of notBefore 1e300', 'pushNotBefore', 'future_not_before', async () => post(await sign(key, pushAction({ notBefore: 1e300 })))],
    ['a push from a Keycloak whose clock runs 2 minutes fast', 'pushNotBefore', 'future_not_before', async () => post(await sign(key, pushAction({ notBefore: now() + 120, expiration: now() + 30 })))],
    ['a push 5 s past the limit (Keycloak\'s own request is judged strictly; relayed ones get the read slack)', 'pushNotBefore', 'future_not_before', async () => post(await sign(key, pushAction({ notBefore: now() + MAX_NOT_BEFORE_SKEW_SECONDS + 5, expiration: now() + 30 })))],
    ['"log out all" with notBefore in the year 2100', 'logout', 'future_not_before', async () => post(await sign(key, logoutAction({ notBefore: 4_102_444_800 })))],
    ['a LOGOUT with session ids and a future notBefore', 'logout', 'future_not_before', async () => post(await sign(key, logoutAction({ notBefore: now() + 3_600, keycloakSessionIds: ['kc-1'] })))],
    ['an access token the realm signed, carrying an action\'s members (logout)', 'logout', 'not_admin_action', async () => post(await accessTokenWithActionClaims(key, logoutAction({ keycloakSessionIds: ['kc-1'] })))],
    ['an access token the realm signed, carrying an action\'s members (push)', 'pushNotBefore', 'not_admin_action', async () => post(await accessTokenWithActionClaims(key, pushAction({ notBefore: 0 })))],
    ['a logout token the realm signed, with an action\'s members', 'logout', 'not_admin_action', async () => post(await sign(key, { ...logoutClaims(ISSUER, { aud: 'shop' }), ...logoutAction() }))],
    ['an action with an "iss" claim', 'pushNotBefore', 'not_admin_action', async () => post(await sign(key, pushAction({ iss: ISSUER })))],
    ['an action with an "exp" claim', 'logout', 'not_admin_action', async () => post(await sign(key, logoutAction({ exp: now() + 30 })))],
    ['an action with a "typ" claim', 'logout', 'not_admin_action', async () => post(await sign(key, logoutAction({ typ: 'Bearer' })))],
    ['typ logout+jwt in the header', 'logout', 'bad_typ', async () => post(await sign(key, logoutAction(), { typ: 'logout+jwt' }))],
    ['typ at+jwt in the header (RFC 9068 access token)', 'pushNotBefore', 'bad_typ', async () => post(await sign(key, pushAction(), { typ: 'at+jwt' }))],
    ['session ids that are not strings', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ keycloakSessionIds: [1, 2] })))],
    ['a JSON array payload', 'logout', 'bad_payload', async () => post(await new CompactSign(Buffer.from('[]')).setProtectedHeader({ alg: 'RS256', kid: 'realm-1' }).sign(key.privateKey))],
    ['not a JWS', 'logout', 'malformed_token', async () => post('LOGOUT')],
    // Both were a 503 "unexpected error" (counted unavailable): the refusal's warning read the payload, JSON null (a live fuzz).
    ['three parts whose middle is JSON null, unsigned', 'logout', 'malformed_token', async () => post(`x.${Buffer.from('null').toString('base64url')}.x`)],
    ['a realm-signed JSON null payload', 'pushNotBefore', 'bad_payload', async () => post(await new CompactSign(Buffer.from('null')).setProtectedHeader({ alg: 'RS256', kid: 'realm-1', typ: 'JWT' }).sign(key.privateKey))],
    ['an empty body', 'logout', 'malformed_request', async () => post('  ')],
    ['a form body', 'logout', 'unsupported_content_type', async () => post(await sign(key, logoutAction()), 'application/x-www-form-urlencoded')],
    ['an oversized body', 'pushNotBefore', 'body_too_large', async () => post(`${await sign(key, pushAction())}${' '.repeat(65_536)}`)],
  ];

  it.each(cases)('rejects %s → 400 on %s (%s), nothing revoked', async (_name, endpoint, reason, request) => {
    const response = await admin[endpoint](await request());
    expect(response.status).toBe(400);
    expect(response.headers['Cache-Control']).toBe('no-store');
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_request' });
    expect(sink.revocations).toBe(0);
    expect(sink.jtis).toEqual([]);
    expect(admin[endpoint].stats.rejected[reason]).toBe(1);
    expect(admin[endpoint].stats.unavailable).toBe(0);
  });

  // From an attack review: a warning that throws must not turn a decided refusal into a 503 counted
  // unavailable, as a JSON null payload once did. An app's logger that throws is contained.
  it('a refusal warned through a logger that throws is still the 400 it was, counted once', async () => {
    const throwing = { info: () => {}, warn: () => { throw new Error('the logger failed'); } };
    const handlers = createKeycloakAdminHandlers({ ...options(), logger: throwing });
    // A realm-signed action for another client: a refusal that warns (it tells of a misconfiguration).
    const response = await handlers.logout(post(await sign(key, logoutAction({ resource: ['other-client'] }))));
    expect(response.status).toBe(400);
    expect(handlers.logout.stats.unavailable).toBe(0);
    expect(Object.values(handlers.logout.stats.rejected).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('rejects a replayed action id', async () => {
    const token = await sign(key, logoutAction({ keycloakSessionIds: ['kc-1'] }));
    expect((await admin.logout(post(token))).status).toBe(200);
    const replay = await admin.logout(post(token));
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body)).toEqual({ error: 'invalid_request', error_description: 'invalid admin action: "id" already used' });
    expect(new Set(sink.sessions)).toEqual(new Set(['kc-1'])); // re-applied (idempotent), nothing new revoked
  });

  it('answers 503 when the revocation store is down, and accepts the retry once it is back', async () => {
    const token = await sign(key, pushAction());
    sink.failing.add('applyKeycloakPush');
    const response = await admin.pushNotBefore(post(token));
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ error: 'temporarily_unavailable' });
    sink.failing.clear();
    expect((await admin.pushNotBefore(post(token))).status).toBe(200);
    expect(admin.pushNotBefore.stats).toMatchObject({ accepted: 1, unavailable: 1 });
  });
});

describe('Keycloak admin endpoints: apply and record', () => {
  let key: RealmKey;
  let sink: RecordingSink;
  let admin: KeycloakAdminHandlers;
  beforeAll(async () => {
    key = await realmKey('realm-1');
  });
  beforeEach(() => {
    sink = new RecordingSink();
    admin = createKeycloakAdminHandlers({ enabled: true, issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink, jwks: createLocalJWKSet({ keys: [key.publicJwk] }), logger: quiet });
  });

  it('a value the sink refuses (KccInputError: nothing applied there) is a 400, and its id is not recorded', async () => {
    sink.failing.add('revokeAllBefore');
    sink.failWith = new KccInputError('revokeAllBefore: notBefore is more than 60 s in the future');
    const response = await admin.logout({ contentType: TEXT, body: await sign(key, logoutAction({ notBefore: now() })) });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ error: 'invalid_request', error_description: 'invalid admin action: a value is out of range' });
    expect(admin.logout.stats.rejected.refused_by_sink).toBe(1);
    expect(sink.jtis).toEqual([]);
  });

  it('applyAndRecord: a record lifetime Redis would refuse is "unrecordable" before anything is applied', async () => {
    for (const ttlMs of [Infinity, Number.NaN, 0, -5, 1e300]) {
      let applied = 0;
      const outcome = await applyAndRecord(sink, `id-${ttlMs}`, ttlMs, async () => {
        applied++;
      });
      expect(outcome, String(ttlMs)).toEqual({ status: 'unrecordable' });
      expect(applied).toBe(0);
    }
    expect(sink.jtis).toEqual([]);
    expect(await applyAndRecord(sink, 'fine', 1_500.5, async () => {})).toEqual({ status: 'applied' });
  });

  // From a review of 256fe38: the outcome of steps that end after the answer went to `late` (a
  // logger) as `steps.then(late)`; a logger that threw left an unhandled rejection, which ends a
  // Node process by default.
  it('applyAndRecord: a late-outcome callback that throws (its logger failing) is contained: no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let release!: () => void;
      const applying = new Promise<void>((resolve) => (release = resolve));
      let told: string | undefined;
      const late = (outcome: { status: string }) => {
        told = outcome.status;
        throw new Error('the logger failed');
      };
      // Answered when the 1 ms wait ends: the revocation is still being applied.
      const outcome = await applyAndRecord(sink, 'late-throws', 60_000, () => applying, late, 1);
      expect(outcome).toMatchObject({ status: 'failed' });
      release();
      await until(() => told !== undefined, 'the late outcome');
      expect(told).toBe('applied');
      // Node reports a rejection left unhandled once the turn's microtasks have run.
      for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a replay of an applied push is recognised (400) and changes nothing: the same verified push again', async () => {
    const token = await sign(key, pushAction({ notBefore: 0 }));
    expect((await admin.pushNotBefore({ contentType: TEXT, body: token })).status).toBe(200);
    const replay = await admin.pushNotBefore({ contentType: TEXT, body: token });
    expect(replay.status).toBe(400);
    expect(admin.pushNotBefore.stats.rejected.replayed_id).toBe(1);
    expect(new Set(sink.pushes.map((p) => p.signedAction))).toEqual(new Set([token]));
  });
});

describe('createKeycloakPushVerifier (what every instance checks a relayed push with)', () => {
  let key: RealmKey;
  let stranger: RealmKey;
  beforeAll(async () => {
    [key, stranger] = await Promise.all([realmKey('realm-1'), realmKey('stranger')]);
  });
  const verifier = () => createKeycloakPushVerifier({ issuer: ISSUER, clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });

  it('accepts a realm-signed push long after its expiration (it stays the realm\'s word until a newer one), as a verified push', async () => {
    const action = pushAction({ expiration: now() - 86_400, notBefore: now() - 90_000 });
    const verdict = await verifier().verify(await sign(key, action));
    expect(verdict).toMatchObject({ ok: true, push: { notBefore: action.notBefore, expiration: action.expiration, id: action.id } });
    expect(verdict.ok && isVerifiedKeycloakPush(verdict.push)).toBe(true);
    expect(isVerifiedKeycloakPush({ ...(verdict.ok ? verdict.push : {}) })).toBe(false); // a copy is not verified
  });

  it('accepts a push 5 s past the limit (taken by an instance whose clock runs ahead of this one), and refuses one past the read slack', async () => {
    const near = pushAction({ notBefore: now() + MAX_NOT_BEFORE_SKEW_SECONDS + 5, expiration: now() + MAX_ACTION_EXPIRATION_AHEAD_SECONDS + 5 });
    expect(await verifier().verify(await sign(key, near))).toMatchObject({ ok: true, push: { notBefore: near.notBefore } });
    const far = pushAction({ notBefore: now() + MAX_NOT_BEFORE_SKEW_SECONDS + NOT_BEFORE_READ_SLACK_SECONDS + 5, expiration: now() + 30 });
    expect(await verifier().verify(await sign(key, far))).toMatchObject({ ok: false, reason: 'future_not_before' });
  });

  type Refused = [name: string, token: () => Promise<string>, reason: string];
  const refused: Refused[] = [
    ['a push signed by another key', () => sign(stranger, pushAction()), 'unknown_kid'],
    ['a LOGOUT', () => sign(key, logoutAction()), 'wrong_action'],
    ['another client\'s push', () => sign(key, pushAction({ resource: 'reports' })), 'bad_resource'],
    ['a realm-signed far-future push (a Keycloak clock gone wrong)', () => sign(key, pushAction({ notBefore: 4_102_444_800 })), 'future_not_before'],
    ['a push whose expiration lies in the future beyond what Keycloak sends', () => sign(key, pushAction({ expiration: now() + 3_600 })), 'bad_expiration'],
    ['a realm-signed access token', () => accessTokenWithActionClaims(key, pushAction()), 'not_admin_action'],
  ];
  it.each(refused)('refuses %s (%s)', async (_name, token, reason) => {
    expect(await verifier().verify(await token())).toMatchObject({ ok: false, reason });
  });

  it('needs a client id and the realm: one KccConfigError naming both', () => {
    expect(() => createKeycloakPushVerifier({ issuer: 'not a url', clientId: '' })).toThrow(/\(2 problems\):\n  - clientId: "" must be a non-empty string[\s\S]*\n  - issuer: "not a url" must be an absolute URL/);
  });
});
