import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, RedisReplayGuard, Revocations, createBackchannelLogoutHandler } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { mountEndpoint } from '../../support/endpoint-adapter.js';
import { nextEvent } from '../../support/events.js';
import { close, listen } from '../../support/http.js';
import { startProvider } from '../../support/oidc-provider.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';
import { RoundRobinProxy } from '../../support/round-robin-proxy.js';

describe('logout sync end to end: the provider\'s back-channel logout reaches one instance, every instance revokes', () => {
  let redis: LocalRedis;
  beforeAll(async () => {
    redis = await startTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' });
  });
  afterAll(() => redis?.stop());

  it('oidc-provider → round-robin proxy → 1 of 4 instances → isRevoked on all 4; a forged token revokes nothing', async () => {
    const proxy = await RoundRobinProxy.start();
    const op = await startProvider([{ client_id: 'shop', jwks_uri: `${proxy.url}/jwks`, backchannel_logout_uri: `${proxy.url}/backchannel-logout` }]);
    const instances: { redis: KccRedis; revocations: Revocations; close: () => Promise<void> }[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const connection = await KccRedis.connect(kccOptions(redis, 'shop-prod'), ['subscriber']);
        const revocations = await Revocations.start(connection);
        const handler = createBackchannelLogoutHandler({ issuer: op.issuer, clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(connection), jwksUri: `${op.issuer}/jwks` });
        const route = mountEndpoint(handler);
        const { server, url } = await listen((req, res) => (req.method === 'POST' && req.url === '/backchannel-logout' ? route(req, res) : res.writeHead(404).end()));
        proxy.add(url);
        instances.push({ redis: connection, revocations, close: () => close(server) });
      }
      const client = (await op.provider.Client.find('shop')) as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> };
      for (const [n, sid] of ['sid-a', 'sid-b', 'sid-c'].entries()) {
        const applied = instances.map(({ revocations }) => nextEvent(revocations, 'applied'));
        await client.backchannelLogout(`user-${n}`, sid); // resolves only on the instance's 200
        await Promise.all(applied);
        for (const { revocations } of instances) expect(revocations.check({ sid, sub: `user-${n}`, iat: Math.floor(Date.now() / 1000) })).toBe('revoked');
      }
      expect(proxy.hits.size).toBeGreaterThan(1); // different instances received the logouts

      const forged = await fetch(`${proxy.url}/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `logout_token=${'eyJhbGciOiJub25lIn0.eyJzaWQiOiJzaWQtZCJ9.'}`,
      });
      expect(forged.status).toBe(400);
      expect(forged.headers.get('cache-control')).toBe('no-store');
      for (const { revocations } of instances) {
        expect(revocations.check({ sid: 'sid-d' })).toBe('active');
        expect(revocations.stats.revokedSessions).toBe(3);
      }
    } finally {
      for (const instance of instances) {
        await instance.close();
        await instance.revocations.close();
        await instance.redis.close();
      }
      await op.stop();
      await proxy.stop();
    }
  });
});
