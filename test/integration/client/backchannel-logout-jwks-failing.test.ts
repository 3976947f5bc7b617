/**
 * The realm's JWKS answering errors while forged logout tokens arrive (an attack review of the
 * logout endpoint, medium). jose starts its cooldown only after a fetch that succeeded, so each
 * forged token with a made-up `kid` made one JWKS fetch, one 503 and one warning: 200 requests, 200
 * fetches of an identity provider already answering 503, 200 log lines, `stats.unavailable` + 200.
 * After the cache's 10 minutes, a token under a known `kid` did the same. Now: one attempt per
 * jwksCooldownMs after a failure, and one warning a minute.
 *
 * The JWKS is served over real loopback HTTP. "Within the cooldown" and "after it" are the test's
 * clock (Date, as jose reads it): the cooldowns are set far longer than the test can run, so the
 * monotonic clock, which also ends them, never does here.
 */
import type { Server } from 'node:http';
import type { JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BackchannelLogoutOptions, type KccLogger, createBackchannelLogoutHandler } from '../../../client/src/index.js';
import { close, listen } from '../../support/http.js';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { RecordingSink } from '../../support/recording-sink.js';

/** The realm's JWKS endpoint: its keys and status can change, its fetches are counted. */
class JwksEndpoint {
  keys: JWK[] = [];
  status = 200;
  fetches = 0;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<JwksEndpoint> {
    let self: JwksEndpoint | undefined;
    const { server, url } = await listen((_req, res) => {
      self!.fetches += 1;
      if (self!.status !== 200) return void res.writeHead(self!.status, { 'Content-Type': 'text/plain' }).end('Service Unavailable');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: self!.keys }));
    });
    self = new JwksEndpoint(server, `${url}/realms/shop/protocol/openid-connect/certs`);
    return self;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}

const ISSUER = 'https://sso.example.test/realms/shop';
/** Longer than the minute between two warnings, and than any run of this file on the monotonic clock. */
const COOLDOWN_MS = 120_000;

