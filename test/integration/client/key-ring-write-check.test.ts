/**
 * The writer checks a ring as every reader will before writing it: a ring readers refuse would be
 * written over by the first of them, and its generation, already in the log, would stop instances
 * from starting. No rotation makes such a ring today (the 16-key cap, the skew allowance); this test
 * stands in for a future bug by making the rotation plan produce one.
 */
import { describe, expect, it, vi } from 'vitest';
import { KccRedis, KeyRing } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { storedRing } from '../../support/stored-ring.js';

const sabotage = vi.hoisted(() => ({ on: false }));
vi.mock('../../../client/src/keyring/ring-data.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../client/src/keyring/ring-data.js')>();
  return {
    ...original,
    // The bug stood in for: every key of the planned ring activates in an hour, none signs now.
    planRotation: (...args: Parameters<typeof original.planRotation>) => {
      const planned = original.planRotation(...args);
      return sabotage.on ? { ...planned, keys: planned.keys.map((k) => ({ ...k, activatesAt: args[2].now + 3_600_000, retiresAt: null })) } : planned;
    },
  };
});

const KEK = 'write-check-test-key-encryption-key-0123456789abcdefghijklmnop';
const USER = 'writecheck-prod';
const server = useTestRedis({ appEnvs: [{ app: 'writecheck', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

describe('key ring: the writer checks what it writes', () => {
  it('a planned ring readers would refuse is not written: the rotation fails, saying why, and Redis keeps the ring it had', async () => {
    const raw = closeLater(await connectAs(server, USER));
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER)));
    const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {} }));
    const before = await storedRing(raw, USER);
    sabotage.on = true;
    try {
      await expect(ring.rotate({ immediate: true })).rejects.toThrow(/key ring generation 2 not written: readers would refuse it \(ring has no active key\)/);
    } finally {
      sabotage.on = false;
    }
    expect(await storedRing(raw, USER)).toEqual(before);
    expect(ring.health()).toMatchObject({ status: 'ready', generation: 1 });
  });
});
