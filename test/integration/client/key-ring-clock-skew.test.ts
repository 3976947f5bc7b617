/**
 * Instances' clocks differ. A key that signs at once (an emergency rotation, the first key) is written
 * active from CLOCK_SKEW_ALLOWANCE_MS before the writer's now, so an instance whose clock is behind by
 * less adopts it. A writer whose clock is further off from the Redis server's writes nothing (unless
 * the server refuses TIME). A ring whose keys are not active yet on a reader's clock anyway is refused
 * as `not-yet-active` and left in place, never written over with the ring held (that would undo an
 * emergency rotation: the compromised key back in use, and instances starting later refusing to, as
 * the log shows the newer generation).
 * Found by an audit (2026-12-03): before, a writer 50 ms ahead was enough.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type JWK, createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const KEK = 'clock-skew-test-key-encryption-key-0123456789abcdefghijklmnop';
const WRITER = fileURLToPath(new URL('../../support/skewed-key-ring.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const APPS = ['skewrotate', 'skewfirst', 'skewfar', 'skewbehind', 'skewlegacy', 'skewnotime', 'skewlead'] as const;
const server = useTestRedis({ appEnvs: APPS.map((app) => ({ app, env: 'prod' })), persistence: 'none' });
const closeLater = closeAfterEach();

async function instance(user: string): Promise<KeyRing> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user)));
  return closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 50, lockTtlMs: 2_000 }));
}

interface WriterResult {
  readonly rotated: boolean;
  readonly kid: string;
  readonly activatesAt: number;
  readonly generation: number;
  readonly jwks: { keys: JWK[] };
}

/** Runs a key-ring instance whose clock is `aheadMs` ahead, to completion. */
function skewedWriter(user: string, aheadMs: number, action: 'rotate-immediate' | 'rotate-scheduled' | 'start-only'): Promise<WriterResult> {
  const connection = { url: server.url, tls: { ca: server.ca }, username: user, password: server.users.get(user)!.password };
  const child = spawn(process.execPath, [...TSX_NODE_ARGS, WRITER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', KCC_TEST_CLOCK_OFFSET_MS: String(aheadMs), KCC_TEST_ACTION: action, KCC_TEST_KEK: KEK, KCC_TEST_CONNECTION: JSON.stringify(connection) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!) as WriterResult) : reject(new Error(`skewed writer exited ${code}:\n${err}`))));
  });
}

