/**
 * A ring holds at most 16 keys (every reader refuses more). Rotations more frequent than the retire
 * grace allows would make a 17th: the oldest retired key leaves early instead, with a warning that
 * names it, and the rotation stands. Found by an audit (2026-12-03): before, the writer stored a ring
 * of 17 keys that every instance refused and wrote the previous generation back over; `rotate()`
 * had reported it done, and instances starting later refused to (the log showed generation 17).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger, KeyRing } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload, storedRing } from '../../support/stored-ring.js';

const KEK = 'many-keys-test-key-encryption-key-0123456789abcdefghijklmnop';
const USER = 'manykeys-prod';
const server = useTestRedis({ appEnvs: [{ app: 'manykeys', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

async function instance(logger?: KccLogger): Promise<KeyRing> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, logger ? { logger } : {})));
  // A grace of an hour, rotations a few ms apart: every earlier key is still in its grace.
  return closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, activationDelayMs: 50, retireGraceMs: 3_600_000, lockTtlMs: 2_000 }));
}

describe('key ring: more rotations than the grace leaves room for', () => {
  it('keeps 16 keys, drops the longest-retired one early with a warning naming it, and the rotation stands', async () => {
    const raw = closeLater(await connectAs(server, USER));
    const warnings: string[] = [];
    const a = await instance({ warn: (message) => warnings.push(message), info: () => undefined });
    const b = await instance();
    const first = a.signingKey().kid;
    let last = first;
    for (let i = 0; i < 16; i++) {
      const rotation = await a.rotate();
      expect(rotation.rotated).toBe(true);
      last = rotation.kid;
      await until(() => a.signingKey().kid === last && b.signingKey().kid === last, `rotation ${i + 1} signing on both instances`, 20_000);
    }
    const stored = ringPayload((await storedRing(raw, USER))!.value);
    expect([stored.generation, stored.keys.length, stored.keys.some((k) => k.kid === first), stored.keys.at(-1)!.kid]).toEqual([17, 16, false, last]);
    expect([a.stats.refused, b.stats.refused, a.stats.restored + b.stats.restored]).toEqual([{}, {}, 0]);
    expect(warnings.filter((w) => w.includes('holds at most 16 keys'))).toEqual([expect.stringContaining(`retired key(s) ${first} left the JWKS before retireGraceMs ended`)]);
    expect(b.jwks().keys.map((k) => k.kid)).not.toContain(first);
    // Scale out: a new instance starts on it.
    expect((await instance()).signingKey().kid).toBe(last);
  });
});
