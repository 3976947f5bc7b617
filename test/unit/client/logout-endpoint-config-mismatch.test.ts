/**
 * A review of input validation (medium): with a wrong `issuer` (a "/" at the end of a realm other
 * than Keycloak's shape, a typo) or `clientId` ('Shop' for 'shop'), every back-channel logout was
 * answered 400 `"iss" claim mismatch` / `"aud" claim mismatch` and logged at `info` only, which the
 * default logger drops: Keycloak does not send a token again, so every logout was lost in silence.
 * These tokens passed the realm's signature check: the option is wrong, not the token. Now warned,
 * at most once a minute for each option, naming the option, its value and what the token carried.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBackchannelLogoutHandler } from '../../../client/src/index.js';
import { FORM_TYPE, form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { ISSUER, logoutEndpointFixture } from '../../support/logout-endpoint-fixture.js';

const fx = logoutEndpointFixture();
const logout = async (claims: Record<string, unknown> = {}) => ({ contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER, claims))) });

describe('back-channel logout: a token signed by the realm whose iss or aud does not match the options', () => {
  afterEach(() => void vi.useRealTimers());

  it('a wrong issuer: every logout refused (400 bad_iss, counted), warned once a minute naming issuer, its value and the token\'s "iss"', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const issuer = 'https://sso.example.test/auth/realms/shop';
    const handler = createBackchannelLogoutHandler({ ...fx.realm(), issuer });
    for (let i = 0; i < 3; i++) {
      const response = await handler(await logout());
      expect(response.status).toBe(400);
      expect(JSON.parse(response.body).error_description).toBe('invalid logout_token: "iss" claim mismatch');
    }
    const warning = `back-channel logout refused: the token is signed by the realm, but its "iss" is "${ISSUER}", not issuer ("${issuer}"): ` +
      'set issuer to the realm\'s issuer exactly as in its tokens (Keycloak\'s: https://<host>/realms/<realm>, no "/" at the end). ' +
      'Every logout is refused until then, and Keycloak does not send a token again: these logouts are lost';
    expect(fx.warnings).toEqual([warning]);
    vi.setSystemTime(Date.now() + 60_000);
    await handler(await logout());
    expect(fx.warnings).toEqual([warning, `${warning} (2 more like it since the last such warning, not logged)`]);
    expect(handler.stats.rejected.bad_iss).toBe(4);
    expect(fx.sink.revocations).toBe(0);
  });

  it('a wrong clientId: warned naming clientId, its value and the token\'s "aud" (a list shown as one); the issuer\'s warning is apart', async () => {
    const handler = createBackchannelLogoutHandler({ ...fx.realm(), clientId: 'Shop' });
    expect((await handler(await logout())).status).toBe(400);
    expect((await handler(await logout({ aud: ['shop', 'account'] }))).status).toBe(400);
    expect(fx.warnings).toEqual([
      'back-channel logout refused: the token is signed by the realm, but its "aud" is "shop", which does not contain clientId ("Shop"): ' +
        'set clientId to this client\'s id in the realm, exactly (case counts). Every logout is refused until then, and Keycloak does not send a token again: these logouts are lost',
    ]);
    expect(handler.stats.rejected.bad_aud).toBe(2);
    const both = createBackchannelLogoutHandler({ ...fx.realm(), clientId: 'Shop', issuer: 'https://other.example.test/realms/shop' });
    fx.warnings.length = 0;
    await both(await logout());
    await both(await logout({ iss: 'https://other.example.test/realms/shop', aud: ['shop', 'account'] }));
    expect(fx.warnings).toEqual([expect.stringContaining('not issuer ("https://other.example.test/realms/shop")'), expect.stringContaining('its "aud" is ["shop", "account"], which does not contain clientId ("Shop")')]);
  });

  it('a token without iss or aud, or one whose signature fails, is no issuer or clientId mismatch: not warned as one (the signature\'s failure is warned as the key set\'s)', async () => {
    const handler = createBackchannelLogoutHandler(fx.realm());
    expect((await handler(await logout({ iss: undefined }))).status).toBe(400);
    expect((await handler(await logout({ aud: undefined }))).status).toBe(400);
    const forged = (await signToken(fx.key, logoutClaims('https://evil.example.test/realms/shop'))).replace(/\.[^.]+$/, '.AAAA');
    expect((await handler({ contentType: FORM_TYPE, body: form(forged) })).status).toBe(400);
    expect(handler.stats.rejected).toMatchObject({ bad_iss: 1, bad_aud: 1, bad_signature: 1 });
    expect(fx.warnings).toEqual([expect.stringMatching(/^back-channel logout refused \(bad_signature, 1 so far\): its signature does not verify/)]);
  });
});
