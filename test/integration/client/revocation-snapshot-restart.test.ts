/**
 * A ZSCAN cursor means something only to the server process that returned it (each process draws its
 * own hash seed, so the buckets' order differs): continued on another process (a restart with
 * persistence, a failover, the key moved to another node) it skips members. The snapshot load reads
 * by rank, which a restart does not disturb, and when ranks shifted under three reads, each page
 * after the last entry read, found by its value, which nothing but a raised score (in the event log)
 * moves a member past. (Found by review: 905 of
 * 20,000 stored not-befores were never loaded by an instance that started while the server
 * restarted, when they were read with ZSCAN; until 2026-12-05 the fallback was a ZSCAN started again
 * whenever the server may have changed.)
 */
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { SNAPSHOT_CHUNK } from '../../../client/src/revocation/revocation-snapshot.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { beforeLaterReads, countEntryReads, shiftUpEachRange } from '../../support/snapshot-reads.js';
import { SUBJECTS, missingSubjects, storeSubjects } from '../../support/stored-subjects.js';

const server = useTestRedis({ appEnvs: [{ app: 'scanrestart', env: 'prod' }], persistence: 'aof' });
const user = 'scanrestart-prod';
const subjectsKey = `${user}:{${user}}:${REVOCATION_KEYS.subjects}`;
const closeLater = closeAfterEach();

async function setUp(): Promise<{ raw: Redis; redis: KccRedis; nbf: number }> {
  const nbf = Math.floor(Date.now() / 1000) - 5;
  const raw = closeLater(await connectAs(server, user));
  await storeSubjects(raw, subjectsKey, nbf);
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { reconnectMaxDelayMs: 100 }), ['subscriber']));
  return { raw, redis, nbf };
}

it('an instance that starts while the server restarts loads every stored user-wide not-before (read by rank)', async () => {
  const { redis, nbf } = await setUp();
  // The server restarts (AOF: nothing is lost) just before the instance's second range.
  let restarted = false;
  beforeLaterReads(redis, subjectsKey, 'rank', async () => {
    if (restarted) return;
    restarted = true;
    await server.restart();
  });
  // Counted on the client: the restart resets the server's command statistics.
  const entryReads = countEntryReads(redis, subjectsKey);
  const revocations = closeLater(await Revocations.start(redis));
  expect(restarted).toBe(true);
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
  // Read by rank only (the fallback would load them all too, the server being the same throughout).
  expect(entryReads()).toBe(0);
});

it('read page after page after the last entry read, once ranks shifted under each of three reads by rank, the server restarted before every page after the first: every stored one loaded', async () => {
  const { raw, redis, nbf } = await setUp();
  const removed = shiftUpEachRange(redis, raw, subjectsKey);
  let restarts = 0;
  beforeLaterReads(redis, subjectsKey, 'entry', async () => {
    restarts++;
    await server.restart();
  });
  const entryReads = countEntryReads(redis, subjectsKey);
  const revocations = closeLater(await Revocations.start(redis));
  expect(removed()).toBe(3); // the three reads by rank
  // Pages of SNAPSHOT_CHUNK (2,000) of the 19,997 left: nine full, a tenth short; each after the
  // first found its place on a restarted server.
  const pages = Math.ceil((SUBJECTS - 3) / SNAPSHOT_CHUNK);
  expect(pages).toBeGreaterThan(2);
  expect(entryReads()).toBe(pages);
  expect(restarts).toBe(pages - 1);
  // The top members too: each read's first range had applied its top member before it was removed.
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
});
