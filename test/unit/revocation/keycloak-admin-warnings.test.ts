/**
 * An on-call review: the Keycloak admin endpoints said at `info` only (which the default logger
 * drops) what back-channel logout warns of: an action signed by the realm for another `resource`
 * (a wrong clientId: every action refused), and actions refused for a clock (`expired`,
 * `future_not_before`, an `expiration` too far ahead). Now warned the same way: at most once a minute
 * for each cause and endpoint, the next warning counting the rest, naming the option or the clocks.
 *
 * Date is faked and frozen on a whole second, so that the seconds named are exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { TEXT, logoutEndpointFixture, now } from '../../support/logout-endpoint-fixture.js';

const fx = logoutEndpointFixture();
const admin = (options: { clientId?: string } = {}) => createKeycloakAdminHandlers({ enabled: true, ...fx.realm(), ...options });
const post = async (action: Record<string, unknown>) => ({ contentType: TEXT, body: await fx.adminAction(action) });
const LOGOUT_LOST = 'Keycloak does not send the action again, nor show it as failed: this logout is lost';
const PUSH_LOST = 'Keycloak shows the push as failed: push again once this is fixed';

beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'], now: 1_800_000_000_000 }));
afterEach(() => void vi.useRealTimers());

describe('Keycloak admin endpoints: refusals that point at an option or a clock are warned', () => {
  it('a wrong clientId: every action refused (400 bad_resource, counted), warned once a minute per endpoint naming clientId, its value and the action\'s "resource"', async () => {
    const handlers = admin({ clientId: 'Shop' });
    for (let i = 0; i < 3; i++) expect((await handlers.logout(await post({ action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] }))).status).toBe(400);
    expect((await handlers.pushNotBefore(await post({ action: 'PUSH_NOT_BEFORE', notBefore: 0 }))).status).toBe(400);
    const warning = (path: string, lost: string) =>
      `Keycloak ${path} refused: the action is signed by the realm, but its "resource" is "shop", not clientId ("Shop"): ` +
      `set clientId to this client's id in the realm, exactly (case counts), or, if other clients of the realm share this admin URL, this refusal is theirs and expected. Until then every action is refused. ${lost}`;
    expect(fx.warnings).toEqual([warning('k_logout', LOGOUT_LOST), warning('k_push_not_before', PUSH_LOST)]);
    vi.setSystemTime(Date.now() + 60_000);
    await handlers.logout(await post({ action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] }));
    expect(fx.warnings[2]).toBe(`${warning('k_logout', LOGOUT_LOST)} (2 more like it since the last such warning, not logged)`);
    expect(handlers.logout.stats.rejected.bad_resource).toBe(4);
    expect(fx.sink.revocations).toBe(0);
  });

  it('expired: warned with how long ago, the tolerance and the clocks; once a minute, counting the rest', async () => {
    const handlers = admin();
    // Keycloak's clock 100 s behind: expiration = its now + 30 s, passed 70 s ago here.
    for (let i = 0; i < 2; i++) expect((await handlers.logout(await post({ action: 'LOGOUT', notBefore: 0, expiration: now() - 70 }))).status).toBe(400);
    const warning = (passedS: number) =>
      `Keycloak k_logout refused: its "expiration" passed ${passedS} s ago by this instance's clock, more than clockToleranceMs (60 s) allows; ` +
      `Keycloak sets it 30 s after sending: Keycloak's clock and this instance's differ (keep both on NTP), or the action took that long to arrive. ${LOGOUT_LOST}`;
    expect(fx.warnings).toEqual([warning(70)]);
    vi.setSystemTime(Date.now() + 60_000);
    await handlers.logout(await post({ action: 'LOGOUT', notBefore: 0, expiration: now() - 300 }));
    expect(fx.warnings).toEqual([warning(70), `${warning(300)} (1 more like it since the last such warning, not logged)`]);
    expect(handlers.logout.stats.rejected.expired).toBe(3);
  });

  it('an expiration more than 90 s ahead (Keycloak\'s clock over 60 s ahead) and a notBefore over 60 s ahead: each warned, with how far', async () => {
    const handlers = admin();
    expect((await handlers.pushNotBefore(await post({ action: 'PUSH_NOT_BEFORE', notBefore: 0, expiration: now() + 100 }))).status).toBe(400);
    expect((await handlers.pushNotBefore(await post({ action: 'PUSH_NOT_BEFORE', notBefore: now() + 3_600 }))).status).toBe(400);
    expect(fx.warnings).toEqual([
      'Keycloak k_push_not_before refused: its "expiration" is 100 s ahead of this instance\'s clock, more than 90 s allows; ' +
        `Keycloak sets it 30 s after sending, so its clock runs more than 60 s ahead: Keycloak's clock and this instance's differ (keep both on NTP). ${PUSH_LOST}`,
      'Keycloak k_push_not_before refused: its "notBefore" is 3600 s ahead of this instance\'s clock, more than 60 s allows: ' +
        `a not-before from the admin console's 'Set to now' takes the admin's browser clock (correct that computer's clock), otherwise Keycloak's clock and this instance's differ (keep both on NTP). ${PUSH_LOST}`,
    ]);
    expect(handlers.pushNotBefore.stats.rejected).toMatchObject({ bad_expiration: 1, future_not_before: 1 });
    expect(fx.sink.pushes).toEqual([]);
  });

  it('refusals of one bad request (wrong action, not an admin action, a bad payload, a replay) stay at info', async () => {
    const handlers = admin();
    await handlers.logout(await post({ action: 'PUSH_NOT_BEFORE', notBefore: 0 }));
    await handlers.logout(await post({ action: 'LOGOUT', notBefore: 0, iss: 'https://sso.example.test/realms/shop' }));
    await handlers.logout(await post({ action: 'LOGOUT', notBefore: -1 }));
    await handlers.logout({ contentType: TEXT, body: 'not-a-jws' });
    const replayed = await post({ action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-1'] });
    expect((await handlers.logout(replayed)).status).toBe(200);
    expect((await handlers.logout(replayed)).status).toBe(400);
    expect(handlers.logout.stats.rejected).toMatchObject({ wrong_action: 1, not_admin_action: 1, bad_payload: 1, malformed_token: 1, replayed_id: 1 });
    expect(fx.warnings).toEqual([]);
  });
});
