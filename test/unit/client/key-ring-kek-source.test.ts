/**
 * Where the key ring's key-encryption key comes from: an explicit option wins over the environment,
 * as everywhere in kcc-redis. Found by a review (2026-12-06): an explicit keyEncryptionKeySecretId
 * was silently overridden by KCC_KEYRING_KEK in the environment (the key text was looked at first,
 * from either), so such an instance wrote rings under a key the rest of the fleet did not hold.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KccConfigError } from '../../../client/src/index.js';
import { resolveKeyEncryptionKeys } from '../../../client/src/keyring/key-ring-options.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';

const quiet = { info: () => {}, warn: () => {} };
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekshopprodSecret-AbCdEf';
const SECRET_KEK = `secret${'S'.repeat(58)}`;
const ENV_KEK = `environment${'E'.repeat(53)}`;
const OPTION_KEK = `option${'O'.repeat(58)}`;
const fingerprint = (kek: string) => new KeyEncryptionKey(kek).fingerprint;
let sm: FakeSecretsManager;

beforeEach(() => {
  sm = new FakeSecretsManager();
  sm.add(ARN, JSON.stringify({ v: 1, kek: SECRET_KEK, previous: [] }));
});
afterEach(() => sm.restore());

const current = async (options: Parameters<typeof resolveKeyEncryptionKeys>[0]) => (await resolveKeyEncryptionKeys({ region: 'eu-west-1', ...options }, quiet)).keks.current.fingerprint;

describe('key ring: which key-encryption key source is used', () => {
  it('an explicit keyEncryptionKeySecretId wins over KCC_KEYRING_KEK (and over KCC_KEYRING_KEK_SECRET_ID)', async () => {
    expect(await current({ keyEncryptionKeySecretId: ARN, env: { KCC_KEYRING_KEK: ENV_KEK } })).toBe(fingerprint(SECRET_KEK));
    expect(await current({ keyEncryptionKeySecretId: ARN, env: { KCC_KEYRING_KEK_SECRET_ID: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-XyZ' } })).toBe(fingerprint(SECRET_KEK));
  });

  it('an explicit keyEncryptionKey wins over KCC_KEYRING_KEK_SECRET_ID and KCC_KEYRING_KEK; a provider over both', async () => {
    expect(await current({ keyEncryptionKey: OPTION_KEK, env: { KCC_KEYRING_KEK_SECRET_ID: ARN, KCC_KEYRING_KEK: ENV_KEK } })).toBe(fingerprint(OPTION_KEK));
    expect(await current({ keyEncryptionKeyProvider: async () => ({ kek: OPTION_KEK }), env: { KCC_KEYRING_KEK_SECRET_ID: ARN, KCC_KEYRING_KEK: ENV_KEK } })).toBe(fingerprint(OPTION_KEK));
  });

  it('with no option, the environment: KCC_KEYRING_KEK and KCC_KEYRING_KEK_SECRET_ID both set is refused (a fixed key would replace the rotating secret in silence); a short KCC_KEYRING_KEK an option overrides is not a problem', async () => {
    const both = await current({ env: { KCC_KEYRING_KEK_SECRET_ID: ARN, KCC_KEYRING_KEK: ENV_KEK } }).catch((e: unknown) => e);
    expect(both).toBeInstanceOf(KccConfigError);
    expect((both as Error).message).toContain('KCC_KEYRING_KEK, KCC_KEYRING_KEK_SECRET_ID: both are set; unset one');
    expect((both as Error).message).not.toContain(ENV_KEK);
    expect(sm.mock.calls()).toHaveLength(0);
    expect(await current({ env: { KCC_KEYRING_KEK: ENV_KEK } })).toBe(fingerprint(ENV_KEK));
    expect(await current({ env: { KCC_KEYRING_KEK_SECRET_ID: ARN } })).toBe(fingerprint(SECRET_KEK));
    expect(await current({ keyEncryptionKeySecretId: ARN, env: { KCC_KEYRING_KEK: 'short' } })).toBe(fingerprint(SECRET_KEK));
  });
});
