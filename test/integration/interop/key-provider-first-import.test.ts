/**
 * kccKeyProvider used before anything imported upstream's connector (the ring's JWKS without the
 * connector, or a key provider built before the connector): upstream's key-provider base class and
 * its connector import each other, and loaded from the base class's side the cycle failed with
 * "Cannot access 'AbstractKeyProvider' before initialization". Found by an audit (2026-12-03).
 * Its own file: the module cache of a test file that loaded the connector first would hide it.
 */
import { describe, expect, it } from 'vitest';
import { kccClusterProvider, kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';
import { useTestRedis } from '../../support/redis.js';

const KEK = 'first-import-key-encryption-key-0123456789abcdefghijklmnopqrs';
const server = useTestRedis({ appEnvs: [{ app: 'firstimport', env: 'prod' }], persistence: 'none' });

describe('kccKeyProvider as the first user of upstream', () => {
  it('builds a key provider that serves the ring\'s public keys', async () => {
    const user = 'firstimport-prod';
    const clusterProvider = await kccClusterProvider({ connection: { url: server.url, tls: { ca: server.ca }, username: user, password: server.users.get(user)!.password, env: {} }, keyEncryptionKeys: { unsafeAllowPlaintextPrivateKeys: true, env: {} } });
    await clusterProvider.connectOrThrow();
    try {
      const keyProvider = await kccKeyProvider({ keyEncryptionKey: KEK, env: {} })({ clusterProvider } as never);
      const keys = await (keyProvider as unknown as { getPublicKeys(): Promise<{ kid?: string }[]> }).getPublicKeys();
      expect(keys.length).toBeGreaterThan(0);
      expect(typeof keys[0]!.kid).toBe('string');
      await (keyProvider as unknown as { close?: () => Promise<void> }).close?.();
    } finally {
      await clusterProvider.disconnect();
    }
  });
});
