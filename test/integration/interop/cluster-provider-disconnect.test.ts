/**
 * kccClusterProvider.disconnect() and the connector's calls made while it runs (from a review,
 * confirmed against a real redis-server): disconnect() let go of the connection before closing the
 * key rings started on it (a ring's close waits up to 2 s for its work in flight), so the
 * connector's own unlock() and publish() made meanwhile were refused ("not connected: call
 * connectOrThrow() first") while the connection was still open: a lock it held then stayed for its
 * TTL. The connection now stays the provider's until the rings and listeners are closed; a
 * subscription made meanwhile is not kept, and a connect asked for meanwhile runs after.
 *
 * Real redis-server (TLS, ACL users, no persistence).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { type KccClusterProvider, kccClusterProvider, kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { Inbox } from './inbox.js';

const USER = 'kcd-prod';
const KEK = 'cluster-provider-disconnect-test-key-encryption-key-0123456789';
const LOCK = { key: 'token-refresh', ttl: 60 };
const server = useTestRedis({ appEnvs: [{ app: 'kcd', env: 'prod' }], persistence: 'none' });

/**
 * Starts a key ring on `provider`'s connection as the connector's key provider does, and holds that
 * ring's close (as one waiting for its work in flight) until the returned `release()`; `closing`
 * resolves once disconnect() has begun closing it.
 */
async function slowClosingRing(provider: KccClusterProvider): Promise<{ closing: Promise<void>; release: () => void }> {
  const keys = await kccKeyProvider({ keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' })({ clusterProvider: provider });
  let begun!: () => void;
  const closing = new Promise<void>((resolve) => (begun = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const close = keys.ring.close.bind(keys.ring);
  keys.ring.close = async () => {
    begun();
    await released;
    return close();
  };
  return { closing, release };
}

async function adminDo<T>(use: (admin: Awaited<ReturnType<typeof server.admin>>) => Promise<T>): Promise<T> {
  const admin = await server.admin();
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

describe('kccClusterProvider.disconnect(): the connector\'s calls while the key rings close', () => {
  it('unlock() and publish() made while a key ring closes still run: the lock is released at once, the message arrives', async () => {
    const provider = await kccClusterProvider({ connection: kccOptions(server, USER), keyEncryptionKeys: { keyEncryptionKey: 'd'.repeat(40), env: {} } });
    const listener = await kccClusterProvider({ connection: kccOptions(server, USER), keyEncryptionKeys: { keyEncryptionKey: 'd'.repeat(40), env: {} } });
    try {
      await Promise.all([provider.connectOrThrow(), listener.connectOrThrow()]);
      const inbox = new Inbox();
      expect(await listener.subscribe('sessions', inbox.listener)).toBe(true);
      expect(await provider.lock(LOCK)).toBe(true);
      const lockKey = provider.redisKey(LOCK.key);
      const ring = await slowClosingRing(provider);

      const disconnected = provider.disconnect();
      await ring.closing;
      // What the connector does meanwhile: release its lock, tell the other instances.
      const refused = (error: unknown) => `refused: ${String(error)}`;
      const unlocked = await provider.unlock(LOCK).catch(refused);
      const published = await provider.publish('sessions', { logout: 'sid-1' }).catch(refused);
      ring.release();
      await expect(disconnected).resolves.toBe(true);

      expect({ unlocked, published }).toEqual({ unlocked: true, published: true });
      expect(await adminDo(async (admin) => admin.pttl(lockKey)), 'the lock\'s PTTL after disconnect (-2: gone)').toBe(-2);
      expect((await inbox.count(1)).map((m) => m.data)).toEqual([{ logout: 'sid-1' }]);
      expect([provider.isConnected(false), provider.isConnected(true)]).toEqual([false, false]);
      expect(() => provider.redis).toThrow(/not connected/);
    } finally {
      await Promise.all([provider.disconnect(), listener.disconnect()]);
    }
  });

  it('on a connection the app passed: a subscription made meanwhile is not kept on it, and a connect asked for meanwhile runs after the disconnect', async () => {
    const warnings: string[] = [];
    const redis = await KccRedis.connect(kccOptions(server, USER, { logger: { info: () => undefined, warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`) } }), ['subscriber']);
    const provider = await kccClusterProvider({ redis, keyEncryptionKeys: { keyEncryptionKey: 'd'.repeat(40), env: {} } });
    try {
      await provider.connectOrThrow();
      const channel = provider.redisChannel('late');
      const ring = await slowClosingRing(provider);
      const disconnected = provider.disconnect();
      await ring.closing;
      const subscribed = provider.subscribe('late', () => undefined);
      const reconnected = provider.connectOrThrow();
      let disconnectDone = false;
      void disconnected.then(() => (disconnectDone = true));
      ring.release();
      expect(await subscribed).toBe(false);
      expect(warnings).toEqual([expect.stringMatching(/^subscribing to a keycloak-connector channel failed .*disconnecting: not subscribed/)]);
      await disconnected;
      await expect(reconnected).resolves.toBe(true);
      expect(disconnectDone, 'the connect ran after the disconnect').toBe(true);
      expect(provider.isConnected(false)).toBe(true);
      expect(redis.client.status).toBe('ready'); // the app's connection is the app's to close
      expect(await adminDo(async (admin) => admin.call('PUBSUB', 'NUMSUB', channel))).toEqual([channel, 0]);
    } finally {
      await provider.disconnect();
      await redis.close();
    }
  });
});
