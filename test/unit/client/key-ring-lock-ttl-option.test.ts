import { describe, expect, it } from 'vitest';
import { KccConfigError } from '../../../client/src/errors.js';
import { resolveKeyRingOptions } from '../../../client/src/keyring/key-ring-options.js';
import { MAX_LOCK_TTL_MS } from '../../../client/src/lock.js';

const quiet = { info: () => {}, warn: () => {} };
const KEK = 'lock-ttl-test-key-encryption-key-0123456789abcdefghijklmnop';

describe('key ring option lockTtlMs', () => {
  it('longer than any lock an honest holder keeps (1 hour: a longer one is replaced as forged) is a config error at start, naming the option', async () => {
    const error = await resolveKeyRingOptions({ keyEncryptionKey: KEK, env: {}, lockTtlMs: MAX_LOCK_TTL_MS + 1 }, quiet).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems.join('\n')).toMatch(/^lockTtlMs: .*3600000/m);
    await expect(resolveKeyRingOptions({ keyEncryptionKey: KEK, env: {}, lockTtlMs: MAX_LOCK_TTL_MS }, quiet)).resolves.toMatchObject({ lockTtlMs: MAX_LOCK_TTL_MS });
  });
});
