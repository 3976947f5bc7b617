/**
 * Key-encryption-key rotation as the stack does it: the secret `{ v: 1, kek, previous }` in (a
 * fake of) Secrets Manager, rotated by the stack's own rotation function, read by instances on the
 * real redis-server. Instances pick the new key up without a restart, the ring is rewritten under
 * it, and nothing fails meanwhile.
 */
import type { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { KEK_HISTORY_LENGTH, parseKeyEncryptionKeySecret } from '../../../client/src/contract/user-secret.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { createKeyEncryptionKeyRotationHandler } from '../../../infra/rotation/key-encryption-key-rotation-handler.js';
import { KEK_ROTATION_TAG_KEY } from '../../../infra/rotation/rotation-contract.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';
import { connectAs } from '../../support/redis.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheKekmyappprodSecret-AbCdEf';
const TAG = 'kcc-redis';
const FIRST_KEK = `first${'K'.repeat(59)}`;
const rotation = createKeyEncryptionKeyRotationHandler({ rotationTag: TAG, log: () => {} });

const server = useTestRedis({ appEnvs: Array.from({ length: 7 }, (_, i) => ({ app: `kek${i}`, env: 'prod' })), persistence: 'none' });
let sm: FakeSecretsManager;
let app = 0;
const closeLater = closeAfterEach();

beforeEach(() => {
  sm = new FakeSecretsManager();
  sm.add(ARN, JSON.stringify({ v: 1, kek: FIRST_KEK, previous: [] }), { rotationTag: TAG, tagKey: KEK_ROTATION_TAG_KEY });
});
afterEach(() => sm.restore());

const fromSecret: KeyRingOptions = { keyEncryptionKeySecretId: ARN, region: 'eu-west-1', env: {}, algorithm: 'ES256', refreshIntervalMs: 50, lockTtlMs: 2_000 };

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user)));
}

async function instance(user: string, options: KeyRingOptions = {}): Promise<KeyRing> {
  const redis = await KccRedis.connect(kccOptions(server, user));
  closeLater(redis);
  return closeLater(await KeyRing.start(redis, { ...fromSecret, ...options }));
}

const currentKek = () => parseKeyEncryptionKeySecret(sm.value(ARN)).kek;
const fingerprint = (kek: string) => new KeyEncryptionKey(kek).fingerprint;

