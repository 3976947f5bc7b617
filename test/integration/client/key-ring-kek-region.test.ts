/**
 * Which AWS region a key ring reads its key-encryption-key secret in: a secret given by name is read
 * in the key ring's own `region`, else the connection's, else AWS_REGION; a secret's ARN names its
 * region, which always wins. Found by a docs review (2026-12-07): the docs said "the connection's"
 * and the key ring ignored it, so an app that set only the connection's region and no AWS_REGION read
 * the secret from the SDK's default region and did not start. A (fake of) Secrets Manager that
 * records the client each read went through; the real redis-server.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { resolveKeyEncryptionKeys } from '../../../client/src/keyring/key-ring-options.js';
import { closeAfterEach } from '../../support/closing.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekregionprodSecret-AbCdEf';
const NAME = 'CacheKekregionprodSecret';
const USER = 'region-prod';
const server = useTestRedis({ appEnvs: [{ app: 'region', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const quiet = { info: () => {}, warn: () => {} };
let sm: FakeSecretsManager;

beforeEach(() => {
  sm = new FakeSecretsManager();
  sm.add(ARN, JSON.stringify({ v: 1, kek: `region${'K'.repeat(58)}`, previous: [] }));
});
afterEach(() => sm.restore());

/** The regions of the clients the secret was read through, in order. */
async function regionsRead(): Promise<string[]> {
  const calls = sm.mock.commandCalls(GetSecretValueCommand);
  return Promise.all(calls.map((call) => (call.thisValue as SecretsManagerClient).config.region()));
}

const byName: KeyRingOptions = { keyEncryptionKeySecretId: NAME, env: {}, algorithm: 'ES256' };

describe('key ring: the region of its key-encryption-key secret', () => {
  it('by name: the connection\'s region when the key ring names none (KeyRing.start and KeyRing.inspect)', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { region: 'eu-north-1' })));
    expect(redis.config.region).toBe('eu-north-1');
    closeLater(await KeyRing.start(redis, byName));
    expect((await KeyRing.inspect(redis, byName)).state).toBe('verified');
    expect(await regionsRead()).toEqual(['eu-north-1', 'eu-north-1']);
  });

  it('by name: the key ring\'s own region first; an ARN\'s region over both', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { region: 'eu-north-1' })));
    closeLater(await KeyRing.start(redis, { ...byName, region: 'ap-south-1' }));
    closeLater(await KeyRing.start(redis, { ...byName, keyEncryptionKeySecretId: ARN }));
    expect(await regionsRead()).toEqual(['ap-south-1', 'eu-west-1']);
  });

  it('by name, no region given anywhere: AWS_REGION of the key ring\'s environment', async () => {
    await resolveKeyEncryptionKeys({ ...byName, env: { AWS_REGION: 'sa-east-1' } }, quiet);
    await resolveKeyEncryptionKeys({ ...byName, env: { AWS_REGION: 'sa-east-1' } }, quiet, undefined, 'eu-north-1');
    expect(await regionsRead()).toEqual(['sa-east-1', 'eu-north-1']);
  });
});
