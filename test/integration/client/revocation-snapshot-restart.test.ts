/**
 * A ZSCAN cursor means something only to the server process that returned it (each process draws its
 * own hash seed, so the buckets' order differs): continued on another process (a restart with
 * persistence, a failover, the key moved to another node) it skips members. The snapshot load reads
 * by rank, which a restart does not disturb; it falls back to ZSCAN only when ranks shifted under the
 * read, and then a scan during which the server may have changed starts again from the beginning.
 * (Found by review: 905 of 20,000 stored not-befores were never loaded by an instance that started
 * while the server restarted, when they were read with ZSCAN.)
 */
import type { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { KccConnectionError, KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { SUBJECTS, beforeLaterReads, countScans, missingSubjects, storeSubjects } from '../../support/stored-subjects.js';

const server = useTestRedis({ appEnvs: [{ app: 'scanrestart', env: 'prod' }], persistence: 'aof' });
const user = 'scanrestart-prod';
const subjectsKey = `${user}:{${user}}:${REVOCATION_KEYS.subjects}`;
const closeLater = closeAfterEach();

/**
 * Before every range after the first, removes the top member from the raw connection: everything
 * unread moves up a rank, the range does not begin with an entry the one before held, and after
 * each read by rank fails so, the loader falls back to ZSCAN. (Only a purge of poison entries or a
 * holder of the app's credentials removes members above the read position.) Returns how many it
 * removed.
 */
function shiftUpEachRange(redis: KccRedis, raw: Redis): () => number {
  let removed = 0;
  beforeLaterReads(redis, subjectsKey, 'zrange', async () => {
    const [top] = await raw.zrevrange(subjectsKey, 0, 0);
    removed += await raw.zrem(subjectsKey, top!);
  });
  return () => removed;
}

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
  beforeLaterReads(redis, subjectsKey, 'zrange', async () => {
    if (restarted) return;
    restarted = true;
    await server.restart();
  });
  // Counted on the client: the restart resets the server's command statistics.
  const scans = countScans(redis, subjectsKey);
  const revocations = closeLater(await Revocations.start(redis));
  expect(restarted).toBe(true);
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
  // Read by rank only (the fallback would load them all too, the server being the same throughout).
  expect(scans()).toBe(0);
});

it('read with ZSCAN after ranks shifted under each of three reads by rank, with the server restarted between two pages: the scan starts again, every stored one loaded', async () => {
  const { raw, redis, nbf } = await setUp();
  const removed = shiftUpEachRange(redis, raw);
  let restarted = false;
  beforeLaterReads(redis, subjectsKey, 'zscan', async () => {
    if (restarted) return;
    restarted = true;
    await server.restart();
  });
  const revocations = closeLater(await Revocations.start(redis));
  expect(restarted).toBe(true);
  expect(removed()).toBe(3); // the three reads by rank
  // The top members too: each read's first range had applied its top member before it was removed.
  expect(missingSubjects(revocations, nbf)).toEqual([]);
  expect(revocations.stats.revokedSubjects).toBe(SUBJECTS);
});

it('a server that changes during every scan fails the start (nothing loaded is vouched for)', async () => {
  const { raw, redis } = await setUp();
  shiftUpEachRange(redis, raw);
  let restarts = 0;
  beforeLaterReads(redis, subjectsKey, 'zscan', async () => {
    restarts++;
    await server.restart();
  });
  await expect(Revocations.start(redis)).rejects.toThrow(KccConnectionError);
  expect(restarts).toBe(6);
});
