/**
 * What the plugin does while the app shuts down (docs/shutdown.md).
 *
 * Real redis-server (TLS, ACL users, no persistence) behind a TCP proxy, the real plugin, real logout
 * tokens signed by the test realm.
 */
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { healthSummary } from '../../../client/src/fastify/health-route.js';
import { nextEvent, until } from '../../support/events.js';
import { form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { appWith, connectionTo, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

describe('shutting down', () => {
  const { server, realm } = useRedisAndRealm();

  async function backchannelLogout(app: FastifyInstance, sid: string) {
    const token = await signToken(realm.key, logoutClaims(realm.issuer, { sid }));
    return app.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(token) });
  }

  // A lifecycle review: the close gave the revocation up ("closed with 1 revocations Redis did not
  // confirm"), and the route, answering after it, still logged "(it is applied on this instance and
  // written to Redis until Redis takes it)". The connection here is the app's, open after the plugin
  // closed, so the write still waits when the route's 4 s are up.
  it('a logout whose write the close gives up is answered 503 at once, saying the revocations are closed', { timeout: 30_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    const logger = recordingLogger();
    const redis = await KccRedis.connect({ ...connectionTo(server, logger), url: proxy.url }, ['subscriber', 'reader']);
    try {
      const app = await appWith(pluginOptions(server, realm, { connection: undefined, redis, logger, revocations: { closeTimeoutMs: 0 } }));
      proxy.cut();
      const applied = nextEvent(app.kcc.revocations, 'applied');
      const answer = backchannelLogout(app, 'sid-given-up');
      await applied; // its write is waiting now
      await app.close();
      const response = await answer;
      expect(response.statusCode).toBe(503);
      const warnings = logger.lines.filter((line) => /^warn (closed with|back-channel logout not completed)/.test(line));
      expect(warnings).toEqual([
        'warn closed with 1 revocations Redis did not confirm within closeTimeoutMs (0 ms; not written, or written without an answer in time): the other instances may not have them (those sessions stay valid there until they expire)',
        'warn back-channel logout not completed: the revocations are closed (this instance is shutting down) and Redis did not take the revocation: the other instances may not have it; answered 503 (Keycloak does not send the token again)',
      ]);
    } finally {
      await redis.close();
      await proxy.stop();
    }
  });

  // A lifecycle review: Kubernetes removes a pod from the Service's endpoints while it sends SIGTERM,
  // so requests keep coming for seconds; an app that called app.close() at once refused them (a logout
  // Keycloak never sends again), and nothing could make the health route say the instance was going.
  it('drain(): the health route answers 503 draining while every route, a logout included, still serves', { timeout: 30_000 }, async () => {
    const a = await appWith(pluginOptions(server, realm, { routes: { health: true } }));
    const b = await appWith(pluginOptions(server, realm));
    try {
      const health = () => a.inject({ method: 'GET', url: '/.well-known/kcc-health' });
      expect((await health()).statusCode).toBe(200);

      a.kcc.drain();
      const draining = await health();
      expect(draining.statusCode).toBe(503);
      expect(draining.headers['cache-control']).toBe('no-store');
      expect(draining.json()).toMatchObject({ status: 'draining', serving: false });

      // Still serving: a logout is applied and written, and reaches the other instance.
      const logout = await backchannelLogout(a, 'sid-while-draining');
      expect(logout.statusCode).toBe(200);
      await until(() => b.kcc.check({ sid: 'sid-while-draining' }) === 'revoked', 'the logout on the other instance');
      expect((await a.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(200);
      a.kcc.drain(); // again: nothing changes
      expect((await health()).json()).toMatchObject({ status: 'draining', serving: false });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // Closed wins over draining.
    expect(healthSummary(a.kcc.health(), false, true)).toMatchObject({ status: 'closed', serving: false });
  });
});
