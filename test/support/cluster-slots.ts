import type { LocalCluster } from '../../local/local-cluster.js';
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
