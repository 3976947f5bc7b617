/**
 * A ring forged under an EARLIER key-encryption key (a leaked one still in the secret's `previous`)
 * that names the running instance's kids compromised is refused (kek-downgrade): with the compromise
 * rule judged first, the instance adopted it, signed with the attacker's key and rewrote it under
 * the current KEK, where removing the leaked key from `previous` no longer helped.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { createKeyEncryptionKeyRotationHandler } from '../../../infra/rotation/key-encryption-key-rotation-handler.js';
import { KEK_ROTATION_TAG_KEY } from '../../../infra/rotation/rotation-contract.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until, untilAsync } from '../../support/events.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { connectAs, kccOptions, startTestRedis } from '../../support/redis.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekmyappprodSecret-AbCdEf';
const TAG = 'kcc-redis';
const FIRST_KEK = `first${'K'.repeat(59)}`;
const rotation = createKeyEncryptionKeyRotationHandler({ rotationTag: TAG, log: () => {} });
const user = 'kekdown-prod';
let server: LocalRedis;
let sm: FakeSecretsManager;
const open: { redis: KccRedis; ring?: KeyRing }[] = [];

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'kekdown', env: 'prod' }], persistence: 'none' });
});
beforeEach(() => {
  sm = new FakeSecretsManager();
  sm.add(ARN, JSON.stringify({ v: 1, kek: FIRST_KEK, previous: [] }), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map(async ({ redis, ring }) => {
    await ring?.close();
    await redis.close();
  }));
  sm.restore();
});
afterAll(() => server?.stop());

const options: KeyRingOptions = { keyEncryptionKeySecretId: ARN, region: 'eu-west-1', env: {}, algorithm: 'ES256', refreshIntervalMs: 50, lockTtlMs: 2_000, keyEncryptionKeyRefreshIntervalMs: 100 };

it('a ring forged under a leaked earlier KEK that names the held kids compromised is refused (kek-downgrade)', async () => {
  const redis = await KccRedis.connect(kccOptions(server, user));
  const entry: { redis: KccRedis; ring?: KeyRing } = { redis };
  open.push(entry);
  const ring = (entry.ring = await KeyRing.start(redis, options));
  await sm.rotate(ARN, rotation);
  // wait until the ring is rewritten under the new current KEK
  await untilAsync(async () => {
    const s = await KeyRing.inspect(redis, options);
    return s.state === 'verified' && s.kekIsCurrent === true;
  }, 'ring under the new KEK', 20_000);
  const raw = await connectAs(server, user);
  try {
    const good = (await storedRing(raw, user))!.value;
    const payload = ringPayload(good);
    const heldKids = payload.keys.map((k) => k.kid);
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = 'attacker-kid';
    const now = Date.now();
    const forgedKey = {
      kid, alg: 'ES256' as const,
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig', key_ops: ['verify'] },
      privateJwe: await new KeyEncryptionKey(FIRST_KEK).encrypt({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }, kid),
      createdAt: now - 1000, activatesAt: now - 1000, retiresAt: null, expiresAt: null,
    };
    const forged = { ...payload, generation: payload.generation + 1, keys: [forgedKey], compromised: [...payload.compromised, ...heldKids] };
    await writeStoredRing(raw, user, await sealedWith(FIRST_KEK, forged));
    // Give the running instance time for several reads (refreshIntervalMs 50).
    await until(() => (ring.stats.refused['kek-downgrade'] ?? 0) > 0 || ring.signingKey().kid === kid, 'a verdict on the forged ring', 10_000);
    expect(ring.signingKey().kid, 'the running instance signs with the attacker key').not.toBe(kid);
    expect(ring.stats.refused['kek-downgrade'] ?? 0).toBeGreaterThan(0);
  } finally {
    raw.disconnect();
  }
});
