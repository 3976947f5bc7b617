/**
 * Online resharding moves the app-env's slot to another shard. While the slot migrates, a script
 * whose keys are partly on either side is answered TRYAGAIN and runs nothing; ioredis retries that
 * 16 times, 100 ms apart, then gives up; the client tries for 2.5 s more. A revocation written then used to fail (Keycloak got a 503
 * for its logout; the instance wrote it again on its next poll): an audit measured about 4 % of
 * writes failing during a resharding of the local cluster (2026-12-03).
 */
import { describe, expect, it } from 'vitest';
import { Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { slotOwner, startSlotMigration, useTestCluster } from '../../support/test-cluster.js';

const USER = 'migrating-prod';
const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'migrating', env: 'prod' }]);

/** TRYAGAIN replies `node` has sent (INFO errorstats). */
async function tryAgainCount(node: LocalRedis): Promise<number> {
  const admin = await node.admin();
  try {
    const info = String(await admin.call('INFO', 'errorstats'));
    return Number(/errorstat_TRYAGAIN:count=(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    await admin.quit();
  }
}

async function instance(): Promise<Revocations> {
  return closeLater(await Revocations.start(closeLater(await testCluster.connect(USER, ['subscriber']))));
}

describe('revocations while the app-env\'s slot migrates (online resharding)', () => {
  it('a revocation written during the migration waits out TRYAGAIN and is written once the slot has moved', async () => {
    const a = await instance();
    await a.revokeSession('before'); // the stored sessions exist, the subjects do not: partly there
    const cluster = testCluster.cluster();
    const sessionsKey = `${USER}:{${USER}}:${REVOCATION_KEYS.sessions}`;
    const from = await slotOwner(cluster, sessionsKey);
    const to = cluster.nodes.find((node) => node !== from)!;
    const refusedBefore = await tryAgainCount(from);
    const migration = await startSlotMigration(cluster, sessionsKey, from, to);

    const outcome = a.revokeSession('during').then(
      () => 'written',
      (error: unknown) => error,
    );
    // Longer than ioredis waits on its own: it gives up after 17 TRYAGAIN replies, and the write is
    // tried again after that (without the retry past ioredis, the count stops at 17 and this times out).
    await untilAsync(async () => (await tryAgainCount(from)) - refusedBefore > 17, 'the write to be tried past ioredis\'s own retries', 20_000);
    await migration.finish();

    expect(await outcome).toBe('written');
    expect(a.stats.unwritten).toBe(0);
    expect((await instance()).check({ sid: 'during' })).toBe('revoked');
  });
});
