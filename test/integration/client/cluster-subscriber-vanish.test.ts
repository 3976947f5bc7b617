/**
 * In cluster mode a subscriber connection whose peer vanishes without a reset while the node itself
 * stays healthy (a connection-tracking middlebox that forgot it, a host's network path that broke
 * and healed): the topology does not change, so ioredis has no reason to replace it, and a
 * connection that only listens sends nothing that could time out. Without PINGs of ioredis' cluster
 * subscribers (before 2026-12-05, with ioredis 6.0.0) no message came over pub/sub again in the
 * 30 s each test waits, in either mode; only the log polls brought revocations. ioredis 6.1 PINGs
 * its sharded subscribers itself (`shardedSubscriberHealthCheckInterval`, which the client sets a
 * second above `socketTimeoutMs`); the client PINGs the classic one. Either way a silent one is
 * closed within about two intervals and replaced.
 *
 * Each node announces a TCP proxy's port as its own (CONFIG SET cluster-announce-tls-port), so every
 * client connection to it passes through the proxy; `vanish()` then drops every byte of the
 * connections open at that moment, for good, while new ones pass.
 */
import type { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';

import type { PubSubOption } from '../../../client/src/pubsub-mode.js';
import { shardChannel } from '../../../client/src/pubsub-mode.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'svanish-prod';
const PREFIX = `${USER}:`;
const SOCKET_TIMEOUT_MS = 2_000;

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'svanish', env: 'prod' }]);

/** Proxies in front of every node, announced by the nodes as their ports (once per file). */
let proxies: TcpProxy[] | undefined;

async function behindProxies(): Promise<TcpProxy[]> {
  if (proxies) return proxies;
  const cluster = testCluster.cluster();
  const started = await Promise.all(cluster.nodes.map((node) => TcpProxy.start(node.port)));
  proxies = started;
  for (const [i, node] of cluster.nodes.entries()) {
    const admin = await node.admin();
    try {
      await admin.call('CONFIG', 'SET', 'cluster-announce-tls-port', String(started[i]!.port));
    } finally {
      await admin.quit();
    }
  }
  // Every node names the proxies in CLUSTER SLOTS once gossip has carried the new ports.
  const proxyPorts = new Set(started.map((proxy) => proxy.port));
  await untilAsync(async () => {
    const views = await Promise.all(
      cluster.nodes.map(async (node) => {
        const admin = await node.admin();
        try {
          return (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        } finally {
          await admin.quit();
        }
      }),
    );
    return views.every((ranges) => ranges.every(([, , [, port]]) => proxyPorts.has(port)));
  }, 'every node announcing its proxy', 20_000);
  return started;
}
afterAll(async () => {
  await Promise.all((proxies ?? []).map((proxy) => proxy.stop()));
});

/** The connections ioredis' cluster listens on: its classic subscriber and its sharded ones (from ioredis 6's internals). */
function listeningConnections(cluster: Cluster): Redis[] {
  const classic = clusterSubscriberConnection(cluster).connection;
  const group = (cluster as unknown as { shardedSubscribers: { shardedSubscribers: Map<string, { getInstance(): Redis | null }> } }).shardedSubscribers;
  const sharded = [...group.shardedSubscribers.values()].map((subscriber) => subscriber.getInstance()).filter((connection) => connection !== null);
  return [...(classic ? [classic] : []), ...sharded];
}

/** Runs `command` as the admin on every node, straight (not through the proxies); a node's refusal (MOVED) is ignored. */
async function onEveryNode(command: string, ...args: string[]): Promise<void> {
  for (const node of testCluster.cluster().nodes) {
    const admin = await node.admin();
    try {
      await admin.call(command, ...args).catch(() => undefined);
    } finally {
      await admin.quit();
    }
  }
}

describe('a cluster subscriber connection that vanishes without a reset while its node stays healthy', () => {
  for (const pubSub of ['auto', 'classic'] as const satisfies readonly PubSubOption[]) {
    it(`${pubSub === 'auto' ? 'sharded' : 'classic'} pub/sub: the PINGs close it within about two socketTimeoutMs, once; a new one subscribes and says so (resubscribed), messages flow over it, and revocations taken meanwhile and afterwards reach the instance`, { timeout: 90_000 }, async () => {
      const proxies = await behindProxies();
      const cluster = testCluster.cluster();
      const warnings: string[] = [];
      const logger = { info() {}, warn: (message: string) => void warnings.push(message) };
      const x = closeLater(
        await KccRedis.connect(
          {
            url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password,
            clusterMode: true, pubSub, socketTimeoutMs: SOCKET_TIMEOUT_MS, heartbeat: false, logger, env: {},
          },
          ['subscriber'],
        ),
      );
      expect(await x.pubSubMode()).toBe(pubSub === 'auto' ? 'sharded' : 'classic');
      const xRevocations = closeLater(await Revocations.start(x, { maxStalenessMs: 60_000 }));
      const channel = x.channel('probe');
      const heard: string[] = [];
      await x.subscribe(channel, (message) => void heard.push(message));
      const subscriberCluster = [...(x as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
      const listening = listeningConnections(subscriberCluster).filter((connection) => connection.status === 'ready');
      expect(listening.length).toBe(1);
      const [before] = listening;
      let resubscribed = 0;
      x.on('resubscribed', () => void resubscribed++);

      const publish = (message: string) => (pubSub === 'auto' ? onEveryNode('SPUBLISH', shardChannel(PREFIX, channel), message) : onEveryNode('PUBLISH', channel, message));

      for (const proxy of proxies) proxy.vanish();
      // Y connects after: its connections pass the proxies.
      const y = closeLater(await testCluster.connect(USER));
      const yRevocations = closeLater(await Revocations.start(y, { maxStalenessMs: 60_000 }));
      // A revocation taken while X's subscriber is deaf reaches X (by a log poll, or the catch-up after
      // the new subscriber came).
      await yRevocations.revokeSession('during-the-silence');
      await until(() => xRevocations.check({ sid: 'during-the-silence' }) === 'revoked', 'the revocation taken during the silence, on X', 20_000);

      let sent = 0;
      await untilAsync(async () => {
        await publish(`after-${++sent}`);
        return heard.some((message) => message.startsWith('after-'));
      }, 'a message published after the loss, heard over a new subscriber connection', 30_000, 250);
      expect(before!.status).toBe('end');
      // The new connection's subscription was confirmed and reported, so callers catch up at once.
      await until(() => resubscribed >= 1, "the client's resubscribed event after the replacement", 20_000);
      // Closed for want of a reply (by its own socket timeout when sharded, by the PING's deadline when
      // classic), said and counted as any socket timeout, once.
      expect(warnings.filter((w) => /^the subscriber connection to 127\.0\.0\.1:\d+ got no reply within 2000 ms \(socketTimeoutMs\)/.test(w))).toHaveLength(1);
      expect(x.stats.socketTimeouts).toBeGreaterThanOrEqual(1);

      await yRevocations.revokeSession('after-the-silence');
      await until(() => xRevocations.check({ sid: 'after-the-silence' }) === 'revoked', 'the later revocation on X', 10_000);
      for (const proxy of proxies) proxy.heal();
    });
  }
});
