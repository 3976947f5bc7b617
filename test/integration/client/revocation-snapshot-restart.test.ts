/**
 * A ZSCAN cursor means something only to the server process that returned it (each process draws its
 * own hash seed, so the buckets' order differs): continued on another process (a restart with
 * persistence, a failover, the key moved to another node) it skips members. The snapshot load reads
 * by rank, which a restart does not disturb, and when ranks shifted under three reads, by score,
 * which nothing but a raised score (in the event log) moves a member past. (Found by review: 905 of
 * 20,000 stored not-befores were never loaded by an instance that started while the server
 * restarted, when they were read with ZSCAN; until 2026-12-05 the fallback was a ZSCAN started again
 * whenever the server may have changed.)
 */
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { SUBJECTS, beforeLaterReads, countScoreReads, missingSubjects, shiftUpEachRange, storeSubjects } from '../../support/stored-subjects.js';

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
  const scoreReads = countScoreReads(redis, subjectsKey);
  const revocations = closeLater(await Revocations.start(redis));
  expect(restarted).toBe(true);
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
  // Read by rank only (the fallback would load them all too, the server being the same throughout).
  expect(scoreReads()).toBe(0);
});

it('read by score after ranks shifted under each of three reads by rank, the server restarted before every page and group after the first: every stored one loaded', async () => {
  const { raw, redis, nbf } = await setUp();
  const removed = shiftUpEachRange(redis, raw, subjectsKey);
  let restarts = 0;
  // A group and the next page go out together: their restarts one after the other.
  let restarting = Promise.resolve();
  beforeLaterReads(redis, subjectsKey, 'score', () => {
    restarts++;
    restarting = restarting.then(() => server.restart());
    return restarting;
  });
  const scoreReads = countScoreReads(redis, subjectsKey);
  const revocations = closeLater(await Revocations.start(redis));
  expect(removed()).toBe(3); // the three reads by rank
  // Pages of 5,000 of the 19,997 left in groups of 400 of one score: three full, each with the group
  // its limit cut, and a fourth, short (eleven groups).
  expect(scoreReads()).toBe(7);
  expect(restarts).toBe(6);
  // The top members too: each read's first range had applied its top member before it was removed.
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
});
