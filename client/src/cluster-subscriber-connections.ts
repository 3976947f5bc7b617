import { type Cluster, Redis } from 'ioredis';

/**
 * The connections an ioredis `Cluster` listens on: its classic subscriber (one node, for SUBSCRIBE)
 * and its sharded subscribers (one per primary that owns a subscribed slot, for SSUBSCRIBE).
 * ioredis keeps them to itself and never sends them a command of its own, so one whose peer vanished
 * without a reset would go unnoticed until TCP gives up; only here can they be PINGed.
 *
 * Read from ioredis 6's internals (built/cluster/ClusterSubscriber.js `getInstance()`,
 * ClusterSubscriberGroup.js `shardedSubscribers`, ShardedSubscriber.js `getInstance()`), checked
 * shape by shape: `known` is false when a later ioredis moved them, and the caller says so once.
 */
export interface ClusterSubscriberConnections {
  readonly known: boolean;
  readonly connections: readonly Redis[];
}

interface HoldsInstance {
  getInstance(): unknown;
}

function holdsInstance(value: unknown): value is HoldsInstance {
  return typeof value === 'object' && value !== null && typeof (value as Partial<HoldsInstance>).getInstance === 'function';
}

export function clusterSubscriberConnections(cluster: Cluster): ClusterSubscriberConnections {
  const internals = cluster as unknown as { subscriber?: unknown; shardedSubscribers?: unknown };
  const connections: Redis[] = [];
  let known = true;
  const take = (holder: unknown) => {
    if (!holdsInstance(holder)) {
      known = false;
      return;
    }
    const instance = holder.getInstance();
    if (instance instanceof Redis) connections.push(instance);
    else if (instance !== null) known = false;
  };
  take(internals.subscriber);
  // A cluster created with `shardedSubscribers: true` has the group; a missing one means it moved.
  if (cluster.options.shardedSubscribers) {
    const group = (internals.shardedSubscribers as { shardedSubscribers?: unknown } | undefined)?.shardedSubscribers;
    if (group instanceof Map) for (const subscriber of group.values()) take(subscriber);
    else known = false;
  }
  return { known, connections };
}
