/**
 * The realm's JWKS answering errors while forged logout tokens arrive (an attack review of the
 * logout endpoint, medium). jose starts its cooldown only after a fetch that succeeded, so each
 * forged token with a made-up `kid` made one JWKS fetch, one 503 and one warning: 200 requests, 200
 * fetches of an identity provider already answering 503, 200 log lines, `stats.unavailable` + 200.
 * After the cache's 10 minutes, a token under a known `kid` did the same. Now: one attempt per
 * jwksCooldownMs after a failure, and one warning a minute.
 *
 * A review of 7802a3a (medium): within that cooldown, a token the key set held could not verify
 * was answered 503 at once, a genuine logout signed by the realm's new key included, after a single
 * failed fetch that a forged token had made sure to catch. Now it waits for the cooldown to end (3 s
 * at most, as an unknown `kid` waits for jose's) and is looked up once more, the tokens waiting
 * sharing one fetch; one whose wait ends first is warned and counted apart (low).
 *
 * The JWKS is served over real loopback HTTP. "Within the cooldown" and "after it" are the test's
 * clock (Date, as jose reads it): the cooldowns are set far longer than the test can run, so the
 * monotonic clock, which also ends them, never does here; except in the blip test, which keeps the
 * default 3 s to show that its end comes within a token's wait. A token waiting for a cooldown it
 * does not see end waits 3 s of real time (the monotonic clock): those tests take that long.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { CompactSign, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type BackchannelLogoutOptions, type KccLogger, createBackchannelLogoutHandler, createKeycloakAdminHandlers } from '../../../client/src/index.js';
import { close, listen } from '../../support/http.js';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { RecordingSink } from '../../support/recording-sink.js';

/** The realm's JWKS endpoint: its keys and status can change, its fetches are counted. */
class JwksEndpoint {
  keys: JWK[] = [];
  status = 200;
  /** The next this many fetches are answered 502 (a blip), whatever `status` says. */
  failNext = 0;
  fetches = 0;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<JwksEndpoint> {
    let self: JwksEndpoint | undefined;
    const { server, url } = await listen((_req, res) => {
      self!.fetches += 1;
      if (self!.failNext > 0) {
        self!.failNext -= 1;
        return void res.writeHead(502, { 'Content-Type': 'text/plain' }).end('Bad Gateway');
      }
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
  /** `count` forged tokens, signed before they are sent together. */
  const forgedBatch = (from: number, count: number) => Promise.all(Array.from({ length: count }, (_, i) => forged(from + i)));
  const unavailableWarnings = () => warnings.filter((line) => line.startsWith('back-channel logout not completed: the realm JWKS is unavailable'));
  const cooldownWarnings = () => warnings.filter((line) => line.startsWith('back-channel logout not completed: the realm JWKS was not fetched'));
  /** A Keycloak admin action signed by `signer`, as Keycloak POSTs it to k_logout. */
  const adminAction = (signer: RealmKey, action: Record<string, unknown>) =>
    new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: Math.floor(Date.now() / 1000) + 30, resource: 'shop', ...action })))
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
      .sign(signer.privateKey);

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
    jwks.failNext = 0;
    jwks.fetches = 0;
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  });
  afterEach(() => void vi.useRealTimers());

  it('forged tokens with made-up kids make one fetch per cooldown however many arrive or wait for its end; 503s are warned once a minute per cause and counted', async () => {
    const handler = handlerFor();
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'before' }))))).status).toBe(200);
    vi.setSystemTime(Date.now() + COOLDOWN_MS); // past the cooldown of that fetch: an unknown kid may fetch again
    jwks.status = 503;
    const fetched = jwks.fetches;

    // 200 at once share the one fetch, which fails.
    let batch = await forgedBatch(0, 200);
    expect((await Promise.all(batch.map((token) => handler(post(token))))).map((r) => r.status)).toEqual(Array(200).fill(503));
    expect(jwks.fetches - fetched).toBe(1); // before 7802a3a: 200
    expect(unavailableWarnings()).toHaveLength(1); // before 7802a3a: 200
    expect(handler.stats.unavailable).toBe(200); // each is still counted
    expect(handler.stats.unavailableInCooldown).toBe(0);

    // Within the cooldown: each waits for it to end (3 s at most, longer than that here) and is then
    // answered without a fetch, warned and counted apart from the fetch that failed.
    batch = await forgedBatch(200, 100);
    expect((await Promise.all(batch.map((token) => handler(post(token))))).map((r) => r.status)).toEqual(Array(100).fill(503));
    expect(jwks.fetches - fetched).toBe(1);
    expect(handler.stats.unavailable).toBe(300);
    expect(handler.stats.unavailableInCooldown).toBe(100); // before this fix: no such count
    expect(cooldownWarnings()).toEqual([
      `back-channel logout not completed: the realm JWKS was not fetched (${jwks.url}; its last fetch failed less than jwksCooldownMs ago, and the wait for the next ran out); answered 503 (Keycloak does not send the token again)`,
    ]);
    expect(unavailableWarnings()).toHaveLength(1); // a cause of its own: not counted with the fetch that failed

    // 100 waiting when the cooldown ends make one fetch between them.
    batch = await forgedBatch(300, 100);
    const waiting = Promise.all(batch.map((token) => handler(post(token))));
    await new Promise((resolve) => setImmediate(resolve)); // each has found the cooldown on and waits for its end
    vi.setSystemTime(Date.now() + COOLDOWN_MS); // the cooldown ends (and the next warning is due)
    expect((await waiting).map((r) => r.status)).toEqual(Array(100).fill(503));
    expect(jwks.fetches - fetched).toBe(2);
    expect(handler.stats.unavailableInCooldown).toBe(100); // a fetch was tried for these: they are the JWKS failing
    expect(unavailableWarnings()).toHaveLength(2);
    expect(unavailableWarnings()[1]).toMatch(/answered 503 \(Keycloak does not send the token again\) \(199 more like it since the last such warning, not logged\)$/);
    expect(sink.sessions).toEqual(['before']);
  });

  it('one failed fetch (a blip a forged token made sure to catch) does not get the genuine logout signed by the realm\'s new key that follows refused: it waits for the cooldown and is accepted', async () => {
    // From a review of 7802a3a (medium): within the cooldown after a failed fetch, a token whose
    // key the set held does not have was answered 503 at once, for the whole cooldown, and
    // Keycloak does not send it again. A forged made-up kid per cooldown keeps the instance
    // fetching, so any short blip of the identity provider is caught.
    const handler = handlerFor({ jwksCooldownMs: 3_000 }); // the default: it ends on the monotonic clock, within the 3 s a token waits
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'before' }))))).status).toBe(200);
    vi.setSystemTime(Date.now() + 3_000); // past the cooldown of that fetch: a made-up kid fetches again
    const [forgedToken, genuine] = await Promise.all([forged(0), signToken(rotated, logoutClaims(ISSUER, { sid: 'after-blip' }))]);
    const fetched = jwks.fetches;
    jwks.failNext = 1; // one 502, then the realm's JWKS is healthy again, with the key it has just added
    jwks.keys = [key.publicJwk, rotated.publicJwk];
    expect((await handler(post(forgedToken))).status).toBe(503);
    expect(jwks.fetches - fetched).toBe(1);
    expect((await handler(post(genuine))).status).toBe(200); // before this fix: 503
    expect(jwks.fetches - fetched).toBe(2);
    expect(sink.sessions).toEqual(['before', 'after-blip']);
    expect(handler.stats.unavailable).toBe(1);
  });

  it('with a cooldown longer than the wait: tokens waiting when it ends share one fetch, and the genuine one among them is accepted', async () => {
    const handler = handlerFor();
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'before' }))))).status).toBe(200);
    vi.setSystemTime(Date.now() + COOLDOWN_MS);
    const batch = await forgedBatch(0, 50);
    const genuine = await signToken(rotated, logoutClaims(ISSUER, { sid: 'after-blip', exp: Math.floor(Date.now() / 1000) + 3_600 }));
    const fetched = jwks.fetches;
    jwks.failNext = 1;
    jwks.keys = [key.publicJwk, rotated.publicJwk];
    expect((await handler(post(batch[0]!))).status).toBe(503); // catches the blip
    const waiting = Promise.all([genuine, ...batch.slice(1)].map((token) => handler(post(token))));
    await new Promise((resolve) => setImmediate(resolve)); // each has found the cooldown on and waits for its end
    vi.setSystemTime(Date.now() + COOLDOWN_MS);
    const [accepted, ...refused] = await waiting;
    expect(accepted!.status).toBe(200); // before this fix: 503
    expect(refused.map((r) => r.status)).toEqual(Array(49).fill(400)); // unknown_kid: the fetch succeeded
    expect(jwks.fetches - fetched).toBe(2); // the blip, and one for the 50 that waited
    expect(sink.sessions).toEqual(['before', 'after-blip']);
  });

  it('Keycloak admin endpoints: a 503 answered without a fetch is warned and counted apart', async () => {
    const handlers = createKeycloakAdminHandlers({ enabled: true, issuer: ISSUER, clientId: 'shop', sink, replayGuard: sink, jwksUri: jwks.url, jwksCooldownMs: COOLDOWN_MS, logger });
    jwks.status = 503;
    const action = () => adminAction(rotated, { action: 'LOGOUT', notBefore: 0 });
    expect((await handlers.logout({ contentType: 'text/plain', body: await action() })).status).toBe(503); // the fetch fails
    expect((await handlers.logout({ contentType: 'text/plain', body: await action() })).status).toBe(503); // within the cooldown: none tried
    expect(jwks.fetches).toBe(1);
    expect(handlers.logout.stats).toMatchObject({ unavailable: 2, unavailableInCooldown: 1 });
    expect(warnings).toEqual([
      `Keycloak k_logout not applied: the realm JWKS is unavailable (${jwks.url}); answered 503`,
      `Keycloak k_logout not applied: the realm JWKS was not fetched (${jwks.url}; its last fetch failed less than jwksCooldownMs ago, and the wait for the next ran out); answered 503`,
    ]);
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
    // Within the cooldown: they wait for its end (3 s at most, longer than that here), then are
    // answered without a fetch.
    const batch = await forgedBatch(0, 50);
    expect((await Promise.all(batch.map((token) => handler(post(token))))).map((r) => r.status)).toEqual(Array(50).fill(503));
    expect(jwks.fetches).toBe(fetched); // before 7802a3a: + 50
    expect(fetched).toBe(1); // the 20 shared the one attempt in flight
    expect(handler.stats.unavailableInCooldown).toBe(50);

    jwks.status = 200;
    vi.setSystemTime(Date.now() + COOLDOWN_MS);
    expect((await handler(post(await signToken(key, logoutClaims(ISSUER, { sid: 'recovered' }))))).status).toBe(200);
    expect(jwks.fetches).toBe(fetched + 1);
    expect(sink.sessions).toEqual(['recovered']);
  });
});
