/**
 * An on-call review: with the issuer's realm wrong (or `jwksUri` pointing at another realm's JWKS),
 * the handlers fetch the other realm's keys, and every logout token and admin action is refused as
 * `unknown_kid` (or `bad_signature` when a `kid` happens to match), said at `info` only, which the
 * default logger drops: the issuer and clientId warnings come only once a signature verifies. Now
 * warned at most once a minute for each reason, naming the JWKS URL, the options to check and the
 * count, never the token. The 503 warning for a JWKS that cannot be fetched names its URL too.
 *
 * Two realms' JWKS are served over real loopback HTTP at Keycloak's paths; Keycloak's realm is `shop`.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { CompactSign, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type KccLogger, createBackchannelLogoutHandler, createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { close, listen } from '../../support/http.js';
import { FORM_TYPE, type RealmKey, form, hmacToken, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { RecordingSink } from '../../support/recording-sink.js';

const now = () => Math.floor(Date.now() / 1000);

describe('logout endpoints whose realm keys are another realm\'s', () => {
  let server: Server;
  let base: string;
  let shopKey: RealmKey;
  let otherKey: RealmKey;
  /** The `other` realm's key under the `shop` key's kid (a kid both realms happen to use). */
  let sameKidKey: RealmKey;
  let otherKeys: JWK[];
  let shopUp = true;
  let sink: RecordingSink;
  const warnings: string[] = [];
  const contexts: unknown[] = [];
  const logger: KccLogger = { info: () => {}, warn: (message, context) => void (warnings.push(message), contexts.push(context)) };
  const issuerOf = (realm: string) => `${base}/realms/${realm}`;
  const certsOf = (realm: string) => `${issuerOf(realm)}/protocol/openid-connect/certs`;
  /** What Keycloak sends from realm `shop`: signed by its key, `iss` its issuer. */
  const keycloakLogout = async () => ({ contentType: FORM_TYPE, body: form(await signToken(shopKey, logoutClaims(issuerOf('shop'), { sid: `sid-${randomUUID()}` }))) });
  const keycloakAction = async (signer: RealmKey, action: Record<string, unknown>) => ({
    contentType: 'text/plain',
    body: await new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: now() + 30, resource: 'shop', notBefore: 0, ...action })))
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .sign(signer.privateKey),
  });
  const lost = 'Keycloak does not send a token again: these logouts are lost';
  /** What the key-set warnings say to check, JWKS fetched. */
  const checks =
    'A forged token is refused so too; if Keycloak\'s are, the keys are another realm\'s than the one that signs: check that issuer names the realm Keycloak sends from ' +
    '(https://<host>/realms/<realm>) and that jwksUri (realmKeys.jwksUri in the Fastify plugin) is unset or that realm\'s JWKS.';

  beforeAll(async () => {
    [shopKey, otherKey] = await Promise.all([realmKey('shop-key', 'ES256'), realmKey('other-key', 'ES256')]);
    sameKidKey = await realmKey('shop-key', 'ES256');
    ({ server, url: base } = await listen((req, res) => {
      if (req.url === '/realms/shop/protocol/openid-connect/certs' && shopUp) {
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [shopKey.publicJwk] }));
      }
      if (req.url === '/realms/other/protocol/openid-connect/certs') {
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: otherKeys }));
      }
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('Service Unavailable');
    }));
  });
  afterAll(() => close(server));
  beforeEach(() => {
    sink = new RecordingSink();
    warnings.length = 0;
    contexts.length = 0;
    otherKeys = [otherKey.publicJwk];
    shopUp = true;
  });
  afterEach(() => void vi.useRealTimers());

  it('issuer names another realm: every logout refused as unknown_kid (its JWKS has no key of Keycloak\'s), warned once a minute with the URL, the options and the count', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    // jwksCooldownMs 0: each unknown kid refetches at once instead of waiting out jose's cooldown.
    const handler = createBackchannelLogoutHandler({ issuer: issuerOf('other'), clientId: 'shop', sink, replayGuard: sink, jwksCooldownMs: 0, logger });
    const sent = await Promise.all([keycloakLogout(), keycloakLogout(), keycloakLogout()]);
    for (const request of sent) expect((await handler(request)).status).toBe(400);
    const first = `back-channel logout refused (unknown_kid, 1 so far): no key in the realm JWKS (${certsOf('other')}) matches the token's "kid". ${checks} ${lost}`;
    expect(warnings).toEqual([first]);
    expect(contexts).toEqual([{ reason: 'unknown_kid', rejected: 1 }]);
    vi.setSystemTime(Date.now() + 60_000);
    expect((await handler(await keycloakLogout())).status).toBe(400);
    expect(warnings[1]).toBe(`${first.replace('1 so far', '4 so far')} (2 more like it since the last such warning, not logged)`);
    expect(handler.stats.rejected.unknown_kid).toBe(4);
    expect(sink.revocations).toBe(0);
    // Nothing of the tokens: no sid, sub, jti or token text.
    for (const line of warnings) {
      expect(line).not.toMatch(/sid-|user-1|eyJ/);
      for (const { body } of sent) expect(line).not.toContain(new URLSearchParams(body).get('logout_token')!.split('.')[1]);
    }
  });

  it('jwksUri another realm\'s with the right issuer: the same warning, naming that URL; a kid both realms use fails as bad_signature, warned apart', async () => {
    const handler = createBackchannelLogoutHandler({ issuer: issuerOf('shop'), jwksUri: certsOf('other'), clientId: 'shop', sink, replayGuard: sink, jwksCooldownMs: 0, logger });
    expect((await handler(await keycloakLogout())).status).toBe(400);
    otherKeys = [sameKidKey.publicJwk];
    expect((await handler(await keycloakLogout())).status).toBe(400);
    expect(handler.stats.rejected).toMatchObject({ unknown_kid: 1, bad_signature: 1 });
    expect(warnings).toEqual([
      `back-channel logout refused (unknown_kid, 1 so far): no key in the realm JWKS (${certsOf('other')}) matches the token's "kid". ${checks} ${lost}`,
      `back-channel logout refused (bad_signature, 1 so far): its signature does not verify with the key in the realm JWKS (${certsOf('other')}) that its "kid" names. ${checks} ${lost}`,
    ]);
  });

  it('algorithms leaving out the realm\'s: unsupported_alg warned, naming algorithms; with every asymmetric one allowed (HMAC refused), and the right realm: nothing warned', async () => {
    const strict = createBackchannelLogoutHandler({ issuer: issuerOf('shop'), clientId: 'shop', sink, replayGuard: sink, algorithms: ['RS256', 'PS256'], logger });
    expect((await strict(await keycloakLogout())).status).toBe(400);
    expect(warnings).toEqual([
      'back-channel logout refused (unsupported_alg, 1 so far): its "alg" is not one of algorithms (RS256, PS256). A forged token is refused so too; if Keycloak\'s are, ' +
        'algorithms (realmKeys.algorithms in the Fastify plugin) leaves out the realm\'s: Keycloak signs logout tokens with the client\'s ID token signature algorithm, admin actions with the realm\'s default. ' +
        lost,
    ]);
    warnings.length = 0;
    const right = createBackchannelLogoutHandler({ issuer: issuerOf('shop'), clientId: 'shop', sink, replayGuard: sink, logger });
    expect((await right({ contentType: FORM_TYPE, body: form(hmacToken(logoutClaims(issuerOf('shop')), shopKey.kid, 'secret')) })).status).toBe(400);
    expect(right.stats.rejected.unsupported_alg).toBe(1);
    expect((await right(await keycloakLogout())).status).toBe(200);
    expect(warnings).toEqual([]);
  });

  it('Keycloak admin endpoints: each warns of its own, once a minute, with the URL and what the refusal costs', async () => {
    const admin = createKeycloakAdminHandlers({ enabled: true, issuer: issuerOf('other'), clientId: 'shop', sink, replayGuard: sink, jwksCooldownMs: 0, logger });
    for (let i = 0; i < 2; i++) {
      expect((await admin.logout(await keycloakAction(shopKey, { action: 'LOGOUT', keycloakSessionIds: ['kc-1'] }))).status).toBe(400);
      expect((await admin.pushNotBefore(await keycloakAction(shopKey, { action: 'PUSH_NOT_BEFORE' }))).status).toBe(400);
    }
    const opening = (path: string) => `Keycloak ${path} refused (unknown_kid, 1 so far): no key in the realm JWKS (${certsOf('other')}) matches the token's "kid". `;
    expect(warnings).toEqual([
      `${opening('k_logout')}${checks} Keycloak does not send the action again, nor show it as failed: this logout is lost`,
      `${opening('k_push_not_before')}${checks} Keycloak shows the push as failed: push again once this is fixed`,
    ]);
    expect(admin.logout.stats.rejected.unknown_kid).toBe(2);
    expect(sink.revocations).toBe(0);
  });

  it('the realm JWKS answering 503: the 503 warning names its URL (origin and path), on both endpoints', async () => {
    shopUp = false;
    const handler = createBackchannelLogoutHandler({ issuer: issuerOf('shop'), clientId: 'shop', sink, replayGuard: sink, logger });
    expect((await handler(await keycloakLogout())).status).toBe(503);
    const admin = createKeycloakAdminHandlers({ enabled: true, issuer: issuerOf('shop'), jwksUri: `${certsOf('shop')}?realm=shop`, clientId: 'shop', sink, replayGuard: sink, logger });
    expect((await admin.logout(await keycloakAction(shopKey, { action: 'LOGOUT' }))).status).toBe(503);
    expect(warnings).toEqual([
      `back-channel logout not completed: the realm JWKS is unavailable (${certsOf('shop')}); answered 503 (Keycloak does not send the token again)`,
      `Keycloak k_logout not applied: the realm JWKS is unavailable (${certsOf('shop')}); answered 503`,
    ]);
  });
});
