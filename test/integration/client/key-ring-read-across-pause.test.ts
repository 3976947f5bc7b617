/**
 * A read of the key ring sent right before the process pauses (a freeze) and whose reply is read after
 * it tells the ring as Redis held it before the pause. Counted as a read made at the thaw (a review of
 * the after-a-freeze work: the keeper stamped a read when its reply came), the ring looked current, so
 * the first assertion and JWKS after the thaw carried the key held before, though another instance's
 * emergency rotation during the pause had taken it out of every JWKS. A read now counts from when it
 * was sent. The other instance runs in its own process (instance-main.ts); this one holds its event
 * loop as a freeze would; real redis-server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { InstanceProcess } from '../../support/instance-process.js';
import { interceptCommand, kccOptions, useTestRedis } from '../../support/redis.js';
import { stallUntilFile } from '../../support/stall.js';

const APP_ENV = { app: 'ringpause', env: 'prod' };
const USER = 'ringpause-prod';
const KEK = 'ring-read-across-pause-key-encryption-key-0123456789abcdef';
const server = useTestRedis({ appEnvs: [APP_ENV], persistence: 'none' });
const closeLater = closeAfterEach();
/** Read every second: overdue 2 s after the last read. */
const RING = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', refreshIntervalMs: 1_000, activationDelayMs: 3_600_000 } as const;

describe('key ring: a read in flight across a pause', () => {
  it('after the thaw, the first signing key and JWKS are the ones an emergency rotation during the pause activated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kcc-ring-pause-'));
    const rotatedFile = join(dir, 'rotated');
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER)));
    const here = closeLater(await KeyRing.start(redis, RING));
    const other = await InstanceProcess.start({ ...server.environment(APP_ENV), KCC_KEYRING_KEK: KEK });
    try {
      const held = here.signingKey().kid;
      let armed = false;
      // The ring's read is sent; then, before its reply is read, the other instance rotates at once
      // and this process stays paused past refreshIntervalMs + 1 s.
      interceptCommand(redis, 'evalsha', (args, send) => {
        const sent = send();
        if (armed && args.some((arg) => typeof arg === 'string' && arg.endsWith(':keyring'))) {
          armed = false;
          other.send(`rotate-now ${rotatedFile}`);
          stallUntilFile(rotatedFile, 2_500);
        }
        return sent;
      });
      const before = here.health().lastReadAt;
      await until(() => here.health().lastReadAt > before, 'a periodic read'); // the next is a second away
      armed = true;
      await (here as unknown as { keeper: { sync(): Promise<void> } }).keeper.sync();
      expect(armed).toBe(false);
      const [key, jwks] = await Promise.all([here.currentSigningKey(), here.currentJwks()]);
      const rotated = (await other.waitFor(/^rotated /)).split(' ')[1]!;
      expect(rotated).not.toBe(held);
      expect({ signs: key.kid, jwks: jwks.keys.map((k) => k.kid) }, `held before the pause: ${held}`).toEqual({ signs: rotated, jwks: [rotated] });
    } finally {
      await other.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
