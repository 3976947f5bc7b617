/**
 * Cluster mode's periodic topology read (client/src/cluster-topology.ts): CLUSTER SLOTS over the
 * connections an instance already holds, and a re-read (a new connection, ioredis') only when the
 * topology changed. On a cluster whose shards have two replicas each, which nodes list in orders of
 * their own, with connections up to every primary.
 */
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Revocations } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'topology-prod';
const testCluster = useTestCluster([{ app: 'topology', env: 'prod' }], { replicasPerPrimary: 2 });
const closeLater = closeAfterEach();

describe('the topology read of an idle instance (3 primaries × 2 replicas)', () => {
  it('reads go on over the connections it holds, and open no new connection', { timeout: 60_000 }, async () => {
    const cluster = testCluster.cluster();
    const redis = closeLater(await testCluster.connect(USER, ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    await revocations.revokeSession('sid-topology-idle'); // the write path and the sharded subscriber are up
    // A connection up to every primary, so that reads go to all of them.
    await Promise.all((redis.client as Cluster).nodes('master').map((node) => node.ping()));
    // One admin connection per node, opened before the first count and kept: the counts see only others.
    const admins: Redis[] = await Promise.all(cluster.nodes.map((node) => node.admin()));
    try {
      const totals = async () => {
        const infos = await Promise.all(admins.map(async (admin) => `${await admin.info('stats')}\n${await admin.info('commandstats')}`));
        const sum = (pattern: RegExp) => infos.reduce((total, info) => total + Number(pattern.exec(info)?.[1] ?? 0), 0);
        return { connections: sum(/^total_connections_received:(\d+)/m), slotReads: sum(/^cmdstat_cluster\|slots:calls=(\d+)/m) };
      };
      const before = await totals();
      // ioredis' own periodic read (a new connection each) made two connections every 5 s here; a
      // comparison that minded the order of a shard's replicas, a re-read every second or so.
      await untilAsync(async () => (await totals()).slotReads >= before.slotReads + 8, 'eight topology reads by the instance', 30_000, 250);
      expect((await totals()).connections).toBe(before.connections);
    } finally {
      await Promise.all(admins.map((admin) => admin.quit()));
    }
  });
});
