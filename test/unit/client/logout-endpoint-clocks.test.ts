/**
 * The logout endpoints and clocks that differ (a clock review, medium): a logout token whose `iat`
 * lay more than 5 s ahead of the instance's clock (Keycloak's clock ahead, or the instance's behind:
 * a resumed VM, a host before NTP's first step) was refused 400 `bad_iat`, said only at `info` in
 * words that did not name a clock; Keycloak does not send it again, so the logout was lost on every
 * instance. Every other not-before input allows 60 s. Now the back-channel handler allows 60 s, and
 * warns (once a minute, counting the rest) by how much an `iat` it refuses lies ahead. The admin
 * endpoints allow an `expiration` 60 s past, where they allowed 5 s (an app 35 s ahead of Keycloak
 * refused every action as expired).
 *
 * Date is faked and frozen on a whole second, so that the replay records' lifetimes are exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BACKCHANNEL_LOGOUT_DEFAULTS,
  KEYCLOAK_ADMIN_DEFAULTS,
  MAX_ACTION_EXPIRATION_AHEAD_SECONDS,
  MAX_NOT_BEFORE_SKEW_SECONDS,
  createBackchannelLogoutHandler,
  createKeycloakAdminHandlers,
} from '../../../client/src/index.js';
import { FORM_TYPE, form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { ISSUER, TEXT, logoutEndpointFixture, now } from '../../support/logout-endpoint-fixture.js';

const fx = logoutEndpointFixture();

beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'], now: 1_800_000_000_000 }));
afterEach(() => void vi.useRealTimers());

/** A logout token as Keycloak's clock, `aheadS` ahead of this instance's, stamps it: `exp` 2 minutes after `iat`. */
async function logoutToken(aheadS: number, claims: Record<string, unknown> = {}): Promise<{ contentType: string; body: string }> {
  const iat = now() + aheadS;
  return { contentType: FORM_TYPE, body: form(await signToken(fx.key, logoutClaims(ISSUER, { iat, exp: iat + 120, ...claims }))) };
}

