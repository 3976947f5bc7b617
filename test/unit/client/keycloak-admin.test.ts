import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RealmKey, hmacToken, publicKeyPem, realmKey, unsignedToken } from '../../support/logout-tokens.js';
import { RecordingSink } from '../../support/recording-sink.js';
import {
  KccConfigError,
  type AdminRejectionReason,
  type EndpointRequest,
  KEYCLOAK_ADMIN_PATHS,
  type KeycloakAdminHandlers,
  type KeycloakAdminOptions,
  createKeycloakAdminHandlers,
} from '../../../client/src/index.js';

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
const sign = (key: RealmKey, action: Action): Promise<string> =>
  new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);

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
      expect(sink.jtis[0]!.ttlMs).toBeLessThanOrEqual(36_000);
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

    it('PUSH_NOT_BEFORE: client-wide not-before; notBefore 0 (Keycloak\'s "clear") lowers nothing', async () => {
      const action = pushAction();
      expect((await admin.pushNotBefore(post(await sign(key, action), 'text/plain'))).status).toBe(200);
      expect(sink.clientWide).toEqual([action.notBefore]);
      expect((await admin.pushNotBefore(post(await sign(key, pushAction({ notBefore: 0 }))))).status).toBe(200);
      expect(sink.clientWide).toEqual([action.notBefore]);
      expect(admin.pushNotBefore.stats.accepted).toBe(2);
    });
  });

  type Case = [name: string, endpoint: keyof KeycloakAdminHandlers, reason: AdminRejectionReason, request: () => Promise<EndpointRequest>];
  const cases: Case[] = [
    ['a PUSH_NOT_BEFORE action sent to k_logout', 'logout', 'wrong_action', async () => post(await sign(key, pushAction()))],
    ['a LOGOUT action sent to k_push_not_before', 'pushNotBefore', 'wrong_action', async () => post(await sign(key, logoutAction()))],
    ['an unknown action', 'logout', 'wrong_action', async () => post(await sign(key, logoutAction({ action: 'TEST_AVAILABLE' })))],
    ['an expired LOGOUT', 'logout', 'expired', async () => post(await sign(key, logoutAction({ expiration: now() - 60 })))],
    ['an expired PUSH_NOT_BEFORE', 'pushNotBefore', 'expired', async () => post(await sign(key, pushAction({ expiration: now() - 60 })))],
    ['another client\'s resource', 'logout', 'bad_resource', async () => post(await sign(key, logoutAction({ resource: 'reports' })))],
    ['another client\'s resource (push)', 'pushNotBefore', 'bad_resource', async () => post(await sign(key, pushAction({ resource: 'reports' })))],
    ['a bad signature', 'logout', 'bad_signature', async () => post(await sign(otherKeySameKid, logoutAction()))],
    ['a bad signature (push)', 'pushNotBefore', 'bad_signature', async () => post(await sign(otherKeySameKid, pushAction()))],
    ['an unknown kid', 'logout', 'unknown_kid', async () => post(await sign(strangerKey, logoutAction()))],
    ['alg none', 'logout', 'unsupported_alg', async () => post(unsignedToken(logoutAction(), key.kid))],
    ['HS256 keyed with the realm public key', 'pushNotBefore', 'unsupported_alg', async () => post(hmacToken(pushAction(), key.kid, await publicKeyPem(key)))],
    ['a payload without id', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ id: undefined })))],
    ['a payload with a string expiration', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ expiration: String(now() + 30) })))],
    ['session ids that are not strings', 'logout', 'bad_payload', async () => post(await sign(key, logoutAction({ keycloakSessionIds: [1, 2] })))],
    ['a JSON array payload', 'logout', 'bad_payload', async () => post(await new CompactSign(Buffer.from('[]')).setProtectedHeader({ alg: 'RS256', kid: 'realm-1' }).sign(key.privateKey))],
    ['not a JWS', 'logout', 'malformed_token', async () => post('LOGOUT')],
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
    sink.failing.add('revokeAllBefore');
    const response = await admin.pushNotBefore(post(token));
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body)).toEqual({ error: 'temporarily_unavailable' });
    sink.failing.clear();
    expect((await admin.pushNotBefore(post(token))).status).toBe(200);
    expect(admin.pushNotBefore.stats).toMatchObject({ accepted: 1, unavailable: 1 });
  });
});