describe('back-channel logout while the realm JWKS answers errors', () => {
  let jwks: JwksEndpoint;
  let key: RealmKey;
  let rotated: RealmKey;
  let forger: RealmKey;
  let sink: RecordingSink;
  const warnings: string[] = [];
  const logger: KccLogger = { info: () => {}, warn: (message) => void warnings.push(message) };
  const handlerFor = (options: Partial<BackchannelLogoutOptions> = {}) =>
    createBackchannelLogoutHandler({ issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink, jwksUri: jwks.url, jwksCooldownMs: COOLDOWN_MS, logger, ...options });
  const post = (token: string) => ({ contentType: FORM_TYPE, body: form(token) });
  /** A forged token: signed by a key of the attacker's, under a `kid` the realm never had. */
  const forged = (i: number) => signToken({ ...forger, kid: `made-up-${i}` }, logoutClaims(ISSUER, { sid: `forged-${i}` }));
  const unavailableWarnings = () => warnings.filter((line) => line.startsWith('back-channel logout not completed: the realm JWKS is unavailable'));

  beforeAll(async () => {
    jwks = await JwksEndpoint.start();
    [key, rotated, forger] = await Promise.all([realmKey('realm-1', 'ES256'), realmKey('realm-2', 'ES256'), realmKey('forger', 'ES256')]);
  });
  afterAll(() => jwks?.stop());
  beforeEach(() => {
    sink = new RecordingSink();
    warnings.length = 0;
    jwks.keys = [key.publicJwk];
    jwks.status = 200;
    jwks.fetches = 0;
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  });
  afterEach(() => void vi.useRealTimers());

  it('200 forged tokens with made-up kids make one fetch and one warning per cooldown; once the JWKS is back and the cooldown has passed, a token signed by a new realm key is accepted', async () => {
    const handler = handlerFor();
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'before' }))))).status).toBe(200);
    vi.setSystemTime(Date.now() + COOLDOWN_MS); // past the cooldown of that fetch: an unknown kid may fetch again
    jwks.status = 503;
    const fetched = jwks.fetches;

    for (let i = 0; i < 200; i++) expect((await handler(post(await forged(i)))).status).toBe(503);
    expect(jwks.fetches - fetched).toBe(1); // before the fix: 200
    expect(unavailableWarnings()).toHaveLength(1); // before the fix: 200
    expect(handler.stats.unavailable).toBe(200); // each is still counted

    vi.setSystemTime(Date.now() + COOLDOWN_MS); // the next attempt, and the next warning (over a minute later)
    for (let i = 200; i < 300; i++) expect((await handler(post(await forged(i)))).status).toBe(503);
    expect(jwks.fetches - fetched).toBe(2);
    expect(unavailableWarnings()).toHaveLength(2);
    expect(unavailableWarnings()[1]).toMatch(/answered 503 \(Keycloak does not send the token again\) \(199 more like it since the last such warning, not logged\)$/);

    // The realm is back, and signs with a key it has just added.
    jwks.status = 200;
    jwks.keys = [key.publicJwk, rotated.publicJwk];
    const genuine = () => signToken(rotated, logoutClaims(ISSUER, { sid: 'after-rotation' }));
    // Within the cooldown of the failed attempt nothing is fetched: this one is answered as the
    // failed fetch was (the price of the bound; Keycloak logs the failed logout).
    expect((await handler(post(await genuine()))).status).toBe(503);
    expect(jwks.fetches - fetched).toBe(2);
    vi.setSystemTime(Date.now() + COOLDOWN_MS);
    expect((await handler(post(await genuine()))).status).toBe(200);
    expect(jwks.fetches - fetched).toBe(3);
    expect(sink.sessions).toEqual(['before', 'after-rotation']);
  });

  it('with the cache expired and the JWKS failing, forged tokens under the realm\'s kid make one fetch per cooldown; genuine ones keep being verified with the key set held', async () => {
    const cacheMaxAgeMs = 600_000; // the default
    const handler = handlerFor({ jwksCacheMaxAgeMs: cacheMaxAgeMs });
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'held-0' }))))).status).toBe(200);
    jwks.status = 503;
    vi.setSystemTime(Date.now() + cacheMaxAgeMs + 1); // the cache has expired: each lookup would refetch
    const fetched = jwks.fetches;
    const impostor = await realmKey('realm-1', 'ES256'); // the realm's kid, another key
    for (let i = 0; i < 200; i++) {
      const response = await handler(post(await signToken(impostor, logoutClaims(ISSUER, { sid: `forged-${i}` }))));
      expect(response.status).toBe(400); // verified against the key set held: a bad signature
      if (i % 50 === 0) expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: `held-${i + 1}` }))))).status).toBe(200);
    }
    expect(jwks.fetches - fetched).toBe(1); // before the fix: 204
    expect(handler.stats.rejected.bad_signature).toBe(200);
    expect(sink.sessions).toEqual(['held-0', 'held-1', 'held-51', 'held-101', 'held-151']);
  });

  it('an instance whose first fetch fails: concurrent tokens share one attempt, later ones wait for the cooldown; then the key set is fetched and used', async () => {
    jwks.status = 503;
    const handler = handlerFor();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => signToken(key, logoutClaims(ISSUER, { sid: `first-${i}` }))));
    const answers = await Promise.all(tokens.map((token) => handler(post(token))));
    expect(answers.map((answer) => answer.status)).toEqual(Array(20).fill(503));
    expect(jwks.fetches).toBeGreaterThan(0);
    const fetched = jwks.fetches;
    for (let i = 0; i < 50; i++) expect((await handler(post(await forged(i)))).status).toBe(503);
    expect(jwks.fetches).toBe(fetched); // before the fix: + 50
    expect(fetched).toBe(1); // the 20 shared the one attempt in flight

    jwks.status = 200;
    vi.setSystemTime(Date.now() + COOLDOWN_MS);
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'recovered' }))))).status).toBe(200);
    expect(jwks.fetches).toBe(fetched + 1);
    expect(sink.sessions).toEqual(['recovered']);
  });
});
