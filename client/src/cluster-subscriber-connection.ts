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

/**
 * Makes every classic subscriber connection `cluster` opens skip `CLIENT SETINFO`, as the client's
 * own connections do. ioredis 6 builds that connection itself from a few of the node's options
 * (built/cluster/ClusterSubscriber.js `selectSubscriber()`), `disableClientInfo` not among them, so
 * it sent `CLIENT SETINFO LIB-VER` and `LIB-NAME`: outside the app-env's access string, refused on
 * Valkey 7.2+ and Redis OSS 7.2+ (the stack's default engine), and each refusal counts in
 * ElastiCache's `CommandAuthorizationFailures`, on which the stack alarms. ioredis reads the option
 * when the socket connects, after `selectSubscriber()` returns. False when a later ioredis moved that
 * method (nothing is changed; the client's connection check reports that shape once).
 */
export function withoutClientInfo(cluster: Cluster): boolean {
  const holder = (cluster as unknown as { subscriber?: unknown }).subscriber as { selectSubscriber?: unknown; getInstance?: unknown } | null | undefined;
  if (typeof holder !== 'object' || holder === null || typeof holder.selectSubscriber !== 'function' || typeof holder.getInstance !== 'function') return false;
  const select = holder.selectSubscriber as (...args: unknown[]) => unknown;
  const getInstance = holder.getInstance as () => unknown;
  holder.selectSubscriber = function selectSubscriberWithoutClientInfo(this: unknown, ...args: unknown[]): unknown {
    const result = select.apply(this, args);
    const instance = getInstance.call(this);
    if (instance instanceof Redis) instance.options.disableClientInfo = true;
    return result;
  };
  return true;
}
