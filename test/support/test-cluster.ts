import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { KccRedis } from '../../client/src/index.js';
import type { DedicatedRole } from '../../client/src/connection.js';
import { LocalCluster } from '../../local/local-cluster.js';
import type { LocalRedis } from '../../local/local-redis.js';

/** The node of `cluster` that serves the slot of `key` (asked as the admin: CLUSTER KEYSLOT is not in the app users' grants). */
export async function slotOwner(cluster: LocalCluster, key: string): Promise<LocalRedis> {
  const first = await cluster.nodes[0]!.admin();
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
 * A local 3-primary TLS cluster without persistence for the file's tests (started before them,
 * stopped after), and `connect(user)`: a KccRedis in cluster mode as that app-env's user.
 */
export function useTestCluster(appEnvs: { app: string; env: string }[]): {
  readonly cluster: () => LocalCluster;
  readonly connect: (user: string, roles?: DedicatedRole[]) => Promise<KccRedis>;
} {
  let dir: string | undefined;
  let cluster: LocalCluster | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-test-cluster-'));
    cluster = await LocalCluster.start({ dir, appEnvs, persistence: 'none' });
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
