/**
 * Boolean and timer options of the key ring, the revocations and the keycloak-connector drop-in,
 * from an input-validation review: a string 'false' (what process.env holds) counted as true
 * (private keys under the well-known key, a stale instance accepting tokens), and an interval above
 * Node's longest timer fired every millisecond (a Redis read in a loop). Each is now a KccConfigError
 * naming the option, before anything is started.
 */
import { describe, expect, it } from 'vitest';
import { secretsIn } from '../../support/secret-scan.js';
import { KccConfigError, type KccRedis, type KeyRingOptions, KeyRing, Revocations } from '../../../client/src/index.js';
import { resolveKeyRingOptions } from '../../../client/src/keyring/key-ring-options.js';
import { kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';

const quiet = { warn: () => {}, info: () => {} };
const KEK = 'k'.repeat(64);
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekshopprodSecret-AbCdEf';

/**
 * A stand-in connection: its config is there; anything else it is asked for is recorded and fails.
 * A start refused for its options asks it for nothing: no read is sent, no object started.
 */
function standIn(): { redis: KccRedis; asked: string[] } {
  const asked: string[] = [];
  const config = { logger: quiet, region: 'eu-west-1', connectTimeoutMs: 1_000, keyPrefix: 'my-app-prod:' };
  const redis = new Proxy({}, {
    get: (_target, name) => {
      if (name === 'config') return config;
      if (name === 'then') return undefined;
      asked.push(String(name));
      return () => {
        throw new Error(`stand-in: ${String(name)} is not available`);
      };
    },
  }) as KccRedis;
  return { redis, asked };
}

async function configError(start: Promise<unknown>): Promise<KccConfigError> {
  const error = await start.then(() => expect.fail('expected a KccConfigError'), (e: unknown) => e);
  expect(error).toBeInstanceOf(KccConfigError);
  return error as KccConfigError;
}

describe('KeyRing.start', () => {
  it("unsafeAllowPlaintextPrivateKeys: 'false' is refused (it stored private keys under the well-known key), and no ring is started", async () => {
    const { redis, asked } = standIn();
    const error = await configError(KeyRing.start(redis, { unsafeAllowPlaintextPrivateKeys: 'false' as never }));
    expect(error.problems).toEqual([expect.stringMatching(/^unsafeAllowPlaintextPrivateKeys: "false" must be true or false; a string is not read as a boolean/)]);
    // Nothing at all: not even the reads a start sends while the key-encryption keys resolve.
    expect(asked).toEqual([]);
  });

  it.each(['refreshIntervalMs', 'keyEncryptionKeyRefreshIntervalMs'] as const)("%s above Node's longest timer is refused (it fired every millisecond); the longest is taken", async (name) => {
    const { redis, asked } = standIn();
    const error = await configError(KeyRing.start(redis, { keyEncryptionKey: KEK, [name]: 30 * 24 * 3_600_000 }));
    expect(error.problems).toEqual([`${name}: 2592000000 must be a whole number of milliseconds from 1 to 2147483647`]);
    // Nothing at all: not even the reads a start sends while the key-encryption keys resolve.
    expect(asked).toEqual([]);
    await expect(resolveKeyRingOptions({ keyEncryptionKey: KEK, [name]: 2_147_483_647 }, quiet)).resolves.toMatchObject({ [name]: 2_147_483_647 });
  });

  it('keyEncryptionKey of another kind than a string is a KccConfigError naming it (was a KccSecretError without the option), its value not shown', async () => {
    for (const kek of [12345, { kek: KEK }]) {
      const error = await configError(resolveKeyRingOptions({ keyEncryptionKey: kek as never }, quiet));
      expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^keyEncryptionKey: ${typeof kek === 'number' ? 'a number' : 'an object'}, not a string; give a secret of at least 32 characters`))]);
      expect(secretsIn(error, ['12345', KEK], { coerce: true })).toEqual([]);
    }
  });

  it('keyEncryptionKey and keyEncryptionKeySecretId both given is refused, as with a provider (the fixed key won in silence)', async () => {
    const error = await configError(resolveKeyRingOptions({ keyEncryptionKey: KEK, keyEncryptionKeySecretId: ARN }, quiet));
    expect(error.problems).toEqual([expect.stringMatching(/^keyEncryptionKey: give it or keyEncryptionKeySecretId, not both/)]);
    expect(secretsIn(error, [KEK], { coerce: true })).toEqual([]);
  });

  it('a key-encryption-key secret id of another shape is refused before any read, not shown', async () => {
    const pasted = `${KEK}!`;
    for (const options of [{ keyEncryptionKeySecretId: pasted }, { env: { KCC_KEYRING_KEK_SECRET_ID: pasted } }] satisfies KeyRingOptions[]) {
      const error = await configError(resolveKeyRingOptions(options, quiet));
      expect(error.problems).toEqual([expect.stringMatching(/^(keyEncryptionKeySecretId|KCC_KEYRING_KEK_SECRET_ID): a string of 65 characters \(not shown: .*\) is not a Secrets Manager secret name or ARN/)]);
      expect(secretsIn(error, [KEK], { coerce: true })).toEqual([]);
    }
  });
});

describe('Revocations.start', () => {
  it.each([['false'], ['0'], [1]])('failOpen: %j is refused (a string made a stale instance accept tokens), and nothing is started', async (failOpen) => {
    const { redis, asked } = standIn();
    const error = await configError(Revocations.start(redis, { failOpen: failOpen as never }));
    expect(error.message).toMatch(/^kcc-redis revocation options are invalid \(1 problem\):/);
    expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^failOpen: ${JSON.stringify(failOpen)} must be true or false`))]);
    expect(asked).toEqual([]);
  });
});

describe('kccClusterProvider', () => {
  it('boolean options of its connection and keyEncryptionKeys are checked when it is called, named by their path', async () => {
    const error = await configError(kccClusterProvider({ connection: { clusterMode: 'false' as never, url: 'rediss://cache.example:6379' }, keyEncryptionKeys: { unsafeAllowPlaintextPrivateKeys: 'false' as never } }));
    expect(error.problems).toEqual([
      expect.stringMatching(/^keyEncryptionKeys\.unsafeAllowPlaintextPrivateKeys: "false" must be true or false/),
      expect.stringMatching(/^connection\.clusterMode: "false" must be true or false/),
    ]);
  });

  it('keyEncryptionKeys with a fixed key and a secret id is refused when it is called', async () => {
    const error = await configError(kccClusterProvider({ keyEncryptionKeys: { keyEncryptionKey: KEK, keyEncryptionKeySecretId: ARN } }));
    expect(error.problems).toEqual([expect.stringMatching(/^keyEncryptionKeys\.keyEncryptionKey: give it or keyEncryptionKeySecretId, not both/)]);
  });
});
