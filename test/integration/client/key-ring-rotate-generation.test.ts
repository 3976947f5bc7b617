/**
 * rotate() tells "someone else rotated" from "the ring was rewritten". Found by a review
 * (2026-12-06): a new generation between the call's read of the ring and its taking the lock (a
 * rewrite under the current key-encryption key, a write-back carrying keys that never sign) made it
 * return { rotated: false, kid: <the active key> }, which the CLI printed as "already pending":
 * nothing rotated, and nobody was told.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { Locks } from '../../../client/src/lock.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, sealedWith, storedRing, writeStoredRing } from '../../support/stored-ring.js';

const KEK = 'rotate-generation-test-key-encryption-key-0123456789abcdefghij';
const server = useTestRedis({ appEnvs: [{ app: 'rotgen', env: 'prod' }, { app: 'rotpend', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const OPTIONS: KeyRingOptions = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', activationDelayMs: 3_600_000, refreshIntervalMs: 3_600_000, lockTtlMs: 2_000 };

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user)));
}

/** Counts `ring`'s attempts at taking its lock (white-box: the point where the call waits for it). */
function lockAttempts(ring: KeyRing): () => number {
  const locks = (ring as unknown as { keeper: { locks: Locks } }).keeper.locks;
  const acquire = locks.acquire.bind(locks);
  let attempts = 0;
  locks.acquire = async (...args: Parameters<Locks['acquire']>) => {
    try {
      return await acquire(...args);
    } finally {
      attempts++;
    }
  };
  return () => attempts;
}

/** The generations `ring`'s waits for a change are for, from now on (white-box: the wait between tries for its lock). */
function waitedGenerations(ring: KeyRing): number[] {
  const keeper = (ring as unknown as { keeper: { waitForGenerationAbove: (generation: number, ms: number) => Promise<boolean> } }).keeper;
  const wait = keeper.waitForGenerationAbove.bind(keeper);
  const generations: number[] = [];
  keeper.waitForGenerationAbove = (generation, ms) => {
    generations.push(generation);
    return wait(generation, ms);
  };
  return generations;
}

describe('rotate(): a new generation without a new key is not someone else\'s rotation', () => {
  it('the ring rewritten with the same keys while the call waits for the lock: the call still rotates', async () => {
    const user = 'rotgen-prod';
    const a = closeLater(await KeyRing.start(await connect(user), OPTIONS));
    const active = a.signingKey().kid;
    const raw = closeLater(await connectAs(server, user));
    // Another instance holds the lock (here: the test), as while it rewrites the ring under a new key-encryption key.
    const lock = (await new Locks(await connect(user)).acquire(KEY_RING_KEYS.lock, 10_000))!;
    const attempts = lockAttempts(a);
    const rotating = a.rotate();
    await until(() => attempts() > 0, 'the call waiting for the lock');
    // What that rewrite writes: the next generation, the same keys.
    const held = ringPayload((await storedRing(raw, user))!.value);
    await writeStoredRing(raw, user, await sealedWith(KEK, { ...held, generation: held.generation + 1, writtenAt: Date.now() }));
    await until(() => a.health().generation === held.generation + 1, 'the rewritten ring adopted');
    // Still waiting for the lock, each wait is for a generation past the one adopted: a wait for one
    // already passed ends at once, and the lock was tried back to back (about 8,000 tries a second, a
    // review measured).
    const waitsFor = waitedGenerations(a);
    await until(() => waitsFor.length > 0, 'a wait after the rewritten ring was adopted');
    expect(waitsFor[0]).toBeGreaterThanOrEqual(held.generation + 1);
    await lock.release();
    const result = await rotating;
    expect(result.rotated).toBe(true);
    expect(result.kid).not.toBe(active);
    expect(a.health().generation).toBe(held.generation + 2);
    expect(a.jwks().keys.map((k) => k.kid)).toEqual([active, result.kid]);
  });

  it('a rotation by another caller while the call waits: not rotated again, that key returned', async () => {
    const user = 'rotpend-prod';
    const [a, b] = [closeLater(await KeyRing.start(await connect(user), OPTIONS)), closeLater(await KeyRing.start(await connect(user), OPTIONS))];
    const lock = (await new Locks(await connect(user)).acquire(KEY_RING_KEYS.lock, 10_000))!;
    const attempts = lockAttempts(a);
    const rotating = a.rotate();
    await until(() => attempts() > 0, 'the call waiting for the lock');
    await lock.release();
    // Whichever takes the lock first rotates; the other gets its key.
    const results = await Promise.all([rotating, b.rotate()]);
    const winner = results.find((r) => r.rotated)!;
    expect(results.filter((r) => r.rotated)).toHaveLength(1);
    expect(results.find((r) => !r.rotated)).toEqual({ rotated: false, kid: winner.kid, activatesAt: winner.activatesAt });
    expect(a.jwks().keys).toHaveLength(2);
  });

  it('the lock held past twice its TTL: KccLockTimeoutError, the last step before it a try for the lock (not a wait)', async () => {
    const user = 'rotgen-prod';
    const a = closeLater(await KeyRing.start(await connect(user), { ...OPTIONS, lockTtlMs: 300 }));
    const lock = (await new Locks(await connect(user)).acquire(KEY_RING_KEYS.lock, 10_000))!;
    try {
      // White-box: the call's steps, in order.
      const keeper = (a as unknown as { keeper: { locks: Locks; waitForGenerationAbove: (generation: number, ms: number) => Promise<boolean> } }).keeper;
      const steps: string[] = [];
      const acquire = keeper.locks.acquire.bind(keeper.locks);
      keeper.locks.acquire = async (...args: Parameters<Locks['acquire']>) => {
        steps.push('try');
        return acquire(...args);
      };
      const wait = keeper.waitForGenerationAbove.bind(keeper);
      keeper.waitForGenerationAbove = async (generation, ms) => {
        steps.push('wait');
        return wait(generation, ms);
      };
      const error = await a.rotate({ immediate: true }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'KCC_LOCK_TIMEOUT' });
      expect(steps.filter((step) => step === 'try').length).toBeGreaterThan(1);
      expect(steps.at(-1)).toBe('try');
    } finally {
      await lock.release();
    }
  });
});
