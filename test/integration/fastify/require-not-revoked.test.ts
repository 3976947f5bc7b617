import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RevocationClaims } from '../../../client/src/index.js';
import { type KccFastifyOptions, requireNotRevoked } from '../../../client/src/fastify/index.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { appWith, connectionTo, pluginOptions, useRedisAndRealm } from './support.js';

/** The claims an app's authentication would have verified; here read from a test header. */
const claimsOf = (request: FastifyRequest): RevocationClaims | undefined => {
  const header = request.headers['x-test-claims'];
  return typeof header === 'string' ? (JSON.parse(header) as RevocationClaims) : undefined;
};
const now = () => Math.floor(Date.now() / 1000);
const protectedRoute = (app: FastifyInstance) =>
  app.get('/me', { preHandler: requireNotRevoked(claimsOf) }, async (request) => ({ claims: claimsOf(request) }));
const me = (app: FastifyInstance, claims?: RevocationClaims) =>
  app.inject({ method: 'GET', url: '/me', headers: claims ? { 'x-test-claims': JSON.stringify(claims) } : {} });

describe('requireNotRevoked (preHandler)', () => {
  const { server, realm } = useRedisAndRealm();
  let a: FastifyInstance;
  let b: FastifyInstance;
  const options = (overrides: Partial<KccFastifyOptions> = {}) => pluginOptions(server, realm, overrides);

  beforeAll(async () => {
    a = await appWith(options(), protectedRoute);
    b = await appWith(options(), protectedRoute);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('lets active claims through', async () => {
    const response = await me(a, { sid: 'active-session', sub: 'alice', iat: now() });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ claims: { sid: 'active-session', sub: 'alice', iat: expect.any(Number) } });
  });

  it('no claims: 401 with a bare Bearer challenge', async () => {
    const response = await me(a);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.json()).toEqual({ error: 'invalid_token', error_description: 'no token' });
  });

  // From an attack review: getClaims answering null (`request.user ?? null`) and claims whose sid is
  // null were a TypeError in check(), answered 500.
  it('claims null: 401 as no claims; a sid that is null: checked without a session', async () => {
    const none = await a.inject({ method: 'GET', url: '/me', headers: { 'x-test-claims': 'null' } });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toEqual({ error: 'invalid_token', error_description: 'no token' });
    const nullSid = await a.inject({ method: 'GET', url: '/me', headers: { 'x-test-claims': JSON.stringify({ sid: null, sub: 'alice', iat: now() }) } });
    expect(nullSid.statusCode).toBe(200);
  });

  it('a session revoked on ANOTHER instance (revocations.revokeSession) is refused here: 401 invalid_token, no-store', async () => {
    const claims = { sid: 'session-to-revoke', sub: 'bob', iat: now() };
    expect((await me(a, claims)).statusCode).toBe(200);
    const appliedOnA = nextEvent(a.kcc.revocations, 'applied');
    await b.kcc.revocations.revokeSession(claims.sid);
    await appliedOnA;
    const response = await me(a, claims);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token", error_description="token revoked"');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({ error: 'invalid_token', error_description: 'token revoked' });
    expect((await me(b, claims)).statusCode).toBe(401); // and on the instance that revoked it
  });

  it('a user logged out everywhere (revokeSubject) is refused for tokens issued before, not after', async () => {
    const appliedOnA = nextEvent(a.kcc.revocations, 'applied');
    await b.kcc.revocations.revokeSubject('carol', now());
    await appliedOnA;
    expect((await me(a, { sid: 'carol-old', sub: 'carol', iat: now() - 60 })).statusCode).toBe(401);
    expect((await me(a, { sid: 'carol-new', sub: 'carol', iat: now() + 1 })).statusCode).toBe(200);
  });

  describe('an instance cut off from Redis longer than maxStalenessMs', () => {
    it('fail-closed (default): 503 temporarily_unavailable, health degraded; 200 again once caught up', async () => {
      const proxy = await TcpProxy.start(server.port);
      const cut = await appWith(
        options({ connection: { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 }, revocations: { maxStalenessMs: 300 } }),
        protectedRoute,
      );
      try {
        const claims = { sid: 'fine-session', sub: 'dave', iat: now() };
        expect((await me(cut, claims)).statusCode).toBe(200);
        const stale = nextEvent(cut.kcc.revocations, 'stale');
        proxy.cut();
        await stale;
        const refused = await me(cut, claims);
        expect(refused.statusCode).toBe(503);
        expect(refused.headers['cache-control']).toBe('no-store');
        expect(refused.headers['www-authenticate']).toBeUndefined();
        expect(refused.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'revocation state is stale' });
        expect(cut.kcc.health()).toMatchObject({ status: 'degraded', revocations: { status: 'stale' } });
        const fresh = nextEvent(cut.kcc.revocations, 'fresh');
        proxy.heal();
        await fresh;
        // Served again. Not asserted on the very next request: maxStalenessMs is short here, and on a busy
        // machine the request may come over 300 ms after the read that made the state fresh.
        await untilAsync(async () => (await me(cut, claims)).statusCode === 200, 'the route serving again once caught up');
        await until(() => cut.kcc.health().status === 'ok', 'health ok again');
      } finally {
        await cut.close();
        await proxy.stop();
      }
    });

    it('fail-open (revocations.failOpen): stale checks pass, revoked ones are still refused', async () => {
      const proxy = await TcpProxy.start(server.port);
      const open = await appWith(
        options({ connection: { ...connectionTo(server), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, reconnectMaxDelayMs: 100 }, revocations: { maxStalenessMs: 300, failOpen: true } }),
        protectedRoute,
      );
      try {
        const stale = nextEvent(open.kcc.revocations, 'stale');
        proxy.cut();
        await stale;
        expect((await me(open, { sid: 'eve-session', sub: 'eve', iat: now() })).statusCode).toBe(200);
        expect((await me(open, { sid: 'session-to-revoke', sub: 'bob', iat: now() })).statusCode).toBe(401); // loaded at start
      } finally {
        await open.close();
        await proxy.stop();
      }
    });
  });

  it('without the plugin registered: 500, and the log names the plugin', async () => {
    const errors: string[] = [];
    const bare = Fastify();
    bare.setErrorHandler((error, _request, reply) => {
      errors.push((error as Error).message);
      return reply.code(500).send({ error: 'server_error' });
    });
    protectedRoute(bare);
    expect((await me(bare, { sid: 's' })).statusCode).toBe(500);
    expect(errors).toEqual(['@kcc-redis/client: requireNotRevoked needs the plugin registered on this Fastify instance (fastify.kcc is missing)']);
    await bare.close();
  });

  it('refuses a getter that is not a function', () => {
    expect(() => requireNotRevoked('user' as never)).toThrow(/^getClaims: must be a function/);
  });
});
