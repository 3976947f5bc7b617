/**
 * A caller's revocation promise is not kept once it settles (a review of cad209e): each revoke raced
 * its write against one promise that settled only at close(), which kept every caller's promise,
 * about 340 bytes a logout, for the life of the instance.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { collectGarbage } from '../../support/gc.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'released', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

describe('revocation promises once settled', () => {
  it('are not held by the instance: 2,000 revocations of one session leave none of their promises reachable', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, 'released-prod'), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    const count = 2_000;
    const promises: WeakRef<Promise<void>>[] = [];
    for (let i = 0; i < count; i++) {
      // One session again and again: the index does not grow, only what a call leaves behind.
      const revoked = revocations.revokeSession('the-same-session');
      promises.push(new WeakRef(revoked));
      await revoked;
    }
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    const reachable = promises.filter((ref) => ref.deref() !== undefined).length;
    // Held by the instance, all 2,000 were; a few may still be reachable from the last turns' frames.
    expect(reachable).toBeLessThanOrEqual(count / 100);
  });
});
