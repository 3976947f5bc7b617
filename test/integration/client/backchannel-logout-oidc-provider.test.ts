import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type EndpointHandler, createBackchannelLogoutHandler } from '../../../client/src/index.js';
import { mountEndpoint } from '../../support/endpoint-adapter.js';
import { close, listen } from '../../support/http.js';
import { startProvider } from '../../support/oidc-provider.js';
import { RecordingSink } from '../../support/recording-sink.js';
import { recordingLogger } from '../fastify/support.js';

/** Mounts a handler, recording the logout tokens it was sent. */
function mount<R extends string>(handler: EndpointHandler<R>, seen: string[]) {
  return mountEndpoint(handler, (body) => {
    const token = new URLSearchParams(body.toString()).get('logout_token');
    if (token) seen.push(token);
  });
}

describe('back-channel logout from a real OpenID Provider (oidc-provider)', () => {
  let op: Awaited<ReturnType<typeof startProvider>>;
  let app: Awaited<ReturnType<typeof listen>>;
  let routes: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
  const seen: string[] = [];
  /** While set, the provider's JWKS endpoint drops the connection unanswered (unreachable). */
  let jwksDown = false;
  let jwksFetches = 0;
  /** The provider's own back-channel logout for a client (a method @types/oidc-provider does not declare). */
  const backchannelLogout = async (clientId: string, sub: string, sid: string): Promise<void> => {
    const client = (await op.provider.Client.find(clientId)) as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> };
    await client.backchannelLogout(sub, sid);
  };

  beforeAll(async () => {
    routes = new Map();
    app = await listen((req, res) => {
      const route = routes.get(req.url ?? '');
      if (req.method === 'POST' && route) route(req, res);
      else res.writeHead(404).end();
    });
    op = await startProvider([
      { client_id: 'shop', jwks_uri: `${app.url}/jwks`, backchannel_logout_uri: `${app.url}/shop/backchannel-logout` },
      { client_id: 'reports', jwks_uri: `${app.url}/jwks`, backchannel_logout_uri: `${app.url}/reports/backchannel-logout` },
    ]);
    op.provider.use(async (ctx, next) => {
      if (ctx.path !== '/jwks') return next();
      jwksFetches += 1;
      if (!jwksDown) return next();
      ctx.req.socket.destroy();
    });
  });
  afterAll(async () => {
    await op?.stop();
    if (app) await close(app.server);
  });

  it('accepts the provider\'s logout token and revokes the session (sid)', async () => {
    const sink = new RecordingSink();
    const handler = createBackchannelLogoutHandler({ issuer: op.issuer, clientId: 'shop', sink, replayGuard: sink, jwksUri: `${op.issuer}/jwks` });
    routes.set('/shop/backchannel-logout', mount(handler, seen));

    await backchannelLogout('shop', 'user-42', 'session-42'); // throws unless answered 200/204

    expect(sink.sessions).toEqual(['session-42']);
    expect(sink.subjects).toEqual([]);
    expect(handler.stats.accepted).toBe(1);
    // What oidc-provider 9 sends, as TESTING.md records it.
    const token = seen.at(-1)!;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'logout+jwt' });
    const claims = decodeJwt(token);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'events', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
    expect(claims).toMatchObject({ iss: op.issuer, aud: 'shop', sub: 'user-42', sid: 'session-42' });
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(sink.jtis).toEqual([{ jti: claims.jti, ttlMs: expect.any(Number) }]);
  });

  it('refuses the provider\'s token when it is meant for another client: the provider sees a 400', async () => {
    const sink = new RecordingSink();
    // Misconfigured: the handler behind /reports believes it is "shop"; the token's aud is "reports".
    const handler = createBackchannelLogoutHandler({ issuer: op.issuer, clientId: 'shop', sink, replayGuard: sink, jwksUri: `${op.issuer}/jwks`, logger: { info: () => {}, warn: () => {} } });
    routes.set('/reports/backchannel-logout', mount(handler, seen));

    await expect(backchannelLogout('reports', 'user-42', 'session-43')).rejects.toThrow(/expected 200 OK .* got: 400/);
    expect(sink.revocations).toBe(0);
    expect(handler.stats.rejected.bad_aud).toBe(1);
  });

  // An attack review: jose refetches the JWKS once its cache has expired and throws when that fetch
  // fails, instead of using the key set it holds; the handler answered 503 to a logout signed by a
  // key it had in memory, and Keycloak does not send a logout token again.
  it('verifies a logout with the key set it holds when the JWKS cannot be fetched after the cache expired, and says so once', async () => {
    const sink = new RecordingSink();
    const logger = recordingLogger();
    const handler = createBackchannelLogoutHandler({ issuer: op.issuer, clientId: 'shop', sink, replayGuard: sink, jwksUri: `${op.issuer}/jwks`, jwksCacheMaxAgeMs: 60_000, logger });
    routes.set('/shop/backchannel-logout', mount(handler, seen));
    // The clock is the test's (Date only): the set held is used up to twice jwksCacheMaxAgeMs after its fetch.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      await backchannelLogout('shop', 'user-7', 'session-70');
      const fetched = jwksFetches;
      jwksDown = true;
      vi.setSystemTime(Date.now() + 60_001); // the cache has expired
      await backchannelLogout('shop', 'user-7', 'session-71'); // throws unless answered 200/204
      await backchannelLogout('shop', 'user-7', 'session-72');
      // The first tried the endpoint; the second came within jwksCooldownMs of that failure: not fetched.
      expect(jwksFetches).toBe(fetched + 1);
      expect(sink.sessions).toEqual(['session-70', 'session-71', 'session-72']);
      expect(handler.stats).toMatchObject({ accepted: 3, unavailable: 0 });
      const warnings = logger.lines.filter((line) => line.startsWith('warn'));
      expect(warnings).toHaveLength(1); // at most once a minute
      expect(warnings[0]).toMatch(/the realm JWKS could not be fetched \(http:\/\/127\.0\.0\.1:\d+\/jwks\); verifying with the key set fetched \d+ s ago/);
    } finally {
      vi.useRealTimers();
      jwksDown = false;
    }
  });
});
