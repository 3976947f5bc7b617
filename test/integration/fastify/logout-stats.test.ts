/**
 * An on-call review: the logout handlers' counts (`handler.stats`: rejections by reason,
 * `unavailable`) could not be reached by users of the Fastify plugin, whom docs/logout-sync.md told
 * to alarm on them. Now `fastify.kcc.logoutStats()` returns a copy of each mounted route's counts.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORM_TYPE, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { CLIENT_ID, appWith, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

const now = () => Math.floor(Date.now() / 1000);

describe('fastify.kcc.logoutStats(), against the real redis-server', () => {
  const { server, realm } = useRedisAndRealm();
  const logger = recordingLogger();
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await appWith(pluginOptions(server, realm, { keycloakAdmin: { enabled: true }, logger }));
  });
  afterAll(() => app?.close());

  const logout = async (token: Promise<string>) =>
    (await app.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': FORM_TYPE }, payload: form(await token) })).statusCode;
  const kLogout = async (action: Record<string, unknown>) => {
    const body = await new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: now() + 30, resource: CLIENT_ID, action: 'LOGOUT', notBefore: 0, ...action })))
      .setProtectedHeader({ alg: realm.key.alg, kid: realm.key.kid, typ: 'JWT' })
      .sign(realm.key.privateKey);
    return (await app.inject({ method: 'POST', url: '/k_logout', headers: { 'content-type': 'text/plain' }, payload: body })).statusCode;
  };

  it('counts each route\'s answers, by reason, as the handlers do; a copy at each call', async () => {
    const before = app.kcc.logoutStats();
    expect(before.backchannelLogout).toMatchObject({ accepted: 0, unavailable: 0, unavailableInCooldown: 0, rejected: { unknown_kid: 0, bad_aud: 0 } });
    expect(before.keycloakAdmin?.logout).toMatchObject({ accepted: 0, unavailable: 0, rejected: { bad_resource: 0 } });
    expect(before.keycloakAdmin?.pushNotBefore.accepted).toBe(0);

    expect(await logout(signToken(realm.key, logoutClaims(realm.issuer, { aud: CLIENT_ID, sid: `sid-${randomUUID()}` })))).toBe(200);
    const stranger = await realmKey('stranger', 'ES256');
    expect(await logout(signToken(stranger, logoutClaims(realm.issuer, { aud: CLIENT_ID })))).toBe(400);
    expect(await logout(signToken(realm.key, logoutClaims(realm.issuer, { aud: 'another-client' })))).toBe(400);
    expect(await kLogout({ keycloakSessionIds: [`kc-${randomUUID()}`] })).toBe(200);
    expect(await kLogout({ resource: 'another-client' })).toBe(400);

    const after = app.kcc.logoutStats();
    expect(after.backchannelLogout).toMatchObject({ accepted: 1, unavailable: 0, rejected: { unknown_kid: 1, bad_aud: 1, bad_signature: 0 } });
    expect(after.keycloakAdmin?.logout).toMatchObject({ accepted: 1, rejected: { bad_resource: 1 } });
    expect(after.keycloakAdmin?.pushNotBefore).toMatchObject({ accepted: 0, rejected: { bad_resource: 0 } });
    // Copies: the first is as it was, and changing one changes nothing.
    expect(before.backchannelLogout).toMatchObject({ accepted: 0, rejected: { unknown_kid: 0 } });
    after.backchannelLogout!.rejected.unknown_kid = 99;
    expect(app.kcc.logoutStats().backchannelLogout!.rejected.unknown_kid).toBe(1);

    // The plugin's routes share its realm keys: the warnings name the realm's JWKS URL.
    expect(logger.lines).toContainEqual(expect.stringContaining(`warn back-channel logout refused (unknown_kid, 1 so far): no key in the realm JWKS (${realm.issuer}/protocol/openid-connect/certs)`));
    expect(logger.lines).toContainEqual(expect.stringMatching(/^warn Keycloak k_logout refused: the action is signed by the realm, but its "resource" is "another-client", not clientId \("shop"\)/));
  });

  it('counts the 503s of a realm JWKS that cannot be fetched (warned with its URL); routes not mounted are undefined', async () => {
    const lines = recordingLogger();
    // Port 1 on loopback: connection refused.
    const down = await appWith(pluginOptions(server, realm, { realmKeys: { jwksUri: 'http://127.0.0.1:1/realms/shop/certs' }, logger: lines, routes: { jwks: false } }));
    try {
      const response = await down.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': FORM_TYPE }, payload: form(await signToken(realm.key, logoutClaims(realm.issuer, { aud: CLIENT_ID }))) });
      expect(response.statusCode).toBe(503);
      expect(down.kcc.logoutStats()).toEqual({ backchannelLogout: expect.objectContaining({ accepted: 0, unavailable: 1 }), keycloakAdmin: undefined });
      expect(lines.lines).toContainEqual(expect.stringMatching(/^warn back-channel logout not completed: the realm JWKS is unavailable \(http:\/\/127\.0\.0\.1:1\/realms\/shop\/certs\); answered 503/));
    } finally {
      await down.close();
    }
    const none = await appWith(pluginOptions(server, realm, { routes: { backchannelLogout: false } }));
    try {
      expect(none.kcc.logoutStats()).toEqual({ backchannelLogout: undefined, keycloakAdmin: undefined });
    } finally {
      await none.close();
    }
  });
});
