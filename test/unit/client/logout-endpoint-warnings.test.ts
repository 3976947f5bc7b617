/**
 * The logout endpoints' 503 warnings (an attack review of the logout endpoint, medium): while the
 * realm's JWKS failed, each forged token with a made-up `kid` was answered 503 with a warning of its
 * own. Now at most one a minute for each cause, the next one counting those not logged; the
 * handler's `stats.unavailable` still counts every 503.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBackchannelLogoutHandler, createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { FORM_TYPE, form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { ISSUER, TEXT, logoutEndpointFixture, now } from '../../support/logout-endpoint-fixture.js';

const fx = logoutEndpointFixture();
const { realm, adminAction } = fx;
const backchannel = () => createBackchannelLogoutHandler(realm());

describe('503s are warned once a minute for each cause, the next warning counting the rest', () => {
  afterEach(() => void vi.useRealTimers());
  const keysDown = async (): Promise<never> => {
    throw new Error('fetch failed: connect ECONNREFUSED');
  };

  it('back-channel logout: the realm JWKS unavailable, and Redis failing, each warned once, every 503 counted', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const down = createBackchannelLogoutHandler({ ...realm(), jwks: keysDown });
    for (let i = 0; i < 30; i++) expect((await down({ contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER))) })).status).toBe(503);
    const handler = backchannel();
    fx.sink.failing.add('revokeSession');
    for (let i = 0; i < 3; i++) expect((await handler({ contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER))) })).status).toBe(503);
    expect(fx.warnings).toEqual([
      'back-channel logout not completed: the realm JWKS is unavailable; answered 503 (Keycloak does not send the token again)',
      'back-channel logout not completed: the revocation could not be stored; answered 503 (Keycloak does not send the token again)',
    ]);
    expect(down.stats.unavailable).toBe(30);
    vi.setSystemTime(Date.now() + 59_999);
    await down({ contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER))) });
    expect(fx.warnings).toHaveLength(2);
    vi.setSystemTime(Date.now() + 1);
    await down({ contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER))) });
    expect(fx.warnings[2]).toBe('back-channel logout not completed: the realm JWKS is unavailable; answered 503 (Keycloak does not send the token again) (30 more like it since the last such warning, not logged)');
    expect(down.stats.unavailable).toBe(32);
  });

  it('Keycloak admin endpoints: the realm JWKS unavailable, warned once a minute by each endpoint', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const handlers = createKeycloakAdminHandlers({ enabled: true, ...realm(), jwks: keysDown });
    for (let i = 0; i < 10; i++) {
      expect((await handlers.logout({ contentType: TEXT, body: await adminAction({ action: 'LOGOUT', notBefore: 0 }) })).status).toBe(503);
      expect((await handlers.pushNotBefore({ contentType: TEXT, body: await adminAction({ action: 'PUSH_NOT_BEFORE', notBefore: 0 }) })).status).toBe(503);
    }
    expect(fx.warnings).toEqual([
      'Keycloak k_logout not applied: the realm JWKS is unavailable; answered 503',
      'Keycloak k_push_not_before not applied: the realm JWKS is unavailable; answered 503',
    ]);
    expect(handlers.logout.stats.unavailable).toBe(10);
  });
});
