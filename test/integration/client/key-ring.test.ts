import { describe, expect, it } from 'vitest';
import { jwtVerify, createLocalJWKSet, decodeProtectedHeader } from 'jose';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { PRIVATE_JWK_MEMBERS } from '../../../client/src/keyring/ring-data.js';
import { nextEvent, until } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const server = useTestRedis({ appEnvs: Array.from({ length: 16 }, (_, i) => ({ app: `app${i}`, env: 'prod' })), persistence: 'none' });
let app = 0;
const closeLater = closeAfterEach();

/** A fresh app-env namespace for each test. */
function namespace(): string {
  return `app${app++}-prod`;
}

async function instance(user: string, options: KeyRingOptions = {}): Promise<KeyRing> {
  const redis = await KccRedis.connect(kccOptions(server, user));
  closeLater(redis);
  return closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, ...options }));
}

describe('key ring: one ring per app-env, created and rotated by exactly one instance', () => {
  it('16 instances starting at once on an empty namespace end with exactly one key, the same kid everywhere', async () => {
    const user = namespace();
    const rings = await Promise.all(Array.from({ length: 16 }, () => instance(user, { algorithm: 'ES256' })));
    const kids = new Set(rings.map((r) => r.signingKey().kid));
    expect(kids.size).toBe(1);
    for (const ring of rings) expect(ring.jwks().keys.map((k) => k.kid)).toEqual([...kids]);
    expect(rings.every((r) => r.health().generation === 1)).toBe(true);
  });

  it('16 instances calling rotate() at once produce exactly one new key, published on all before use', async () => {
    const user = namespace();
    const rings = await Promise.all(Array.from({ length: 16 }, () => instance(user, { algorithm: 'ES256', activationDelayMs: 3_600_000 })));
    const active = rings[0]!.signingKey().kid;
    const changes = rings.map((r) => nextEvent(r, 'change'));
    const results = await Promise.all(rings.map((r) => r.rotate()));
    expect(results.filter((r) => r.rotated)).toHaveLength(1);
    expect(new Set(results.map((r) => r.kid)).size).toBe(1);
    await Promise.all(changes);
    for (const ring of rings) {
      expect(ring.jwks().keys.map((k) => k.kid)).toEqual([active, results[0]!.kid]);
      expect(ring.signingKey().kid).toBe(active); // the new key is published, not yet used
      expect(ring.health().generation).toBe(2);
    }
  });

  it('switches every instance to the next key when it activates, and drops the old one after its grace', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([instance(user, { algorithm: 'EdDSA', activationDelayMs: 300, retireGraceMs: 300 }), instance(user, { algorithm: 'EdDSA', activationDelayMs: 300, retireGraceMs: 300 })]);
    const first = a!.signingKey().kid;
    const switched = [a!, b!].map((r) => nextEvent<[{ activeKid: string }]>(r, 'change'));
    const { kid: second } = await a!.rotate();
    // Each instance's first change is the new ring (published), then the activation.
    await Promise.all(switched);
    await until(() => a!.signingKey().kid === second && b!.signingKey().kid === second, 'activation on both instances');
    expect(a!.jwks().keys.map((k) => k.kid)).toEqual([first, second]);
    await until(() => a!.jwks().keys.length === 1 && b!.jwks().keys.length === 1, 'the retired key leaving the JWKS');
    expect(b!.jwks().keys.map((k) => k.kid)).toEqual([second]);
  });

  it('an emergency rotation activates the new key at once and removes the old one from every JWKS', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([instance(user, { algorithm: 'ES256' }), instance(user, { algorithm: 'ES256' })]);
    const compromised = a!.signingKey().kid;
    const seen = nextEvent(b!, 'change');
    const result = await a!.rotate({ immediate: true });
    await seen;
    for (const ring of [a!, b!]) {
      expect(ring.signingKey().kid).toBe(result.kid);
      expect(ring.jwks().keys.map((k) => k.kid)).toEqual([result.kid]);
    }
    expect(result.kid).not.toBe(compromised);
  });

  // An input review: `immediate: 'true'` (text from the environment) was read as false, a scheduled
  // rotation, leaving the key the operator meant to retire as compromised signing for activationDelayMs.
  it('rotate() refuses an option that is not a boolean or not an option, and changes nothing', async () => {
    const ring = await instance(namespace(), { algorithm: 'ES256' });
    const before = ring.jwks().keys.map((k) => k.kid);
    await expect(ring.rotate({ immediate: 'true' } as never)).rejects.toThrow(/KeyRing\.rotate options[\s\S]*immediate: "true" must be true or false/);
    await expect(ring.rotate({ immediat: true } as never)).rejects.toThrow(/immediat: not an option; did you mean immediate\?/);
    await expect(ring.rotate('immediate' as never)).rejects.toThrow(/not an options object/);
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(before);
    expect((await ring.rotate({ immediate: true })).rotated).toBe(true);
  });

  it('instances starting while the ring changes miss no change: each ends on the newest ring without a periodic re-read', async () => {
    const user = namespace();
    const a = await instance(user, { algorithm: 'ES256' });
    // Only the start-up reads and the log tail can bring a change here: no periodic re-read for an hour.
    const starting: Promise<KeyRing>[] = [];
    for (let i = 0; i < 8; i++) {
      // Starts whose reads straddle a rotation: the one a gap between the ring read and the tail would lose.
      for (let j = 0; j < 3; j++) starting.push(instance(user, { algorithm: 'ES256', refreshIntervalMs: 3_600_000 }));
      await a.rotate({ immediate: true });
    }
    const rings = await Promise.all(starting);
    const newest = a.health().generation;
    expect(newest).toBe(9);
    await until(() => rings.every((r) => r.health().generation === newest), 'every started instance on the newest generation');
    for (const ring of rings) expect(ring.signingKey().kid).toBe(a.signingKey().kid);
  });

  it.each(['PS256', 'ES256', 'EdDSA', 'RS256'] as const)('signs Keycloak-compatible client assertions with %s', async (algorithm) => {
    const ring = await instance(namespace(), { algorithm });
    const assertion = await ring.signClientAssertion({ clientId: 'my-client', audience: 'https://sso.example/realms/main' });
    const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet({ keys: [...ring.jwks().keys] }), {
      issuer: 'my-client', subject: 'my-client', audience: 'https://sso.example/realms/main', algorithms: [algorithm],
    });
    expect(protectedHeader).toMatchObject({ alg: algorithm, kid: ring.signingKey().kid });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
    // Keycloak before 26.4 refuses an assertion whose nbf is a second ahead of its clock (no skew allowed, keycloak#8966).
    expect(payload).not.toHaveProperty('nbf');
    expect(typeof payload.jti).toBe('string');
    expect(Array.isArray(payload.aud)).toBe(false);
    const second = await ring.signClientAssertion({ clientId: 'my-client', audience: 'https://sso.example/realms/main' });
    expect(decodeProtectedHeader(second).kid).toBe(ring.signingKey().kid);
    expect((await jwtVerify(second, createLocalJWKSet({ keys: [...ring.jwks().keys] }))).payload.jti).not.toBe(payload.jti);
    for (const key of ring.jwks().keys) expect(key).toMatchObject({ use: 'sig', alg: algorithm, kid: expect.any(String) });
  });
});

