/**
 * The key ring's lock waits (a rotation waiting for another holder, a start waiting for the creation
 * lock) measure their bound on the monotonic clock: a wall-clock step forward during the wait (NTP
 * stepping a clock that was behind, a VM resumed) ended it at once with a KccLockTimeoutError that
 * said nothing of the clock; a step back made it longer (a clock review, low).
 *
 * The step is made the moment the waiter's first try of the lock fails, so it falls inside the wait;
 * the clock is set right again before the lock is freed. Real redis-server (TLS, ACL users).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { type LockHandle, Locks } from '../../../client/src/lock.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const KEK = 'lock-wait-clock-test-key-encryption-key-0123456789abcdefghijklmn';
const server = useTestRedis({ appEnvs: [{ app: 'clockwait', env: 'prod' }, { app: 'clockfirst', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
/** Twice lockTtlMs (20 s) is the wait's bound; the step is well past it. */
const OPTIONS: KeyRingOptions = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', activationDelayMs: 3_600_000, refreshIntervalMs: 3_600_000, lockTtlMs: 10_000 };
const STEP_MS = 120_000;

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user)));
}

/**
 * Holds the ring's lock from another connection and watches every other try of it: at the first
 * failed one, the wall clock steps `STEP_MS` forward. `failures` counts the failed tries.
 */
async function holdLockAndStepClockOnFirstTry(user: string): Promise<{ readonly failures: () => number; release(): Promise<void> }> {
  const held: LockHandle | undefined = await new Locks(await connect(user)).acquire(KEY_RING_KEYS.lock, 60_000);
  expect(held).toBeDefined();
  let failures = 0;
  const acquire = Locks.prototype.acquire;
  const now = Date.now.bind(Date);
  vi.spyOn(Locks.prototype, 'acquire').mockImplementation(async function (this: Locks, ...args: Parameters<Locks['acquire']>) {
    const lock = await acquire.apply(this, args);
    if (!lock && ++failures === 1) vi.spyOn(Date, 'now').mockImplementation(() => now() + STEP_MS);
    return lock;
  });
  return {
    failures: () => failures,
    release: async () => {
      vi.mocked(Date.now).mockRestore(); // the clock set right again
      await held!.release();
    },
  };
}

describe('key ring lock waits: a wall-clock step does not end them', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('an emergency rotation waiting for the lock goes on waiting across a forward step, and rotates once the lock is free', async () => {
    const redis = await connect('clockwait-prod');
    const ring = closeLater(await KeyRing.start(redis, OPTIONS));
    const before = ring.signingKey().kid;
    const lock = await holdLockAndStepClockOnFirstTry('clockwait-prod');
    const rotating = ring.rotate({ immediate: true }).catch((error: unknown) => error);
    // Still waiting after the step (it tried the lock again), or given up.
    await Promise.race([until(() => lock.failures() >= 2, 'a second try of the lock after the step', 30_000), rotating]);
    await lock.release();
    const result = await rotating;
    expect(result).toMatchObject({ rotated: true });
    expect(ring.signingKey().kid).not.toBe(before);
  });

  it('a start on an empty namespace waiting for the creation lock goes on waiting across a forward step, and creates the ring once the lock is free', async () => {
    const redis = await connect('clockfirst-prod');
    const lock = await holdLockAndStepClockOnFirstTry('clockfirst-prod');
    const starting = KeyRing.start(redis, OPTIONS).catch((error: unknown) => error);
    await Promise.race([until(() => lock.failures() >= 2, 'a second try of the lock after the step', 30_000), starting]);
    await lock.release();
    const ring = await starting;
    expect(ring).toBeInstanceOf(KeyRing);
    closeLater(ring as KeyRing);
    expect((ring as KeyRing).health()).toMatchObject({ status: 'ready', generation: 1 });
  });
});
