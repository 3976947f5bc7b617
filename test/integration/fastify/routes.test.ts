import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWKS_CONTENT_TYPE } from '../../../client/src/fastify/index.js';
import { nextEvent } from '../../support/events.js';
import { FORM_TYPE, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { CLIENT_ID, appWith, pluginOptions, useRedisAndRealm } from './support.js';

const now = () => Math.floor(Date.now() / 1000);

/** A POST over node:http with exactly the headers given (no Content-Type unless set), as a fetch Response. */
function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') responseHeaders.set(name, value);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: responseHeaders }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('Fastify plugin routes, against the real redis-server', () => {
  const { server, realm } = useRedisAndRealm();
  let a: FastifyInstance;
  let b: FastifyInstance;
  let urlA: string;
  let urlB: string;

  beforeAll(async () => {
    const options = pluginOptions(server, realm, { keycloakAdmin: { enabled: true, adminUrlPath: '/kc' } });
    // A has a JSON route of its own, to check the plugin leaves the app's other routes alone.
    a = await appWith(options, (app) => app.post('/echo', async (request) => request.body));
    b = await appWith(options);
    urlA = await a.listen({ port: 0, host: '127.0.0.1' });
    urlB = await b.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  describe('GET /.well-known/jwks.json', () => {
    it('serves the ring\'s JWKS with its media type, a short public max-age and a strong ETag', async () => {
      const response = await a.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe(JWKS_CONTENT_TYPE);
      expect(response.headers['cache-control']).toBe('public, max-age=60');
      expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      expect(response.json()).toEqual(a.kcc.keyRing.jwks());
      expect(response.json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid)).toContain(a.kcc.keyRing.signingKey().kid);
    });

    it('is the same document, byte for byte and ETag for ETag, on both instances over HTTP', async () => {
      const [fromA, fromB] = await Promise.all([fetch(`${urlA}/.well-known/jwks.json`), fetch(`${urlB}/.well-known/jwks.json`)]);
      expect(fromA.status).toBe(200);
      expect(await fromA.text()).toBe(await fromB.text());
      expect(fromA.headers.get('etag')).toBe(fromB.headers.get('etag'));
    });

    it('answers 304 with ETag and Cache-Control, no body, to a matching If-None-Match (strong, weak, list, *)', async () => {
      const etag = (await fetch(`${urlA}/.well-known/jwks.json`)).headers.get('etag')!;
      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const response = await fetch(`${urlB}/.well-known/jwks.json`, { headers: { 'if-none-match': ifNoneMatch } });
        expect(response.status, ifNoneMatch).toBe(304);
        expect(response.headers.get('etag')).toBe(etag);
        expect(response.headers.get('cache-control')).toBe('public, max-age=60');
        expect(await response.text()).toBe('');
      }
      const stale = await a.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': '"not-the-etag"' } });
      expect(stale.statusCode).toBe(200);
      expect(stale.json()).toEqual(a.kcc.keyRing.jwks());
    });

    it('a rotation on A changes the document and the ETag on B; the old ETag then gets the new document', async () => {
      const before = await b.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      const changedOnB = nextEvent(b.kcc.keyRing, 'change');
      const { kid } = await a.kcc.keyRing.rotate(); // the next key, published before it signs
      await changedOnB;
      const after = await b.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': before.headers.etag as string } });
      expect(after.statusCode).toBe(200);
      expect(after.headers.etag).not.toBe(before.headers.etag);
      expect(after.json<{ keys: { kid: string }[] }>().keys.map((k) => k.kid)).toContain(kid);
      expect(after.body).toBe((await a.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body);
    });

    it('HEAD answers the headers only', async () => {
      const response = await a.inject({ method: 'HEAD', url: '/.well-known/jwks.json' });
      expect(response.statusCode).toBe(200);
      expect(response.headers.etag).toMatch(/^"/);
      expect(response.body).toBe('');
    });
  });

  describe('POST /backchannel-logout', () => {
    const post = (url: string, body: string, contentType: string | null = FORM_TYPE) =>
      contentType === null
        ? rawPost(`${url}/backchannel-logout`, body) // fetch would add text/plain to a string body
        : fetch(`${url}/backchannel-logout`, { method: 'POST', headers: { 'content-type': contentType }, body });

    it('a valid logout token to A: 200, empty, no-store; the session is refused on B', async () => {
      const sid = `sid-${randomUUID()}`;
      const appliedOnB = nextEvent(b.kcc.revocations, 'applied');
      const response = await post(urlA, form(await signToken(realm.key, logoutClaims(realm.issuer, { aud: CLIENT_ID, sid }))), `${FORM_TYPE}; charset=UTF-8`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.text()).toBe('');
      expect(a.kcc.check({ sid })).toBe('revoked'); // applied on A before the 200
      await appliedOnB;
      expect(b.kcc.check({ sid, sub: 'user-1', iat: now() })).toBe('revoked');
      expect(b.kcc.rejects({ sid })).toBe(true);
    });

    it('a replayed token: 400 invalid_request, no-store', async () => {
      const token = await signToken(realm.key, logoutClaims(realm.issuer, { aud: CLIENT_ID, sid: `sid-${randomUUID()}` }));
      expect((await post(urlA, form(token))).status).toBe(200);
      const replay = await post(urlB, form(token)); // the jti is remembered cluster-wide
      expect(replay.status).toBe(400);
      expect(replay.headers.get('cache-control')).toBe('no-store');
      expect(await replay.json()).toEqual({ error: 'invalid_request', error_description: 'invalid logout_token: "jti" already used' });
    });

    it('a token signed by a key the realm does not publish: 400, nothing revoked', async () => {
      const stranger = await realmKey('stranger', 'ES256');
      const sid = `sid-${randomUUID()}`;
      const response = await post(urlA, form(await signToken(stranger, logoutClaims(realm.issuer, { aud: CLIENT_ID, sid }))));
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(a.kcc.check({ sid })).toBe('active');
    });

    type Refusal = [what: string, request: () => Promise<Response>, status: number, description: RegExp];
    const refusals: Refusal[] = [
      ['a body over maxBodyBytes (16384): Fastify\'s 413', () => post(urlA, `logout_token=${'a'.repeat(17_000)}`), 413, /too large/],
      ['JSON: Fastify\'s 415', () => post(urlA, JSON.stringify({ logout_token: 'x' }), 'application/json'), 415, /content type must be application\/x-www-form-urlencoded/],
      ['no content type: Fastify\'s 415', () => post(urlA, 'logout_token=x', null), 415, /content type must be/],
      ['text/plain (the admin routes\' type): Fastify\'s 415', () => post(urlA, 'logout_token=x', 'text/plain'), 415, /content type must be application\/x-www-form-urlencoded/],
      ['an empty form: the handler\'s 400', () => post(urlA, '', FORM_TYPE), 400, /exactly one non-empty logout_token/],
      ['two tokens: the handler\'s 400', () => post(urlA, 'logout_token=a&logout_token=b'), 400, /exactly one/],
      ['not a JWT: the handler\'s 400', () => post(urlA, 'logout_token=not-a-jwt'), 400, /invalid logout_token/],
    ];
    it.each(refusals)('%s, with Cache-Control: no-store', async (_what, request, status, description) => {
      const response = await request();
      expect(response.status).toBe(status);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = (await response.json()) as { error: string; error_description: string };
      expect(body.error).toBe('invalid_request');
      expect(body.error_description).toMatch(description);
    });

    it('without the Keycloak admin routes (one media type, one scope): text/plain is 415 too, a form is handled', async () => {
      const only = await appWith(pluginOptions(server, realm));
      try {
        const text = await only.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': 'text/plain' }, payload: 'logout_token=x' });
        expect([text.statusCode, text.headers['cache-control']]).toEqual([415, 'no-store']);
        const formBody = await only.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': FORM_TYPE }, payload: 'logout_token=x' });
        expect(formBody.statusCode).toBe(400); // reached the handler: not a JWT
        expect(formBody.json()).toMatchObject({ error_description: expect.stringMatching(/invalid logout_token/) });
      } finally {
        await only.close();
      }
    });

    it('the same refusals through inject', async () => {
      const big = await a.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': FORM_TYPE }, payload: 'x'.repeat(16_385) });
      expect([big.statusCode, big.headers['cache-control']]).toEqual([413, 'no-store']);
      const json = await a.inject({ method: 'POST', url: '/backchannel-logout', payload: { logout_token: 'x' } });
      expect([json.statusCode, json.headers['cache-control']]).toEqual([415, 'no-store']);
    });

    it('leaves the app\'s other routes alone: their JSON parser and caching are untouched', async () => {
      const echo = await a.inject({ method: 'POST', url: '/echo', payload: { hello: 'world' } });
      expect(echo.statusCode).toBe(200);
      expect(echo.json()).toEqual({ hello: 'world' });
      expect(echo.headers['cache-control']).toBeUndefined();
      const missing = await a.inject({ method: 'GET', url: '/backchannel-logout' });
      expect(missing.statusCode).toBe(404);
    });
  });

  describe('Keycloak admin routes (enabled, Admin URL path /kc)', () => {
    const sign = (action: Record<string, unknown>) =>
      new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: realm.key.alg, kid: realm.key.kid, typ: 'JWT' }).sign(realm.key.privateKey);
    const post = (url: string, path: string, body: string, contentType = 'text/plain; charset=ISO-8859-1') =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

    it('k_logout with session ids: 200 no-store; every session refused on the other instance', async () => {
      const ids = [`kc-${randomUUID()}`, `kc-${randomUUID()}`];
      const appliedOnB = ids.map(() => nextEvent(b.kcc.revocations, 'applied'));
      const action = { id: randomUUID(), expiration: now() + 30, resource: CLIENT_ID, action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ids };
      const response = await post(urlA, '/kc/k_logout', await sign(action));
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      await Promise.all(appliedOnB);
      for (const sid of ids) expect(b.kcc.check({ sid })).toBe('revoked');
    });

    it('k_push_not_before: every token issued before it is refused on the other instance', async () => {
      const notBefore = now() - 3_600; // an hour ago: other tests' tokens (iat now) stay valid
      const pushedOnB = nextEvent<[number, string]>(b.kcc.revocations, 'pushed');
      const action = { id: randomUUID(), expiration: now() + 30, resource: CLIENT_ID, action: 'PUSH_NOT_BEFORE', notBefore };
      const response = await post(urlA, '/kc/k_push_not_before', await sign(action));
      expect(response.status).toBe(200);
      expect(await pushedOnB).toEqual([notBefore, 'bus']); // the realm-signed action, verified on B
      expect(b.kcc.check({ sub: 'u', iat: notBefore - 1 })).toBe('revoked');
      expect(b.kcc.check({ sub: 'u', iat: now() })).toBe('active');
    });

    it('refusals carry no-store too: 415 for JSON and for a form, 413 over 65536 bytes, 400 for a bad action', async () => {
      const json = await post(urlA, '/kc/k_logout', '{}', 'application/json');
      expect([json.status, json.headers.get('cache-control')]).toEqual([415, 'no-store']);
      expect(((await json.json()) as { error_description: string }).error_description).toBe('content type must be text/plain');
      const asForm = await post(urlA, '/kc/k_logout', 'x=1', FORM_TYPE); // the back-channel route's type
      expect([asForm.status, asForm.headers.get('cache-control')]).toEqual([415, 'no-store']);
      const big = await post(urlA, '/kc/k_logout', 'x'.repeat(65_537));
      expect([big.status, big.headers.get('cache-control')]).toEqual([413, 'no-store']);
      const bad = await post(urlA, '/kc/k_push_not_before', 'not-a-jws');
      expect([bad.status, bad.headers.get('cache-control')]).toEqual([400, 'no-store']);
    });

    it('are not mounted at the root when the Admin URL has a path', async () => {
      expect((await post(urlA, '/k_logout', 'x')).status).toBe(404);
    });
  });
});
