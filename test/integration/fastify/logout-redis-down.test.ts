/**
 * The logout routes while Redis does not answer (an attack review): a killed Redis held a
 * back-channel logout for about a minute (ioredis' reconnect attempts), a frozen one (SIGSTOP: the
 * kernel keeps its sockets open, nothing answers) for two; Keycloak gives up after about 5 s, and
 * each such request holds a socket and the app's close. Now the routes answer 503 once Redis has
 * not answered within ENDPOINT_REDIS_WAIT_MS (4 s); the revocation is applied on the instance at
 * once and written to Redis in the background, until Redis takes it.
 *
 * Real redis-server (TLS, ACL users, no persistence), the real plugin in two Fastify apps.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { CompactSign } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ENDPOINT_REDIS_WAIT_MS } from '../../../client/src/index.js';
import { until } from '../../support/events.js';
import { form, logoutClaims, signToken } from '../../support/logout-tokens.js';
import { CLIENT_ID, appWith, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

/**
 * A bound on the answer, five times the routes' own: without it a frozen Redis held the request for
 * about two minutes. (A bound on a wait, not a measurement: any answer within it passes.)
 */
const ANSWER_BOUND_MS = 5 * ENDPOINT_REDIS_WAIT_MS;

function answered(request: Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the route did not answer within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS);
  });
  return Promise.race([request, bound]).finally(() => clearTimeout(timer));
}

describe('the logout routes while Redis does not answer', () => {
  const { server, realm } = useRedisAndRealm();
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });

  async function twoInstances(overrides: Parameters<typeof pluginOptions>[2] = {}) {
    const logger = recordingLogger();
    const [a, b] = await Promise.all([appWith(pluginOptions(server, realm, { ...overrides, logger })), appWith(pluginOptions(server, realm, overrides))]);
    apps.push(a, b);
    return { a, b, logger };
  }

  async function backchannelLogout(app: FastifyInstance, sid: string): Promise<LightMyRequestResponse> {
    const token = await signToken(realm.key, logoutClaims(realm.issuer, { sid }));
    return answered(app.inject({ method: 'POST', url: '/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(token) }));
  }

  it('frozen (SIGSTOP): the back-channel logout is answered 503; applied here at once, it reaches the other instance once Redis answers again', async () => {
    const { a, b, logger } = await twoInstances();
    const pid = server.pid!;
    process.kill(pid, 'SIGSTOP');
    let response: LightMyRequestResponse;
    try {
      response = await backchannelLogout(a, 'sid-frozen');
      expect(a.kcc.check({ sid: 'sid-frozen' })).toBe('revoked');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: 'temporarily_unavailable' });
    expect(response.headers['cache-control']).toBe('no-store');
    expect(logger.lines.filter((line) => line.includes('back-channel logout not completed'))).toEqual([
      `warn back-channel logout not completed: Redis did not take the revocation within ${ENDPOINT_REDIS_WAIT_MS} ms (it is applied on this instance and written to Redis until Redis takes it); answered 503 (Keycloak does not send the token again)`,
    ]);
    await until(() => b.kcc.check({ sid: 'sid-frozen' }) === 'revoked', 'the revocation reaching the other instance', 45_000);
  });

  it('killed: the back-channel logout is answered 503; the revocation is written once Redis is back, and reaches the other instance', async () => {
    const { a, b } = await twoInstances();
    await server.kill();
    let response: LightMyRequestResponse;
    try {
      response = await backchannelLogout(a, 'sid-killed');
      expect(a.kcc.check({ sid: 'sid-killed' })).toBe('revoked');
    } finally {
      await server.restart();
    }
    expect(response.statusCode).toBe(503);
    await until(() => b.kcc.check({ sid: 'sid-killed' }) === 'revoked', 'the revocation reaching the other instance', 45_000);
  });

  it("frozen: Keycloak's k_logout is answered 503 the same way; its sessions reach the other instance once Redis answers again", async () => {
    const { a, b } = await twoInstances({ keycloakAdmin: { enabled: true, adminUrlPath: '/kc' } });
    const action = { id: randomUUID(), expiration: Math.floor(Date.now() / 1000) + 30, resource: CLIENT_ID, action: 'LOGOUT', notBefore: 0, keycloakSessionIds: ['kc-frozen-1', 'kc-frozen-2'] };
    const token = await new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: realm.key.alg, kid: realm.key.kid, typ: 'JWT' }).sign(realm.key.privateKey);
    const pid = server.pid!;
    process.kill(pid, 'SIGSTOP');
    let response: LightMyRequestResponse;
    try {
      response = await answered(a.inject({ method: 'POST', url: '/kc/k_logout', headers: { 'content-type': 'text/plain' }, payload: token }));
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(response.statusCode).toBe(503);
    expect(a.kcc.check({ sid: 'kc-frozen-1' })).toBe('revoked');
    await until(() => b.kcc.check({ sid: 'kc-frozen-1' }) === 'revoked' && b.kcc.check({ sid: 'kc-frozen-2' }) === 'revoked', 'the sessions reaching the other instance', 45_000);
  });
});
