import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterSubscriberConnections } from '../../../client/src/cluster-subscriber-connections.js';
import { Subscriptions } from '../../../client/src/subscriptions.js';

const clusters: Cluster[] = [];
afterEach(() => {
  for (const cluster of clusters.splice(0)) cluster.disconnect();
});

/** A cluster of the installed ioredis that never connects (nothing listens on port 1). */
function lazyCluster(shardedSubscribers: boolean): Cluster {
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, shardedSubscribers });
  clusters.push(cluster);
  return cluster;
}

/** Replaces the classic subscriber by an object of another shape (what disconnect() calls is kept). */
function elsewhere(cluster: Cluster): void {
  (cluster as unknown as { subscriber: unknown }).subscriber = { stop() {}, connection: null };
}

describe("a cluster's subscriber connections, read from ioredis' internals", () => {
  it('are found in the installed ioredis, with and without sharded subscribers (a dependency update that moves them fails here)', () => {
    expect(clusterSubscriberConnections(lazyCluster(true))).toEqual({ known: true, connections: [] });
    expect(clusterSubscriberConnections(lazyCluster(false))).toEqual({ known: true, connections: [] });
  });

  it('an ioredis that keeps them elsewhere is told apart, not taken for a cluster with none', () => {
    const withoutClassic = lazyCluster(true);
    elsewhere(withoutClassic);
    expect(clusterSubscriberConnections(withoutClassic).known).toBe(false);
    const movedGroup = lazyCluster(true);
    (movedGroup as unknown as { shardedSubscribers: unknown }).shardedSubscribers = { subscribers: new Map(), stop() {} };
    expect(clusterSubscriberConnections(movedGroup).known).toBe(false);
    const unknownMember = lazyCluster(true);
    (unknownMember as unknown as { shardedSubscribers: { shardedSubscribers: Map<string, unknown> } }).shardedSubscribers.shardedSubscribers.set('127.0.0.1:1', { stop() {} });
    expect(clusterSubscriberConnections(unknownMember).known).toBe(false);
  });

  it('Subscriptions says once, not at every PING interval, that it cannot PING them', async () => {
    const cluster = lazyCluster(true);
    elsewhere(cluster);
    const warnings: string[] = [];
    const subscriptions = new Subscriptions({
      openConnection: () => Promise.resolve(cluster),
      mode: () => Promise.resolve('sharded'),
      keyPrefix: 'a-b:',
      logger: { info() {}, warn: (message: string) => void warnings.push(message) },
      onResubscribed() {},
      pingIntervalMs: 10,
      onPingUnanswered() {},
    });
    await subscriptions.open();
    await new Promise((resolve) => setTimeout(resolve, 100));
    subscriptions.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot reach ioredis' cluster subscriber connections to PING them/);
  });
});
