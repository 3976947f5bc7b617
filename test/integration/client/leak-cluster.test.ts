/**
 * Leaks per subscriber replacement in cluster mode (a local 3-primary TLS cluster): ioredis replaces
 * a cluster's subscriber connections itself (its classic subscriber picks another node, its sharded
 * subscribers reconnect), and the client watches each new one (Subscriptions.watchClassic, `confirm`
 * on `subscribersReady`). An instance (KccRedis in cluster mode, a KeyRing, Revocations) has every
 * subscriber connection killed by the nodes (CLIENT KILL TYPE pubsub), 5 times, then 25 more, with
 * sharded pub/sub (`auto` on Redis 7) and with classic: every count must come back to what it was
 * after the first 5: the listeners on the KccRedis, on each cluster and node connection and on the
 * cluster's current subscriber connections, the KccRedis' internal collections (clients, outages,
 * channels), the process' listeners, the timers (unreferenced ones too) and sockets alive.
 *
 * What it catches: a listener added to the cluster (not to the replaced connection) per replacement,
 * an outage entry per node connection, a timer or a socket left per replacement (a health-check PING,
 * a confirm loop), a watch that keeps each replaced connection. Shown to fail (an edit made in
 * client/src for the run, then undone): a `subscribersReady` and a `ready` listener added to the
 * subscriber cluster per confirm() (sharded: `subscriber:ready` 6 -> 31 and
 * `subscriber:subscribersReady` 6 -> 31; classic: 7 -> 32 and 5 -> 30).
 */
import type { Cluster, Redis } from 'ioredis';
import { describe, it } from 'vitest';
import { KccRedis, KeyRing, Revocations } from '../../../client/src/index.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';
import type { RedisClient } from '../../../client/src/redis-client.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until } from '../../support/events.js';
import { type Counts, activeResources, addAll, baseline, connectionCounts, expectBackTo, listeners, processListeners, trackHandles, withBounds } from '../../support/leak-counts.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'leakcl-prod';
const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const FIRST = 5;
const MORE = 25;

const testCluster = useTestCluster([{ app: 'leakcl', env: 'prod' }]);
const closeLater = closeAfterEach();
const liveHandles = trackHandles();
/** The sockets alive: what a cluster opens lazily, per node. */
const SOCKETS = ['live:TCPWRAP', 'active:TCPSocketWrap'];

function clientsOf(redis: KccRedis): Map<RedisClient, string> {
  return (redis as unknown as { clients: Map<RedisClient, string> }).clients;
}

/** The listeners on the connections a cluster listens on now (ioredis 6's internals): its classic subscriber and its sharded ones. */
function listeningCounts(cluster: Cluster): Counts {
  const counts: Counts = {};
  const classic = clusterSubscriberConnection(cluster).connection;
  if (classic) addAll(counts, listeners('classic-subscriber', classic));
  const group = (cluster as unknown as { shardedSubscribers?: { shardedSubscribers?: Map<string, { getInstance(): Redis | null }> } }).shardedSubscribers;
  for (const subscriber of group?.shardedSubscribers?.values() ?? []) {
    const connection = subscriber.getInstance();
    if (connection) addAll(counts, listeners('sharded-subscriber', connection));
  }
  return counts;
}

describe('a long-lived cluster-mode instance: nothing grows per subscriber replacement', () => {
  for (const pubSub of ['auto', 'classic'] as const) {
    it(`every subscriber connection killed by the nodes (pubSub '${pubSub}'), 5 then 25 more times`, async () => {
      const cluster = testCluster.cluster();
      const { password } = cluster.users.get(USER)!;
      const redis = closeLater(
        await KccRedis.connect(
          { url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password, clusterMode: true, pubSub, env: {}, logger: { info: () => {}, warn: () => {} } },
          ['subscriber', 'reader'],
        ),
      );
      closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' }));
      closeLater(await Revocations.start(redis));
      const subscriber = () => [...clientsOf(redis)].find(([, role]) => role === 'subscriber')![0] as Cluster;
      const admins = await Promise.all(cluster.nodes.map((node) => node.admin()));
      try {
        const sample = () => addAll(addAll(addAll(addAll(connectionCounts(redis), listeningCounts(subscriber())), activeResources()), liveHandles()), processListeners());
        const cycle = async () => {
          const resubscribed = nextEvent(redis, 'resubscribed', 20_000);
          await Promise.all(admins.map((admin) => admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')));
          await resubscribed;
          await until(() => [...clientsOf(redis).keys()].every((client) => client.status === 'ready'), 'every cluster ready', 15_000);
        };
        for (let i = 0; i < FIRST; i++) await cycle();
        // A cluster opens a node connection when a command or a topology read (every second) first needs
        // it: the baseline waits for the sockets to settle. State with a bound is no growth: a TLS
        // session per node (tls-sessions.ts), an outage entry per role and node or seed endpoint.
        const base = withBounds(await baseline(sample, { settleOn: SOCKETS }), { 'kcc:tlsSessions': cluster.nodes.length, 'kcc:outages': 3 * (cluster.nodes.length + 1) });
        for (let i = 0; i < MORE; i++) await cycle();
        await expectBackTo(sample, base, `after ${FIRST + MORE} kills (baseline after ${FIRST})`);
      } finally {
        for (const admin of admins) admin.disconnect();
      }
    });
  }
});
