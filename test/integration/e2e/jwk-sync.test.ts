import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRedis } from '../../../local/local-redis.js';
import { AppInstance } from '../../support/app-instance.js';
import { until } from '../../support/events.js';
import { startProvider } from '../../support/oidc-provider.js';
import { startTestRedis } from '../../support/redis.js';
import { RoundRobinProxy } from '../../support/round-robin-proxy.js';

const KEK = 'e2e-key-encryption-key-0123456789abcdefghijklmnop';
/** oidc-provider treats a fetched client JWKS as fresh for 60 s: a new key must be published longer than that before use. */
const ACTIVATION_DELAY_MS = 62_000;

describe('JWK sync end to end: a real OpenID Provider, private_key_jwt, a load balancer in front of the instances', () => {
  let redis: LocalRedis;
  beforeAll(async () => {
    redis = await startTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' });
  });
  afterAll(() => redis?.stop());

  it('zero failed grants while scaling 3 → 6, rotating on schedule, and killing an instance', { timeout: 180_000 }, async () => {
    const proxy = await RoundRobinProxy.start();
    const op = await startProvider([{ client_id: 'shop', jwks_uri: `${proxy.url}/jwks` }]);
    const ringOptions = { keyEncryptionKey: KEK, env: {}, activationDelayMs: ACTIVATION_DELAY_MS, retireGraceMs: 30_000, rotateEveryMs: 3_000, refreshIntervalMs: 500 };
    const instances: AppInstance[] = [];
    const launch = async () => {
      const instance = await AppInstance.shared(redis, 'shop-prod', ringOptions);
      proxy.add(instance.url);
      instances.push(instance);
      await instance.startGrants(op.issuer, 'shop', 100);
      return instance;
    };
    try {
      await Promise.all([launch(), launch(), launch()]);
      const firstKid = instances[0]!.keyRing!.signingKey().kid;
      await until(() => instances.every((i) => i.grants.length >= 3), 'grants from the first three instances');

      await Promise.all([launch(), launch(), launch()]); // scale out
      // The scheduled rotation publishes the next key on every instance...
      await until(() => instances.every((i) => i.keyRing!.jwks().keys.length === 2), 'the next key on every instance', 20_000);
      const nextKid = instances[0]!.keyRing!.jwks().keys.map((k) => k.kid).find((kid) => kid !== firstKid)!;

      const victim = instances.splice(1, 1)[0]!; // ...an instance dies (the balancer skips it)...
      await victim.kill();
      proxy.remove(victim.url);

      // ...and after the activation delay every instance signs with it.
      await until(() => instances.every((i) => i.keyRing!.signingKey().kid === nextKid), 'activation of the next key everywhere', ACTIVATION_DELAY_MS + 20_000);
      const counts = () => instances.map((i) => i.grants.filter((g) => g.kid === nextKid).length);
      await until(() => counts().every((n) => n >= 5), 'grants signed with the new key on every instance', 20_000);
      await Promise.all(instances.map((i) => i.stopGrants()));

      const all = [...instances, victim].flatMap((i) => i.grants);
      expect(all.filter((g) => !g.ok)).toEqual([]);
      expect(all.filter((g) => g.kid === firstKid).length).toBeGreaterThan(50);
      expect(all.filter((g) => g.kid === nextKid).length).toBeGreaterThanOrEqual(25);
      expect(proxy.hits.size).toBeGreaterThan(1);
    } finally {
      await Promise.all(instances.map((i) => i.kill()));
      await op.stop();
      await proxy.stop();
    }
  });

  it('with an independent key per instance (the problem), grants fail: proof that the test can fail', { timeout: 60_000 }, async () => {
    const proxy = await RoundRobinProxy.start();
    const op = await startProvider([{ client_id: 'solo', jwks_uri: `${proxy.url}/jwks` }]);
    const instances = await Promise.all([AppInstance.independent(), AppInstance.independent(), AppInstance.independent()]);
    try {
      for (const instance of instances) proxy.add(instance.url);
      await Promise.all(instances.map((i) => i.startGrants(op.issuer, 'solo', 50)));
      await until(() => instances.every((i) => i.grants.length >= 10), 'ten grants per instance');
      await Promise.all(instances.map((i) => i.stopGrants()));
      const all = instances.flatMap((i) => i.grants);
      expect(all.filter((g) => !g.ok).length).toBeGreaterThan(0);
      expect(all.find((g) => !g.ok)?.error).toMatch(/invalid_client|client authentication failed/i);
    } finally {
      await Promise.all(instances.map((i) => i.kill()));
      await op.stop();
      await proxy.stop();
    }
  });
});
