/**
 * kccClusterProvider.lock() tries again while Redis refuses or does not answer (46d3447). A try can
 * take the lock and still fail: Redis ran it, its reply was lost, and ioredis rejected it after its
 * reconnects ran out. Each try had a nonce of its own, so the next try found the lock held by this
 * owner under another nonce, "not taken": lock() answered false while the lock stood, held by no one,
 * for its TTL (upstream then waits for another instance's result until its own deadline, and every
 * other instance refreshing that token is refused the lock too). The tries of one lock() now share
 * one nonce. Real redis-server (TLS, ACL users) behind a TCP proxy that drops replies and cuts.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'klr-prod';
const server = useTestRedis({ appEnvs: [{ app: 'klr', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

/** Every key with an expiry but a release's record of itself: a lock and the nonce beside it among them (the provider hides upstream's names behind an HMAC). */
async function lockKeys(): Promise<string[]> {
  const admin = await server.admin();
  try {
    const expiring: string[] = [];
    for (const key of await admin.keys('*')) if (!key.includes('!released-by:') && (await admin.pttl(key)) > 0) expiring.push(key);
    return expiring.sort();
  } finally {
    admin.disconnect();
  }
}

describe('kccClusterProvider.lock(): a try that took the lock but failed', () => {
  it('the next try of the same lock() finds the lock its own: lock() answers true, and unlock() releases it', async () => {
    const proxy = await TcpProxy.start(server.port);
    closeLater({ close: () => proxy.stop() });
    // The app's own connection, passed in: a command of the test's own rides the same connection as the lock's tries.
    const redis = closeLater(
      await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, connectTimeoutMs: 20_000, reconnectBaseDelayMs: 10, reconnectMaxDelayMs: 20, logger: { warn: () => undefined, info: () => undefined } })),
    );
    const provider = await kccClusterProvider({ redis, keyEncryptionKeys: { keyEncryptionKey: 'connector-lock-retry-key-encryption-key-0123456789', env: {} } });
    await provider.connectOrThrow();
    closeLater({ close: () => provider.disconnect() });
    // Once through, so that Redis holds the lock's script: with replies dropped, a NOSCRIPT would never be answered by sending it.
    expect(await provider.lock({ key: 'warm-up', ttl: 60 })).toBe(true);
    expect(await provider.unlock({ key: 'warm-up', ttl: 60 })).toBe(true);
    const before = await lockKeys();

    // Redis runs the first try; its reply never arrives.
    proxy.dropReplies = true;
    const locking = provider.lock({ key: 'refresh-token-jti', ttl: 60 });
    // Sent after it on the same connection, so rejected with it: the test's sign that the first try has failed.
    const marker = redis.run((r) => r.ping()).then(() => 'answered', () => 'rejected');
    await untilAsync(async () => (await lockKeys()).length > before.length, 'the first try took the lock in Redis');
    // The connection drops and cannot come back: ioredis rejects what was in flight once its reconnects run out.
    proxy.cut();
    expect(await marker).toBe('rejected');
    proxy.dropReplies = false;
    proxy.heal();

    expect(await locking).toBe(true);
    expect(await provider.unlock({ key: 'refresh-token-jti', ttl: 60 })).toBe(true);
    expect(await lockKeys()).toEqual(before);
  });
});
