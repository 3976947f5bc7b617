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
import { SUBJECTS, beforeLaterReads, countScans, missingSubjects, storeSubjects } from '../../support/stored-subjects.js';
import { slotOwner, startSlotMigration, useTestCluster } from '../../support/test-cluster.js';

const user = 'scanmove-prod';
const { cluster, connect } = useTestCluster([{ app: 'scanmove', env: 'prod' }]);
const closeLater = closeAfterEach();

/** Stores the subjects (again: later tests find them where the last one moved them); their key. */
async function storeAll(nbf: number): Promise<string> {
  const writer = closeLater(await connect(user));
  const key = writer.key(REVOCATION_KEYS.subjects);
  await storeSubjects(writer.client, key, nbf);
  return key;
}

/** Runs `hook` once, before the instance's second read of `key` (a ZSCAN page or a range after the first). */
function beforeSecondRead(redis: KccRedis, key: string, hook: () => Promise<void>): () => boolean {
  let ran = false;
  const once = async () => {
    if (ran) return;
    ran = true;
    await hook();
  };
  beforeLaterReads(redis, key, 'zscan', once);
  beforeLaterReads(redis, key, 'zrange', once);
  return () => ran;
}

async function startConnected(): Promise<KccRedis> {
  const redis = closeLater(await connect(user, ['subscriber']));
  await Promise.all((redis.client as Cluster).nodes('master').map((node) => node.ping()));
  return redis;
}

it('an instance that starts while the slot moves (MOVED) loads every stored user-wide not-before', async () => {
  const nbf = Math.floor(Date.now() / 1000) - 5;
  const subjectsKey = await storeAll(nbf);
  const redis = await startConnected();
  const scans = countScans(redis, subjectsKey);
  const ran = beforeSecondRead(redis, subjectsKey, async () => {
    const from = await slotOwner(cluster(), subjectsKey);
    const to = cluster().nodes.find((node) => node !== from)!;
    await (await startSlotMigration(cluster(), subjectsKey, from, to)).finish();
  });
  const revocations = closeLater(await Revocations.start(redis));
  expect(ran()).toBe(true);
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(scans()).toBe(0); // read by rank only
});

it('an instance that starts while the keys have moved and the slot is still migrating (ASK) loads every stored user-wide not-before', async () => {
  const nbf = Math.floor(Date.now() / 1000) - 5;
  const subjectsKey = await storeAll(nbf);
  const redis = await startConnected();
  let migration: Awaited<ReturnType<typeof startSlotMigration>> | undefined;
  const scans = countScans(redis, subjectsKey);
  const ran = beforeSecondRead(redis, subjectsKey, async () => {
    const from = await slotOwner(cluster(), subjectsKey);
    const to = cluster().nodes.find((node) => node !== from)!;
    migration = await startSlotMigration(cluster(), subjectsKey, from, to);
    await migration.moveKeys();
  });
  try {
    const revocations = closeLater(await Revocations.start(redis));
    expect(ran()).toBe(true);
    // The client's slot table still names the old owner: it never heard of the move.
    expect(missingSubjects(revocations, nbf)).toEqual([]);
    expect(scans()).toBe(0); // read by rank only
  } finally {
    await migration?.finish();
  }
});