describe('key ring: instances whose clocks differ', () => {
  it('an emergency rotation made on a clock 4 s ahead is adopted by the running instances, and instances start after it', async () => {
    const user = 'skewrotate-prod';
    const raw = closeLater(await connectAs(server, user));
    const b = await instance(user);
    const d = await instance(user);
    const compromised = b.signingKey().kid;

    const rotation = await skewedWriter(user, 4_000, 'rotate-immediate');
    expect(rotation).toMatchObject({ rotated: true, generation: 2 });
    await until(() => b.signingKey().kid === rotation.kid && d.signingKey().kid === rotation.kid, 'the running instances on the emergency key', 10_000);
    expect([b.stats.refused, d.stats.refused, b.stats.restored + d.stats.restored]).toEqual([{}, {}, 0]);
    const stored = ringPayload((await storedRing(raw, user))!.value);
    expect([stored.generation, stored.keys.map((k) => k.kid), stored.compromised]).toEqual([2, [rotation.kid], [compromised]]);
    // A login: an assertion a running instance signs verifies against the JWKS the rotation published.
    const assertion = await b.signClientAssertion({ clientId: 'app', audience: 'https://sso.example/realms/main' });
    await expect(jwtVerify(assertion, createLocalJWKSet(rotation.jwks))).resolves.toBeDefined();
    // Scale out.
    expect((await instance(user)).signingKey().kid).toBe(rotation.kid);
  });

  it('a next key written on a clock 50 s ahead is in the JWKS of an instance behind it as soon as it holds the ring, the full activation delay before the writer signs with it', async () => {
    // Found by a review (2026-12-06): a key was published only once its createdAt (the writer's clock)
    // had passed on the reader's own clock. With the writer 50 s ahead, the instance here published the
    // next key 50 s after the write, while the writer signed with it 120 s after the write: 70 s of
    // lead; at +-60 s none.
    const user = 'skewlead-prod';
    const AHEAD = 50_000;
    const b = await instance(user);
    const rotation = await skewedWriter(user, AHEAD, 'rotate-scheduled');
    expect(rotation).toMatchObject({ rotated: true, generation: 2 });
    await until(() => b.health().generation === 2, 'the instance behind holds the new ring', 10_000);
    const publishedBy = Date.now();
    expect(b.jwks().keys.map((k) => k.kid)).toContain(rotation.kid);
    expect(b.signingKey().kid).not.toBe(rotation.kid);
    // The writer signs from activatesAt on its clock: on this one, AHEAD earlier. Published here by
    // publishedBy, that leaves Keycloak more than the JWKS's max-age (60 s) to see the key first.
    const writerSignsAt = rotation.activatesAt - AHEAD;
    expect(writerSignsAt - publishedBy).toBeGreaterThan(60_000);
  });

  it('the first key, created on a clock 4 s ahead, is the one instances starting beside it sign with', async () => {
    const user = 'skewfirst-prod';
    const first = await skewedWriter(user, 4_000, 'start-only');
    expect((await instance(user)).signingKey().kid).toBe(first.kid);
  });

  it('a writer whose clock is off from the Redis server\'s by more than the allowed skew writes nothing, and says why', async () => {
    const user = 'skewfar-prod';
    const raw = closeLater(await connectAs(server, user));
    const b = await instance(user);
    const before = await storedRing(raw, user);
    await expect(skewedWriter(user, 10 * 60_000, 'rotate-immediate')).rejects.toThrow(
      /key ring not written: this host's clock is 600(\.\d)? s ahead of the Redis server's, more than the 60 s instances may differ; .*Synchronise this host's clock/,
    );
    expect(await storedRing(raw, user)).toEqual(before);
    // Behind (here creating the first key of an empty namespace): its scheduled keys would activate at
    // once on every other clock, before Keycloak fetched them.
    await expect(skewedWriter('skewbehind-prod', -10 * 60_000, 'start-only')).rejects.toThrow(/key ring not written: this host's clock is 600(\.\d)? s behind the Redis server's/);
    expect(await storedRing(closeLater(await connectAs(server, 'skewbehind-prod')), 'skewbehind-prod')).toBeUndefined();
    expect([b.stats.refused, b.health().status]).toEqual([{}, 'ready']);
  });

  it('a ring whose keys are not active yet here (a writer that could not compare its clock with the server\'s) is left in place, not undone', async () => {
    const user = 'skewlegacy-prod';
    const raw = closeLater(await connectAs(server, user));
    const b = await instance(user);
    const held = b.signingKey().kid;
    let degradedEvents = 0;
    b.on('degraded', () => degradedEvents++);
    // What a writer 10 minutes ahead writes where the server refuses TIME: the next generation, every key activating then.
    const stored = ringPayload((await storedRing(raw, user))!.value);
    const then = Date.now() + 10 * 60_000;
    const ahead = { ...stored, generation: stored.generation + 1, writtenAt: then, keys: stored.keys.map((k) => ({ ...k, createdAt: then, activatesAt: then })) };
    await writeStoredRing(raw, user, await sealedWith(KEK, ahead));
    await until(() => (b.stats.refused['not-yet-active'] ?? 0) > 0, 'the refusal', 10_000);
    // Several refresh cycles (50 ms) later: nothing written back over it; the held ring still signs, degraded.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([b.stats.restored, b.signingKey().kid, b.health().status]).toEqual([0, held, 'degraded']);
    expect(b.health().lastError).toMatch(/not-yet-active: ring has no key active yet on this instance's clock: .*synchronise the hosts' clocks/);
    expect(ringPayload((await storedRing(raw, user))!.value).writtenAt).toBe(then);
    // Reported once: re-reading the same ring every 50 ms is not another refusal, nor another `degraded`.
    expect([b.stats.refused['not-yet-active'], degradedEvents]).toEqual([1, 1]);
    // An instance starting now says why, and the ways out.
    await expect(instance(user)).rejects.toThrow(/not-yet-active: .*This instance starts once its clock reaches that time\. Check this host's clock first.*stop every instance, delete the ring and its event log \(DEL skewlegacy-prod:\{skewlegacy-prod\}:keyring skewlegacy-prod:\{skewlegacy-prod\}:keyring-events;/);
  });

  it('where the server refuses TIME, rings are written all the same, and that is said once', async () => {
    const user = 'skewnotime-prod';
    const admin = await server.admin();
    try {
      await admin.call('ACL', 'SETUSER', user, '-time');
    } finally {
      admin.disconnect();
    }
    const warnings: string[] = [];
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger: { warn: (message) => warnings.push(message), info: () => undefined } })));
    const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, lockTtlMs: 2_000 })); // writes the first key
    expect((await ring.rotate({ immediate: true })).rotated).toBe(true); // and a second ring
    expect(ring.health()).toMatchObject({ status: 'ready', generation: 2 });
    expect(warnings.filter((w) => w.includes('TIME'))).toEqual(['the Redis server refuses TIME: this host\'s clock is used as it is (key ring writes go ahead without comparing it with the server\'s; revocation bounds, heartbeats and the keycloak-connector provider\'s sealed times use it uncorrected: hosts more than a minute apart drop each other\'s connector messages)']);
  });
});
