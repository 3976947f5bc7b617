/**
 * Cluster mode: the namespace's slot moves to another primary while a starting instance reads the
 * user-wide not-befores. Two ways a read lands on another node than the one before it, with nothing
 * reconnecting (the command connection already holds a connection to every primary):
 * - the slot is given to the new owner: ioredis follows the MOVED answer and updates its slot table;
 * - the keys are moved but the slot is still migrating, as during an online resharding: the old
 *   owner answers ASK, ioredis reads on the new owner for that one command and its slot table does
 *   not change, so nothing in the client can tell.
 * A ZSCAN cursor means nothing to the new node (revocation-snapshot-restart.test.ts has the same for
 * a restart in standalone mode); a read by rank reads the same data on either node.
 */
import type { Cluster } from 'ioredis';
import { expect, it } from 'vitest';
import { type KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { interceptCommand } from '../../support/redis.js';
import { slotOwner, startSlotMigration, useTestCluster } from '../../support/test-cluster.js';

const user = 'scanmove-prod';
const { cluster, connect } = useTestCluster([{ app: 'scanmove', env: 'prod' }]);
const closeLater = closeAfterEach();
const SUBJECTS = 20_000;

/** Stores SUBJECTS user-wide not-befores (once: later tests find them where the last one moved them). */
async function storeSubjects(nbf: number): Promise<string> {
  const writer = closeLater(await connect(user));
  const subjectsKey = writer.key(REVOCATION_KEYS.subjects);
  await writer.run((r) => r.del(subjectsKey));
  for (let i = 0; i < SUBJECTS; i += 1_000) {
    const members = Array.from({ length: 1_000 }, (_, j) => [nbf, `user-${i + j}`]).flat();
    await writer.run((r) => r.zadd(subjectsKey, ...members));
  }
  return subjectsKey;
}

/**
 * Runs `hook` once, before the instance's second read of `key` (a ZSCAN page after the first, or a
 * range after the first). Counts the ZSCAN pages of `key`.
 */
function beforeSecondRead(redis: KccRedis, key: string, hook: () => Promise<void>): { readonly ran: () => boolean; readonly scans: () => number } {
  let ran = false;
  let scans = 0;
  const once = async () => {
    if (ran) return;
    ran = true;
    await hook();
  };
  interceptCommand(redis, 'zscan', async (args, send) => {
    if (args[0] === key) scans++;
    if (args[0] === key && String(args[1]) !== '0') await once();
    return send();
  });
  interceptCommand(redis, 'zrange', async (args, send) => {
    if (args[0] === key && String(args[1]) !== '0') await once();
    return send();
  });
  return { ran: () => ran, scans: () => scans };
}

async function startConnected(): Promise<KccRedis> {
  const redis = closeLater(await connect(user, ['subscriber']));
  await Promise.all((redis.client as Cluster).nodes('master').map((node) => node.ping()));
  return redis;
}

function missingSubjects(revocations: Revocations, nbf: number): string[] {
  return Array.from({ length: SUBJECTS }, (_, i) => `user-${i}`).filter((sub) => revocations.check({ sub, sid: 's', iat: nbf - 60 }) !== 'revoked');
}

it('an instance that starts while the slot moves (MOVED) loads every stored user-wide not-before', async () => {
  const nbf = Math.floor(Date.now() / 1000) - 5;
  const subjectsKey = await storeSubjects(nbf);
  const redis = await startConnected();
  const hook = beforeSecondRead(redis, subjectsKey, async () => {
    const from = await slotOwner(cluster(), subjectsKey);
    const to = cluster().nodes.find((node) => node !== from)!;
    await (await startSlotMigration(cluster(), subjectsKey, from, to)).finish();
  });
  const revocations = closeLater(await Revocations.start(redis));
  expect(hook.ran()).toBe(true);
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(hook.scans()).toBe(0); // read by rank only
});

it('an instance that starts while the keys have moved and the slot is still migrating (ASK) loads every stored user-wide not-before', async () => {
  const nbf = Math.floor(Date.now() / 1000) - 5;
  const subjectsKey = await storeSubjects(nbf);
  const redis = await startConnected();
  let migration: Awaited<ReturnType<typeof startSlotMigration>> | undefined;
  const hook = beforeSecondRead(redis, subjectsKey, async () => {
    const from = await slotOwner(cluster(), subjectsKey);
    const to = cluster().nodes.find((node) => node !== from)!;
    migration = await startSlotMigration(cluster(), subjectsKey, from, to);
    await migration.moveKeys();
  });
  try {
    const revocations = closeLater(await Revocations.start(redis));
    expect(hook.ran()).toBe(true);
    // The client's slot table still names the old owner: it never heard of the move.
    expect(missingSubjects(revocations, nbf)).toEqual([]);
    expect(hook.scans()).toBe(0); // read by rank only
  } finally {
    await migration?.finish();
  }
});