/** Waits until the ring in Redis is authenticated under the secret's current key and every instance holds that generation. */
async function untilRewrittenUnderCurrentKek(redis: KccRedis, rings: KeyRing[]): Promise<number> {
  const expected = fingerprint(currentKek());
  let generation = 0;
  for (let i = 0; i < 500; i++) {
    const status = await KeyRing.inspect(redis, fromSecret);
    if (status.state === 'verified' && status.kekFingerprint === expected && status.kekIsCurrent && rings.every((r) => r.health().generation === status.generation)) {
      generation = status.generation;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(generation, 'ring rewritten under the new key-encryption key and held by every instance').toBeGreaterThan(0);
  return generation;
}

/** Waits until Redis holds `value` as the ring of `user` again (an instance wrote it back). */
async function untilStoredIs(raw: Redis, user: string, value: string): Promise<void> {
  for (let i = 0; i < 400 && (await storedRing(raw, user))!.value !== value; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect((await storedRing(raw, user))!.value).toBe(value);
}

/** An ES256 signing key of an attacker's, its private half under FIRST_KEK (an earlier key that leaked), signing from a second ago. */
async function attackerKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const now = Date.now();
  return {
    kid, alg: 'ES256' as const,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig', key_ops: ['verify'] },
    privateJwe: await new KeyEncryptionKey(FIRST_KEK).encrypt({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }, kid),
    createdAt: now - 1000, activatesAt: now - 1000, retiresAt: null, expiresAt: null,
  };
}

describe('key-encryption-key rotation (the stack\'s rotation function, real redis-server)', () => {
  it('three instances signing throughout two rotations: zero failed signatures, the ring rewritten under each new key, no restart', { timeout: 60_000 }, async () => {
    const user = `kek${app++}-prod`;
    // One instance re-reads the secret often; the others only when the ring names a key they do not hold.
    const rings = [await instance(user, { keyEncryptionKeyRefreshIntervalMs: 100 }), await instance(user), await instance(user)];
    const kids = new Set(rings.map((r) => r.signingKey().kid));
    const failures: string[] = [];
    let signed = 0;
    let running = true;
    const traffic = rings.map(async (ring, i) => {
      // What the identity provider checks against: the JWKS it fetched from some other instance.
      const idp = rings[(i + 1) % rings.length]!;
      while (running) {
        try {
          const assertion = await ring.signClientAssertion({ clientId: 'app', audience: 'https://sso.example/realms/main' });
          await jwtVerify(assertion, createLocalJWKSet({ keys: [...idp.jwks().keys] }), { algorithms: ['ES256'] });
          signed++;
        } catch (error) {
          failures.push(String(error));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const redis = await connect(user);
    await until(() => signed > 100, 'traffic before the rotation');
    let generation = rings[0]!.health().generation;
    for (let r = 0; r < 2; r++) {
      await sm.rotate(ARN, rotation);
      const next = await untilRewrittenUnderCurrentKek(redis, rings);
      expect(next).toBeGreaterThan(generation);
      generation = next;
      const before = signed;
      await until(() => signed > before + 100, 'traffic after the rotation');
    }
    running = false;
    await Promise.all(traffic);
    expect(failures).toEqual([]);
    expect(rings.map((r) => r.health().status)).toEqual(['ready', 'ready', 'ready']);
    // The same signing key throughout: a key-encryption-key rotation re-encrypts, it does not rotate keys.
    expect(new Set(rings.map((r) => r.signingKey().kid))).toEqual(kids);
    expect(rings.reduce((n, r) => n + r.stats.reencrypted, 0)).toBe(2);
  });

  it('an app-env idle through several rotations still starts with its own keys; past the kept history it is refused with the way out', async () => {
    const user = `kek${app++}-prod`;
    const first = await instance(user);
    const kid = first.signingKey().kid;
    await first.close();
    for (let i = 0; i < 3; i++) await sm.rotate(ARN, rotation);
    const back = await instance(user);
    expect(back.signingKey().kid).toBe(kid);
    expect(await KeyRing.inspect(await connect(user), fromSecret)).toMatchObject({ state: 'verified', kekFingerprint: fingerprint(currentKek()), kekIsCurrent: true });
    await back.close();
    // The ring now sits under the current key; KEK_HISTORY_LENGTH + 1 more rotations push that key out of the secret.
    for (let i = 0; i <= KEK_HISTORY_LENGTH; i++) await sm.rotate(ARN, rotation);
    await expect(instance(user)).rejects.toMatchObject({
      code: 'KCC_KEYRING_INVALID',
      message: expect.stringMatching(
        /unknown-kek: authenticated under key-encryption key [0-9a-f]{16}; this instance holds [0-9a-f]{16}(, [0-9a-f]{16}){12}\. .*more than its 12 earlier keys ago.*: delete the ring \(DEL kek\d-prod:\{kek\d-prod\}:keyring\) and start an instance/,
      ),
    });
  });

  it('a ring forged with an earlier key-encryption key (one that leaked), at a higher generation: refused by running instances (kek-downgrade); an attacker\'s signing key in it is not kept published', async () => {
    const user = `kek${app++}-prod`;
    const ring = await instance(user, { keyEncryptionKeyRefreshIntervalMs: 100 });
    const redis = await connect(user);
    await sm.rotate(ARN, rotation);
    await untilRewrittenUnderCurrentKek(redis, [ring]);
    const raw = await connectAs(server, user);
    try {
      const good = (await storedRing(raw, user))!.value;
      await writeStoredRing(raw, user, await sealedWith(FIRST_KEK, { ...ringPayload(good), generation: 1_000 }));
      await until(() => (ring.stats.refused['kek-downgrade'] ?? 0) > 0, 'the refusal');
      await untilStoredIs(raw, user, good);
      // Found by a review (2026-12-03): the carry-over of a losing ring's keys (a ring an instance
      // created while Redis had lost this one) also ran for this refusal, so a fresh key of the
      // attacker's, written after the ring held, went into every JWKS, sealed under the current key.
      const kid = 'attacker-fresh-kid';
      const restored = nextEvent<[{ generation: number; replaced: string; carriedOver: string[] }]>(ring, 'restored');
      await writeStoredRing(raw, user, await sealedWith(FIRST_KEK, { ...ringPayload(good), writtenAt: Date.now(), keys: [await attackerKey(kid)] }));
      expect((await restored)[0]).toMatchObject({ replaced: 'kek-downgrade', carriedOver: [] });
      await untilStoredIs(raw, user, good);
      expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(kid);
    } finally {
      raw.disconnect();
    }
  });

  it('a ring forged under a leaked earlier KEK that names the held kids compromised is refused (kek-downgrade), not adopted and rewritten under the current one', async () => {
    const user = `kek${app++}-prod`;
    const ring = await instance(user, { keyEncryptionKeyRefreshIntervalMs: 100 });
    const redis = await connect(user);
    await sm.rotate(ARN, rotation);
    await untilAsync(async () => {
      const status = await KeyRing.inspect(redis, fromSecret);
      return status.state === 'verified' && status.kekIsCurrent === true;
    }, 'the ring rewritten under the new KEK', 20_000);
    const raw = await connectAs(server, user);
    try {
      const payload = ringPayload((await storedRing(raw, user))!.value);
      const heldKids = payload.keys.map((k) => k.kid);
      const kid = 'attacker-kid';
      const forgedKey = await attackerKey(kid);
      const forged = { ...payload, generation: payload.generation + 1, keys: [forgedKey], compromised: [...payload.compromised, ...heldKids] };
      await writeStoredRing(raw, user, await sealedWith(FIRST_KEK, forged));
      await until(() => (ring.stats.refused['kek-downgrade'] ?? 0) > 0 || ring.signingKey().kid === kid, 'a verdict on the forged ring', 10_000);
      expect(ring.signingKey().kid).not.toBe(kid);
      expect(ring.stats.refused['kek-downgrade'] ?? 0).toBeGreaterThan(0);
    } finally {
      raw.disconnect();
    }
  });
});
