/**
 * Cluster mode: the namespace's slot moves to another primary while a starting instance scans the
 * user-wide not-befores. ioredis follows the MOVED answer to the new owner with the old owner's
 * cursor, which means nothing there; the scan must start again (revocation-snapshot-restart.test.ts
 * has the same for a restart in standalone mode). The command connection already holds a connection
 * to every primary, so nothing reconnects: only the slot's new owner tells (as after a failover to a
 * replica the client was already connected to).
 */
import type { Cluster } from 'ioredis';
import { expect, it } from 'vitest';
import { Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { interceptCommand } from '../../support/redis.js';
import { slotOwner, startSlotMigration, useTestCluster } from '../../support/test-cluster.js';

const user = 'scanmove-prod';
const { cluster, connect } = useTestCluster([{ app: 'scanmove', env: 'prod' }]);
const closeLater = closeAfterEach();
const SUBJECTS = 20_000;

it('an instance that starts while the slot moves loads every stored user-wide not-before', async () => {
  const writer = closeLater(await connect(user));
  const subjectsKey = writer.key(REVOCATION_KEYS.subjects);
  const nbf = Math.floor(Date.now() / 1000) - 5;
  for (let i = 0; i < SUBJECTS; i += 1_000) {
    const members = Array.from({ length: 1_000 }, (_, j) => [nbf, `user-${i + j}`]).flat();
    await writer.run((r) => r.zadd(subjectsKey, ...members));
  }

  const redis = closeLater(await connect(user, ['subscriber']));
  await Promise.all((redis.client as Cluster).nodes('master').map((node) => node.ping()));
  let moved = false;
  interceptCommand(redis, 'zscan', async (args, send) => {
    if (args[0] === subjectsKey && args[1] !== '0' && !moved) {
      moved = true;
      const from = await slotOwner(cluster(), subjectsKey);
      const to = cluster().nodes.find((node) => node !== from)!;
      await (await startSlotMigration(cluster(), subjectsKey, from, to)).finish();
    }
    return send();
  });
  const revocations = closeLater(await Revocations.start(redis));
  expect(moved).toBe(true);
  const missing = Array.from({ length: SUBJECTS }, (_, i) => `user-${i}`).filter((sub) => revocations.check({ sub, sid: 's', iat: nbf - 60 }) !== 'revoked');
  expect(missing).toEqual([]);
});
