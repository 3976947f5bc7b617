/**
 * The logout endpoints against replays (an attack review of the logout endpoint, low): a replay of what an endpoint applied and recorded itself is refused without applying
 * it again (before, each replay was applied, written to Redis and published, then refused); a
 * replay record found elsewhere (planted in Redis) never stops a revocation.
 */
import { randomUUID } from 'node:crypto';
import { CompactSign } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { createBackchannelLogoutHandler, createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { FORM_TYPE, form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { ISSUER, TEXT, logoutEndpointFixture, now } from '../../support/logout-endpoint-fixture.js';

const fx = logoutEndpointFixture();
const { realm, adminAction } = fx;
const backchannel = () => createBackchannelLogoutHandler(realm());
const admin = () => createKeycloakAdminHandlers({ enabled: true, ...realm() });

describe('replays of what the endpoint applied itself', () => {
  it('back-channel logout: 20 replays of an accepted token apply nothing again and ask Redis nothing', async () => {
    const handler = backchannel();
    const token = await signToken(fx.key, logoutClaims(ISSUER, { sid: 'session-1' }));
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(400);
    expect(fx.sink.sessions).toEqual(['session-1']); // before the fix: 21 times
    expect(fx.sink.jtis).toHaveLength(1);
    expect(handler.stats.rejected.replayed_jti).toBe(20);
  });

  it('back-channel logout: a jti recorded elsewhere (a record planted in Redis) still has its revocation applied, once', async () => {
    const handler = backchannel();
    const claims = logoutClaims(ISSUER, { sid: undefined, sub: 'user-7', iat: now() - 2 });
    await fx.sink.firstUse(claims.jti as string, 60_000); // the record exists before the token is sent
    const token = await signToken(fx.key, claims);
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(400);
    expect(fx.sink.subjects).toEqual([{ sub: 'user-7', notBefore: claims.iat }]);
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(400);
    expect(fx.sink.subjects).toHaveLength(1); // applied here now: the replay is not
  });

  it('back-channel logout: a token whose revocation failed is applied again when sent again', async () => {
    const handler = backchannel();
    const token = await signToken(fx.key, logoutClaims(ISSUER, { sid: 'session-2' }));
    fx.sink.failing.add('firstUse');
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(503);
    fx.sink.failing.clear();
    expect((await handler({ contentType: FORM_TYPE, body: form(token) })).status).toBe(200);
    expect(fx.sink.sessions).toEqual(['session-2', 'session-2']);
  });

  it('k_logout "log out all" without a notBefore: a replay does not raise the cut-off to its own now', async () => {
    const handlers = admin();
    const token = await adminAction({ action: 'LOGOUT', notBefore: 0 });
    expect((await handlers.logout({ contentType: TEXT, body: token })).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 20_000 });
    try {
      const replay = await handlers.logout({ contentType: TEXT, body: token });
      expect(replay.status).toBe(400);
      expect(JSON.parse(replay.body).error_description).toBe('invalid admin action: "id" already used');
    } finally {
      vi.useRealTimers();
    }
    expect(fx.sink.clientWide).toHaveLength(1); // before the fix: a second cut-off, 20 s later
  });

  it('k_logout with session ids and k_push_not_before: replays apply and relay nothing again; a planted record does not stop one not applied yet', async () => {
    const handlers = admin();
    const logout = await adminAction({ action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] });
    const push = await adminAction({ action: 'PUSH_NOT_BEFORE', notBefore: now() - 10 });
    expect((await handlers.logout({ contentType: TEXT, body: logout })).status).toBe(200);
    expect((await handlers.pushNotBefore({ contentType: TEXT, body: push })).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      expect((await handlers.logout({ contentType: TEXT, body: logout })).status).toBe(400);
      expect((await handlers.pushNotBefore({ contentType: TEXT, body: push })).status).toBe(400);
    }
    expect(fx.sink.sessions).toEqual(['kc-1']);
    expect(fx.sink.pushes).toHaveLength(1);

    const id = randomUUID();
    await fx.sink.firstUse(`keycloak-admin:${id}`, 60_000); // planted
    const planted = await new CompactSign(Buffer.from(JSON.stringify({ id, expiration: now() + 30, resource: 'shop', action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-2'] })))
      .setProtectedHeader({ alg: fx.key.alg, kid: fx.key.kid, typ: 'JWT' })
      .sign(fx.key.privateKey);
    expect((await handlers.logout({ contentType: TEXT, body: planted })).status).toBe(400);
    expect(fx.sink.sessions).toEqual(['kc-1', 'kc-2']);
  });
});
