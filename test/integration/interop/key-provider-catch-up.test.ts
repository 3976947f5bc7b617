/**
 * kccKeyProvider after the ring went unread past its refresh interval (a frozen Lambda environment,
 * Redis cut off): the connector's public keys (its JWKS route) and its active key (its state JWTs and
 * client authentication) come from a ring caught up with Redis first, not from the one held before.
 * Another instance rotated at once meanwhile, so the key held here is in no JWKS any more. Real
 * redis-server (TLS, the app-env's ACL user) behind a TCP proxy; the connector's key-provider base
 * class from npm.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const KEK = 'provider-catch-up-key-encryption-key-0123456789abcdefghijklmnop';
const USER = 'providercatchup-prod';
const server = useTestRedis({ appEnvs: [{ app: 'providercatchup', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
/** Read every 200 ms: overdue 1.2 s after the last read. */
const RING = { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 200, activationDelayMs: 3_600_000 } as const;

interface ProviderView {
  getPublicKeys(): Promise<{ kid?: string }[]>;
  getActiveKeys(): Promise<{ kid: string }>;
  close(): void;
}

describe('kccKeyProvider: keys after the ring went unread too long', () => {
  it('serves the public keys and the active key of the ring as Redis holds it, not as held before', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const here = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url }))), RING));
      const other = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USER))), RING));
      const provider = (await kccKeyProvider(here)({} as never)) as unknown as ProviderView;
      const held = (await provider.getActiveKeys()).kid;
      expect((await provider.getPublicKeys()).map((key) => key.kid)).toContain(held);

      proxy.cut();
      const rotated = await other.rotate({ immediate: true });
      expect(other.jwks().keys.map((key) => key.kid)).toEqual([rotated.kid]);
      await until(() => Date.now() - here.health().lastReadAt > 1_500, 'the ring read overdue', 20_000);
      expect(here.signingKey().kid).toBe(held); // nothing read meanwhile

      proxy.heal();
      // Asked at once: the periodic read cannot have reconnected yet; only a catch-up brings the rotation.
      const [publicKeys, active] = await Promise.all([provider.getPublicKeys(), provider.getActiveKeys()]);
      expect(publicKeys.map((key) => key.kid)).toEqual([rotated.kid]);
      expect(active.kid).toBe(rotated.kid);
      provider.close();
    } finally {
      await proxy.stop();
    }
  });
});
