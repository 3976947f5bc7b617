/**
 * A client assertion signed while the ring's periodic read is overdue first catches up with Redis
 * (lambda-freeze.test.ts shows it after a freeze). When Redis does not answer, that wait is bounded
 * (2 s), shared by the assertions signed meanwhile, and not tried again until Redis answers a read of
 * the ring or the process was paused: an outage does not make every token request wait, quiet
 * periods included, and a freeze right after a catch-up ran out does not leave the first assertion
 * after the thaw signed without one. Observed through the one warning each
 * catch-up that runs out logs, never by timing. Real redis-server (TLS, the app-env's ACL user)
 * behind a TCP proxy.
 */
import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { pause } from '../../../client/src/time-limit.js';
import { PAUSE_MS } from '../../../client/src/pause-watch.js';
import { stallProcess } from '../../support/stall.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const KEK = 'catch-up-test-key-encryption-key-0123456789abcdefghijklmnopqrs';
const USER = 'catchup-prod';
const server = useTestRedis({ appEnvs: [{ app: 'catchup', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
/** Read every second: overdue 2 s after the last read. */
const RING = { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, refreshIntervalMs: 1_000, activationDelayMs: 3_600_000 } as const;
const OVERDUE_MS = 2_000;
const GAVE_UP = 'key ring: not read from Redis for';

/** A ring whose connection runs through `proxy`, and the catch-up warnings it logged so far. */
async function ringBehind(proxy: TcpProxy): Promise<{ ring: KeyRing; gaveUp: () => string[] }> {
  const warnings: string[] = [];
  const logger = { warn: (message: string) => warnings.push(message), info: () => undefined };
  const ring = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, logger }))), RING));
  return { ring, gaveUp: () => warnings.filter((w) => w.startsWith(GAVE_UP)) };
}

describe('key ring: client assertions while the ring cannot be read', () => {
  it('wait for one shared catch-up that runs out, then sign with the key held here, waiting no more until Redis answers a read or the process was paused', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const { ring, gaveUp } = await ringBehind(proxy);
      const held = ring.signingKey().kid;
      const sign = async () => decodeProtectedHeader(await ring.signClientAssertion({ clientId: 'shop', audience: 'https://sso.example.com/realms/shop' })).kid;
      const overdue = () => until(() => Date.now() - ring.health().lastReadAt > OVERDUE_MS + 500, 'the ring read overdue', 20_000);

      proxy.cut();
      await overdue();
      expect(await Promise.all(Array.from({ length: 5 }, sign))).toEqual(Array(5).fill(held));
      expect(gaveUp()).toHaveLength(1);
      expect(gaveUp()[0]).toMatch(new RegExp(`^${GAVE_UP} \\d+ s \\(this process was paused or frozen, Redis does not answer, or the ring read waits for the key-encryption keys\\), and a read did not come within 2000 ms: client assertions sign with kid ${held} and the JWKS is served as held here, without waiting again until Redis answers a read \\(or this process was paused\\)`));
      expect(await sign()).toBe(held);
      expect(gaveUp()).toHaveLength(1);

      // Still cut off, asked again and again less than that long apart: no catch-up is tried (3 s in all).
      for (let i = 0; i < 4; i++) {
        await pause(750);
        expect(await sign()).toBe(held);
      }
      expect(gaveUp()).toHaveLength(1);

      // Still cut off, not asked for 3 s, the process running: still none.
      await pause(3_000);
      expect(await sign()).toBe(held);
      expect(gaveUp()).toHaveLength(1);

      // Still cut off, after a pause of the process (what a freeze looks like from inside): one is tried again.
      stallProcess(PAUSE_MS + 500);
      expect(await sign()).toBe(held);
      expect(gaveUp()).toHaveLength(2);

      // Read again: the next overdue read is caught up with again.
      const cutAt = ring.health().lastReadAt;
      proxy.heal();
      await until(() => ring.health().lastReadAt > cutAt, 'the ring read again', 20_000);
      proxy.cut();
      await overdue();
      expect(await sign()).toBe(held);
      expect(gaveUp()).toHaveLength(3);
    } finally {
      await proxy.stop();
    }
  });

  // A review of the after-a-freeze work: the watch for a pause began when the catch-up ran out, so a
  // pause during the catch-up (its wait ending at the thaw) went unseen, and the next assertion after
  // the thaw, with Redis back, signed with a key an emergency rotation had removed without trying.
  it('a catch-up that runs out while the process is paused: the next assertion catches up again (Redis back by then)', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const { ring, gaveUp } = await ringBehind(proxy);
      const other = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USER))), RING));
      const held = ring.signingKey().kid;
      proxy.cut();
      const rotated = await other.rotate({ immediate: true });
      await until(() => Date.now() - ring.health().lastReadAt > OVERDUE_MS + 500, 'the ring read overdue', 20_000);
      const first = ring.currentSigningKey(); // a catch-up begins (2 s); Redis is out of reach
      await pause(200);
      proxy.heal(); // back by the thaw
      stallProcess(3_000); // paused while it waits: its 2 s run out during the pause
      expect((await first).kid).toBe(held); // answered when the catch-up ran out, at the thaw
      expect(gaveUp()).toHaveLength(1);
      expect((await ring.currentSigningKey()).kid, `held before: ${held}`).toBe(rotated.kid);
    } finally {
      await proxy.stop();
    }
  });
});