describe('key ring: Redis losing or rewinding the ring (failover, restart without persistence)', () => {
  it('restores a ring deleted from Redis from the last good one, so a new instance signs with the same key', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([instance(user, { algorithm: 'ES256', refreshIntervalMs: 30 }), instance(user, { algorithm: 'ES256', refreshIntervalMs: 30 })]);
    const kid = a!.signingKey().kid;
    const admin = await server.admin();
    try {
      await admin.del(`${user}:{${user}}:keyring`);
      const restored = async () => (await admin.hget(`${user}:{${user}}:keyring`, 'value')) !== null;
      for (let i = 0; i < 200 && !(await restored()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await restored()).toBe(true);
    } finally {
      await admin.quit();
    }
    const c = await instance(user, { algorithm: 'ES256' });
    expect([a!, b!, c].map((r) => r.signingKey().kid)).toEqual([kid, kid, kid]);
  });
});

describe('key ring: nothing secret in Redis, tampering refused', () => {
  it('stores no private JWK member in plaintext after start and rotation', async () => {
    const user = namespace();
    const ring = await instance(user, { algorithm: 'PS256' });
    await ring.rotate();
    await ring.rotate({ immediate: true });
    const admin = await server.admin();
    try {
      const [, keys] = await admin.scan(0, 'MATCH', `${user}:*`, 'COUNT', 1000);
      expect(keys.length).toBeGreaterThan(0);
      const dump: string[] = [];
      for (const key of keys) {
        const type = await admin.type(key);
        if (type === 'hash') dump.push(JSON.stringify(await admin.hgetall(key)));
        else if (type === 'stream') dump.push(JSON.stringify(await admin.xrange(key, '-', '+')));
        else if (type === 'string') dump.push(String(await admin.get(key)));
      }
      // Every JSON object anywhere (JSON inside JSON strings, and inside the payload of a JWS such as
      // the stored ring) is checked for private JWK members; the JSON texts seen are kept.
      const found: string[] = [];
      const texts: string[] = [];
      const walk = (value: unknown): void => {
        if (typeof value === 'string') {
          const jws = /^[\w-]+\.([\w-]+)\.[\w-]+$/.exec(value);
          const json = jws ? Buffer.from(jws[1]!, 'base64url').toString() : value;
          try {
            const parsed: unknown = JSON.parse(json);
            texts.push(json);
            walk(parsed);
          } catch {
            // not JSON
          }
        } else if (Array.isArray(value)) value.forEach(walk);
        else if (value && typeof value === 'object') {
          for (const [k, v] of Object.entries(value)) {
            if ((PRIVATE_JWK_MEMBERS as readonly string[]).includes(k)) found.push(k);
            walk(v);
          }
        }
      };
      dump.forEach(walk);
      expect(found).toEqual([]);
      const text = texts.join('\n');
      expect(text).toContain('privateJwe'); // the walk did reach the ring's keys
      expect(text).toMatch(/"kty":"RSA"/);
    } finally {
      await admin.quit();
    }
  });

  it('refuses to start without a key-encryption key, and with another one', async () => {
    const user = namespace();
    await instance(user, { algorithm: 'ES256' });
    const redis = await KccRedis.connect(kccOptions(server, user));
    closeLater(redis);
    await expect(KeyRing.start(redis, { env: {} })).rejects.toMatchObject({ code: 'KCC_CONFIG_INVALID', message: expect.stringMatching(/keyEncryptionKey: missing; set KCC_KEYRING_KEK_SECRET_ID \(the stack creates one per app-env\) or KCC_KEYRING_KEK/) });
    await expect(KeyRing.start(redis, { env: {}, keyEncryptionKey: 'short' })).rejects.toThrow(/at least 32 characters/);
    // A misspelled source is named, with the option meant, beside the missing key.
    await expect(KeyRing.start(redis, { env: {}, keyEncryptionKeySecretID: 'arn:x', activationDelay: 5_000 } as KeyRingOptions)).rejects.toMatchObject({
      problems: [
        'keyEncryptionKeySecretID: not an option; did you mean keyEncryptionKeySecretId?',
        'activationDelay: not an option; did you mean activationDelayMs?',
        expect.stringMatching(/^keyEncryptionKey: missing/),
      ],
    });
    await expect(KeyRing.start(redis, { env: {}, keyEncryptionKey: 'another-key-encryption-key-of-enough-length' })).rejects.toMatchObject({
      code: 'KCC_KEYRING_INVALID',
      message: expect.stringMatching(/unknown-kek: authenticated under key-encryption key [0-9a-f]{16}; this instance holds [0-9a-f]{16}/),
    });
  });
});

