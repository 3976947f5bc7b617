/**
 * An instance cut off from Redis keeps signing with the ring it holds (failing would fail every
 * login), but once it has not read the ring for longer than `activationDelayMs` it cannot know that
 * no rotation has activated meanwhile: it says so (`degraded`, once, with a warning) and its health
 * shows when it last read the ring. Found by a review (2026-12-06): such an instance reported `ready`
 * while signing with a key the fleet had retired (health came only from a refused ring, and
 * `lastLoadedAt` changes only when a newer ring is adopted).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringKey, writeStoredRing } from '../../support/stored-ring.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const KEK = 'unreachable-test-key-encryption-key-0123456789abcdefghijklmnop';
const server = useTestRedis({ appEnvs: [{ app: 'ringcut', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const RING = { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, activationDelayMs: 1_000, retireGraceMs: 2_000, refreshIntervalMs: 100, lockTtlMs: 2_000 } as const;

/** An instance whose connection goes through `proxy`, with the warnings it logs and its degraded/recovered events. */
async function behind(proxy: TcpProxy, user: string): Promise<{ ring: KeyRing; warnings: string[]; events: string[] }> {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message), info: () => undefined };
  const ring = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user, { url: proxy.url, logger }))), RING));
  const events: string[] = [];
  ring.on('degraded', () => events.push('degraded'));
  ring.on('recovered', () => events.push('recovered'));
  return { ring, warnings, events };
}

describe('key ring: an instance that cannot read Redis', () => {
  it('keeps signing with the ring it holds, turns degraded once it has not read the ring for activationDelayMs, says when it last did, and is ready again after a read', async () => {
    const user = 'ringcut-prod';
    const proxy = await TcpProxy.start(server.port);
    try {
      const a = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user))), RING));
      const { ring: b, warnings, events } = await behind(proxy, user);
      const held = b.signingKey().kid;
      expect(b.health()).toMatchObject({ status: 'ready', lastError: undefined });
      expect(b.health().lastReadAt).toBeGreaterThan(0);

      proxy.cut();
      const cutAt = Date.now();
      const rotation = await a.rotate();
      await until(() => a.signingKey().kid === rotation.kid, 'the fleet signing with the new key', 10_000);
      await until(() => events.includes('degraded'), 'b saying it has not read the ring', 10_000);
      const health = b.health();
      expect(health.status).toBe('degraded');
      expect(health.lastReadAt).toBeLessThanOrEqual(cutAt);
      expect(health.lastError).toMatch(new RegExp(`^the key ring has not been read from Redis since ${new Date(health.lastReadAt).toISOString().replace(/\./g, '\\.')} \\(\\d+ s, more than 1 s\\): .*still signing with kid ${held} of generation 1 held here$`));
      // Still signing: failing would fail every login through this instance.
      expect(b.signingKey().kid).toBe(held);
      expect(warnings.filter((w) => w.startsWith('the key ring has not been read from Redis'))).toHaveLength(1);

      proxy.heal();
      await until(() => b.health().status === 'ready' && b.signingKey().kid === rotation.kid, 'b reading the ring again', 20_000);
      expect(b.health().lastReadAt).toBeGreaterThan(cutAt);
      await until(() => events.includes('recovered'), 'b saying so', 10_000);
      expect(events).toEqual(['degraded', 'recovered']);
    } finally {
      await proxy.stop();
    }
  });

  it('already degraded by a refused ring, then cut off: no second degraded; read again, still refused: no recovered; the ring repaired: recovered once', async () => {
    const user = 'ringcut-prod';
    const proxy = await TcpProxy.start(server.port);
    try {
      const { ring: b, warnings, events } = await behind(proxy, user);
      const raw = closeLater(await connectAs(server, user));
      // A ring under a key-encryption key nobody holds: left in place, refused (see key-ring-attacks).
      const forged = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: '0123456789abcdef', typ: 'kcc-keyring' })).toString('base64url')}.e30.AAAA`;
      await writeStoredRing(raw, user, forged, 999);
      await until(() => events.length === 1, 'b refusing the forged ring');

      proxy.cut();
      await until(() => warnings.some((w) => w.startsWith('the key ring has not been read from Redis')), 'b saying it has not read the ring');
      proxy.heal();
      const readAt = b.health().lastReadAt;
      await until(() => b.health().lastReadAt > readAt, 'b reading the ring again', 20_000);
      const again = b.health().lastReadAt;
      await until(() => b.health().lastReadAt > again, 'another read', 10_000);
      expect(b.health().status).toBe('degraded');
      expect(events).toEqual(['degraded']);

      await raw.del(ringKey(user));
      await until(() => events.length === 2, 'b writing its ring back and saying so', 10_000);
      expect(events).toEqual(['degraded', 'recovered']);
      expect(b.health().status).toBe('ready');
    } finally {
      await proxy.stop();
    }
  });
});