describe('back-channel logout: Keycloak\'s clock ahead of this instance\'s', () => {
  it('allows the 60 s every other not-before input allows', () => {
    expect(BACKCHANNEL_LOGOUT_DEFAULTS.clockToleranceMs).toBe(MAX_NOT_BEFORE_SKEW_SECONDS * 1000);
  });

  it.each([6, 45, 60])('%i s ahead: accepted, and its jti remembered until the token could no longer be accepted (exp + 60 s)', async (aheadS) => {
    const handler = createBackchannelLogoutHandler(fx.realm());
    expect((await handler(await logoutToken(aheadS))).status).toBe(200);
    expect(fx.sink.sessions).toEqual(['session-1']);
    // exp = iat + 120 s, and jose accepts it until exp + the tolerance; 1 s more as the margin.
    expect(fx.sink.jtis.map((j) => j.ttlMs)).toEqual([(aheadS + 120 + 60 + 1) * 1000]);
    expect(fx.warnings).toEqual([]);
  });

  it('a token naming only sub, 45 s ahead: the user\'s not-before is its iat, on Keycloak\'s clock', async () => {
    const handler = createBackchannelLogoutHandler(fx.realm());
    expect((await handler(await logoutToken(45, { sid: undefined }))).status).toBe(200);
    expect(fx.sink.subjects).toEqual([{ sub: 'user-1', notBefore: now() + 45 }]);
  });

  it('61 s ahead: 400 bad_iat "in the future", warned with how far ahead and why, once a minute with the count of the rest', async () => {
    const handler = createBackchannelLogoutHandler(fx.realm());
    const refused = await handler(await logoutToken(61));
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({ error: 'invalid_request', error_description: 'invalid logout_token: "iat" claim in the future' });
    const warning =
      'back-channel logout refused: its "iat" is 61 s ahead of this instance\'s clock, more than clockToleranceMs (60 s) allows: ' +
      'the identity provider\'s clock and this instance\'s differ (keep both on NTP). Keycloak does not send the token again: this logout is lost';
    expect(fx.warnings).toEqual([warning]);
    for (let i = 0; i < 3; i++) expect((await handler(await logoutToken(90))).status).toBe(400);
    expect(fx.warnings).toHaveLength(1);
    vi.setSystemTime(Date.now() + 60_000);
    expect((await handler(await logoutToken(300))).status).toBe(400);
    expect(fx.warnings[1]).toBe(`${warning.replace('61 s', '300 s')} (3 more like it since the last such warning, not logged)`);
    expect(handler.stats.rejected.bad_iat).toBe(5);
    expect(fx.sink.revocations).toBe(0);
  });

  it('a token too old is a 400 "too old", and no clock warning; a tolerance set lower is the one named', async () => {
    const handler = createBackchannelLogoutHandler(fx.realm());
    const old = await handler(await logoutToken(-3_600, { exp: now() + 60 }));
    expect(JSON.parse(old.body)).toEqual({ error: 'invalid_request', error_description: 'invalid logout_token: "iat" claim too old' });
    expect(fx.warnings).toEqual([]);
    const strict = createBackchannelLogoutHandler({ ...fx.realm(), clockToleranceMs: 5_000 });
    expect((await strict(await logoutToken(6))).status).toBe(400);
    expect(fx.warnings).toEqual([expect.stringMatching(/^back-channel logout refused: its "iat" is 6 s ahead of this instance's clock, more than clockToleranceMs \(5 s\) allows/)]);
  });
});

describe('Keycloak admin actions: this instance\'s clock ahead of Keycloak\'s', () => {
  /** An admin action as Keycloak sends it when its clock runs `behindS` behind this instance's: `expiration` = its now + 30 s. */
  const sentBehind = (behindS: number, action: Record<string, unknown>) => fx.adminAction({ expiration: now() - behindS + 30, ...action });

  it('allows an expiration 60 s past, as the back-channel endpoint allows its exp', () => {
    expect(KEYCLOAK_ADMIN_DEFAULTS.clockToleranceMs).toBe(MAX_NOT_BEFORE_SKEW_SECONDS * 1000);
  });

  it.each([[80, 11_000], [90, 1_000]])('%i s ahead: k_logout and k_push_not_before accepted, each id remembered until its expiration + 60 s (%i ms)', async (behindS, ttlMs) => {
    const admin = createKeycloakAdminHandlers({ enabled: true, ...fx.realm() });
    expect((await admin.logout({ contentType: TEXT, body: await sentBehind(behindS, { action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] }) })).status).toBe(200);
    expect((await admin.pushNotBefore({ contentType: TEXT, body: await sentBehind(behindS, { action: 'PUSH_NOT_BEFORE', notBefore: now() - 120 }) })).status).toBe(200);
    expect(fx.sink.sessions).toEqual(['kc-1']);
    expect(fx.sink.pushes.map((p) => p.notBefore)).toEqual([now() - 120]);
    // expiration = now - behind + 30 s; + 60 s tolerance; + 1 s margin (1 s at least)
    expect(fx.sink.jtis.map((j) => j.ttlMs)).toEqual([ttlMs, ttlMs]);
  });

  it('91 s ahead: 400 expired, nothing applied', async () => {
    const admin = createKeycloakAdminHandlers({ enabled: true, ...fx.realm() });
    const refused = await admin.logout({ contentType: TEXT, body: await sentBehind(91, { action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] }) });
    expect(refused.status).toBe(400);
    expect(admin.logout.stats.rejected.expired).toBe(1);
    expect(fx.sink.revocations).toBe(0);
  });

  it('Keycloak\'s clock 60 s ahead: accepted, the id remembered for the whole window (90 s + 60 s + 1 s); 61 s ahead is out of range, whatever the tolerance', async () => {
    const admin = createKeycloakAdminHandlers({ enabled: true, ...fx.realm() });
    expect((await admin.logout({ contentType: TEXT, body: await sentBehind(-60, { action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-2'] }) })).status).toBe(200);
    expect(fx.sink.jtis.map((j) => j.ttlMs)).toEqual([(MAX_ACTION_EXPIRATION_AHEAD_SECONDS + 60 + 1) * 1000]);
    const lenient = createKeycloakAdminHandlers({ enabled: true, ...fx.realm(), clockToleranceMs: 3_600_000 });
    const refused = await lenient.logout({ contentType: TEXT, body: await sentBehind(-61, { action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-3'] }) });
    expect(refused.status).toBe(400);
    expect(lenient.logout.stats.rejected.bad_expiration).toBe(1);
  });
});