describe('KeyRing.inspect: the verified ring, for status reports, changing nothing', () => {
  it('reports absent, then the verified ring (generation, keys with their roles, compromised kids), then a refused one; it never writes', async () => {
    const user = namespace();
    const redis = await KccRedis.connect(kccOptions(server, user));
    closeLater(redis);
    const options = { keyEncryptionKey: KEK, env: {} };
    expect(await KeyRing.inspect(redis, options)).toEqual({ state: 'absent' });
    const ring = await instance(user, { algorithm: 'ES256', activationDelayMs: 3_600_000 });
    const compromised = ring.signingKey().kid;
    const { kid: active } = await ring.rotate({ immediate: true });
    const { kid: next } = await ring.rotate();
    const raw = await connectAs(server, user);
    const key = `${user}:{${user}}:keyring`;
    const before = await raw.hgetall(key);
    const status = await KeyRing.inspect(redis, options);
    expect(status).toMatchObject({
      state: 'verified',
      generation: 3,
      kekIsCurrent: true,
      kekFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      activeKid: active,
      nextKid: next,
      compromisedKids: [compromised],
      keys: [
        { kid: active, alg: 'ES256', role: 'active', retiresAt: expect.any(Number) },
        { kid: next, alg: 'ES256', role: 'next', retiresAt: null },
      ],
    });
    expect(await KeyRing.inspect(redis, { keyEncryptionKey: 'another-key-encryption-key-of-enough-length', env: {} })).toMatchObject({
      state: 'refused',
      reason: 'unknown-kek',
    });
    expect(await raw.hgetall(key)).toEqual(before);
    await raw.quit();
  });
});
