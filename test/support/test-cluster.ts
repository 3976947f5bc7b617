import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { KccRedis } from '../../client/src/index.js';
import type { DedicatedRole } from '../../client/src/connection.js';
import { LocalCluster, type LocalClusterOptions } from '../../local/local-cluster.js';
import { LOCAL_ADMIN_USER, type LocalRedis } from '../../local/local-redis.js';
import { untilAsync } from './events.js';

/** The node of `cluster` that serves the slot of `key` (asked as the admin: CLUSTER KEYSLOT is not in the app users' grants). */
export async function slotOwner(cluster: LocalCluster, key: string): Promise<LocalRedis> {
  // Any running node: after a node was killed, the others know who took over its slots.
  const first = await (cluster.nodes.find((node) => node.pid !== undefined) ?? cluster.nodes[0]!).admin();
  let slot: number;
  let ranges: [number, number, [string, number]][];
  try {
    slot = Number(await first.call('CLUSTER', 'KEYSLOT', key));
    ranges = (await first.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  } finally {
    await first.quit();
  }
  const port = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
  const owner = cluster.nodes.find((node) => node.port === port);
  if (!owner) throw new Error(`no node of the local cluster serves slot ${slot}`);
  return owner;
}

/**
 * A replica of `primary`, once the first running node's gossip lists one not failing. Which node
 * replicates which reaches the others by gossip, after the cluster's creation (`--cluster create`
 * returns once the nodes agree on the slots: a node asked at once may still list the replicas as
 * primaries), a failover or a node's restart.
 */
export async function replicaOfNode(cluster: LocalCluster, primary: LocalRedis): Promise<LocalRedis> {
  let replica: LocalRedis | undefined;
  await untilAsync(async () => ([replica] = await cluster.replicasOf(primary)).length > 0, `a replica of the node on port ${primary.port}`, 20_000, 100);
  return replica!;
}

/**
 * A local 3-primary TLS cluster without persistence for the file's tests (started before them,
 * stopped after), and `connect(user)`: a KccRedis in cluster mode as that app-env's user, seeded
 * on the first running node. `options` adds replicas (`replicasPerPrimary`, `clusterNodeTimeoutMs`).
 */
export function useTestCluster(appEnvs: { app: string; env: string }[], options: Pick<LocalClusterOptions, 'replicasPerPrimary' | 'clusterNodeTimeoutMs'> = {}): {
  readonly cluster: () => LocalCluster;
  readonly connect: (user: string, roles?: DedicatedRole[]) => Promise<KccRedis>;
} {
  let dir: string | undefined;
  let cluster: LocalCluster | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-test-cluster-'));
    cluster = await LocalCluster.start({ dir, appEnvs, persistence: 'none', ...options });
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    cluster: () => cluster!,
    connect: (user, roles = []) => {
      const { password } = cluster!.users.get(user)!;
      return KccRedis.connect({ url: cluster!.url, tls: { ca: cluster!.ca, servername: 'localhost' }, username: user, password, clusterMode: true, env: {} }, roles);
    },
  };
}

/**
 * Starts moving the slot of `key` from node `from` to node `to` as an online resharding does
 * (CLUSTER SETSLOT IMPORTING on the target, MIGRATING on the source), keys not moved yet. While it
 * lasts, a script whose keys are partly there answers TRYAGAIN. `moveKeys()` moves the slot's keys
 * (MIGRATE) and leaves the slot migrating: the source answers ASK for them, and a client that follows
 * it reads them on the target, its slot table unchanged. `finish()` moves what is left and gives the
 * slot to `to` on every node.
 */
export async function startSlotMigration(cluster: LocalCluster, key: string, from: LocalRedis, to: LocalRedis): Promise<{ readonly slot: number; moveKeys(): Promise<void>; finish(): Promise<void> }> {
  const [source, target] = await Promise.all([from.admin(), to.admin()]);
  let slot: number;
  let targetId: string;
  try {
    slot = Number(await source.call('CLUSTER', 'KEYSLOT', key));
    const sourceId = String(await source.call('CLUSTER', 'MYID'));
    targetId = String(await target.call('CLUSTER', 'MYID'));
    await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
    await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
  } finally {
    await Promise.all([source.quit(), target.quit()]);
  }
  const moveKeys = async () => {
    const admin = await from.admin();
    try {
      for (;;) {
        const keys = (await admin.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await admin.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5_000, 'AUTH2', LOCAL_ADMIN_USER, from.adminPassword, 'KEYS', ...keys);
      }
    } finally {
      await admin.quit();
    }
  };
  return {
    slot,
    moveKeys,
    async finish() {
      await moveKeys();
      for (const node of [to, from, ...cluster.nodes.filter((n) => n !== to && n !== from)]) {
        const nodeAdmin = await node.admin();
        try {
          await nodeAdmin.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
        } finally {
          await nodeAdmin.quit();
        }
      }
    },
  };
}
