/**
 * kccClusterProvider across a key-encryption-key rotation. Its keys, locks and channels are named by
 * an HMAC under the key (connector-cache-forgery.test.ts says why), so instances on either side of a
 * rotation name them differently: an instance that has not read the rotation yet (current K1) and one
 * that has (current K2, previous K1) must still share values, exclude each other from a lock (upstream
 * refreshes a token once under it), and hear each other's messages; and a listener made before two
 * rotations (upstream's cache invalidations) must still hear them (an attack review found it deaf).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { KeyEncryptionKeyMaterial } from '../../../client/src/keyring/key-encryption-keys.js';
import { type KccClusterProvider, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'rot-prod';
const server = useTestRedis({ appEnvs: [{ app: 'rot', env: 'prod' }], persistence: 'none' });
const K1 = 'k1-key-encryption-key-0123456789abcdefghij';
const K2 = 'k2-key-encryption-key-0123456789abcdefghij';
const K3 = 'k3-key-encryption-key-0123456789abcdefghij';
const open: KccClusterProvider[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.disconnect()));
});

/** A connected provider whose key source answers what `source.material` says at each read. */
async function provider(source: { material: KeyEncryptionKeyMaterial }): Promise<KccClusterProvider> {
  const p = await kccClusterProvider({ connection: kccOptions(server, USER), keyEncryptionKeys: { keyEncryptionKeyProvider: async () => source.material, env: {} } });
  open.push(p);
  await p.connectOrThrow();
  return p;
}

/** Makes `p` read its key source again now (as it does every keyEncryptionKeyRefreshIntervalMs). */
const reread = (p: KccClusterProvider) => (p as unknown as { sealing: { refresh(): Promise<boolean> } }).sealing.refresh();

describe('kccClusterProvider: instances on either side of a key-encryption-key rotation', () => {
  it('share values both ways, exclude each other from a lock either way round, and hear each other', async () => {
    const behind = await provider({ material: { kek: K1 } });
    const ahead = await provider({ material: { kek: K2, previous: [K1] } });

    await ahead.store('cluster-cache:TokenCache:a', 'from ahead', 60);
    expect(await behind.get('cluster-cache:TokenCache:a')).toBe('from ahead');
    await behind.store('cluster-cache:TokenCache:b', 'from behind', 60);
    expect(await ahead.get('cluster-cache:TokenCache:b')).toBe('from behind');

    const lock = { key: 'cluster-cache:update-data:TokenCache:j', ttl: 60 };
    expect(await behind.lock(lock)).toBe(true);
    expect(await ahead.lock(lock)).toBe(false);
    expect(await behind.unlock(lock)).toBe(true);
    expect(await ahead.lock(lock)).toBe(true);
    expect(await behind.lock(lock)).toBe(false);
    // A value stored under the lock, also when the keys were read again between lock() and store().
    await reread(ahead);
    expect(await ahead.store('cluster-cache:TokenCache:c', 'under the lock', 60, lock.key)).toBe(true);
    expect(await behind.get('cluster-cache:TokenCache:c')).toBe('under the lock');
    expect(await ahead.unlock(lock)).toBe(true);
    expect(await behind.lock(lock)).toBe(true);

    const heardByBehind: unknown[] = [];
    const heardByAhead: unknown[] = [];
    await behind.subscribe('jobs', (data) => void heardByBehind.push(data));
    await ahead.subscribe('jobs', (data) => void heardByAhead.push(data));
    await ahead.publish('jobs', 'from ahead');
    await until(() => heardByBehind.length === 1 && heardByAhead.length === 1, 'the message from the instance ahead, on both');
    // The instance behind publishes on its keys' channels only: the one ahead listens on the previous key's too.
    await behind.publish('jobs', 'from behind');
    await until(() => heardByBehind.length === 2 && heardByAhead.length === 2, 'the message from the instance behind, on both');
    await ahead.publish('jobs', 'again from ahead'); // a marker: anything heard twice comes before it
    await until(() => heardByAhead.length >= 3 && heardByBehind.length >= 3, 'the marker');
    expect(heardByBehind).toEqual(['from ahead', 'from behind', 'again from ahead']);
    expect(heardByAhead).toEqual(['from ahead', 'from behind', 'again from ahead']); // each once, though it came on two channels
  });

  it('a listener made before two rotations still hears what instances that read both publish', async () => {
    const source = { material: { kek: K1 } as KeyEncryptionKeyMaterial };
    const listener = await provider(source);
    const heard: unknown[] = [];
    await listener.subscribe('invalidator-listening-channel', (data) => void heard.push(data));
    for (const material of [{ kek: K2, previous: [K1] }, { kek: K3, previous: [K2, K1] }]) {
      source.material = material;
      expect(await reread(listener)).toBe(true);
    }
    const publisher = await provider({ material: { kek: K3, previous: [K2, K1] } });
    await publisher.publish('invalidator-listening-channel', { key: 'after two rotations' });
    await until(() => heard.length === 1, 'the invalidation after two rotations');
    expect(heard).toEqual([{ key: 'after two rotations' }]);
  });
});
