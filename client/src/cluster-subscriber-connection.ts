import { type Cluster, Redis } from 'ioredis';

/**
 * The connection an ioredis `Cluster` listens on for classic pub/sub (SUBSCRIBE goes to one node,
 * its `ClusterSubscriber`). ioredis keeps it to itself, with no socket timeout and no health check
 * (unlike its sharded subscribers, which it PINGs itself: `shardedSubscriberHealthCheckInterval`), so
 * one whose peer vanished without a reset would go unnoticed until TCP gives up: only through this
 * can the client PING it.
 *
 * Read from ioredis 6's internals (built/cluster/ClusterSubscriber.js `getInstance()`, the Cluster's
 * `subscriber`), the shape checked: `known` is false when a later ioredis moved it, and the caller
 * says so once. `connection` is undefined when none is open (ioredis opens it on first SUBSCRIBE).
 */
export interface ClusterSubscriberConnection {
  readonly known: boolean;
  readonly connection: Redis | undefined;
}

export function clusterSubscriberConnection(cluster: Cluster): ClusterSubscriberConnection {
  const holder = (cluster as unknown as { subscriber?: unknown }).subscriber;
  if (typeof holder !== 'object' || holder === null || typeof (holder as { getInstance?: unknown }).getInstance !== 'function') return { known: false, connection: undefined };
  const instance = (holder as { getInstance(): unknown }).getInstance();
  if (instance instanceof Redis) return { known: true, connection: instance };
  return { known: instance === null, connection: undefined };
}
