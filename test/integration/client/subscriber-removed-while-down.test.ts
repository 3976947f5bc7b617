/**
 * A channel whose last listener goes while the subscriber cluster is down (reconnecting): once it is
 * back, the channel is no longer subscribed on any node, classic or sharded, while the others are.
 */
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { shardChannel } from '../../../client/src/pubsub-mode.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'sremoved-prod';
const PREFIX = `${USER}:`;

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'sremoved', env: 'prod' }]);

/** Per channel, how many connections subscribe it on all the nodes together (classic, or its sharded twin). */
async function subscribed(channels: readonly string[], sharded: boolean): Promise<number[]> {
  const totals = channels.map(() => 0);
  for (const node of testCluster.cluster().nodes) {
    const admin = await node.admin();
    try {
      const names = sharded ? channels.map((channel) => shardChannel(PREFIX, channel)) : channels;
      const reply = (await admin.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', ...names)) as (string | number)[];
      channels.forEach((_, i) => (totals[i]! += Number(reply[2 * i + 1])));
    } finally {
      await admin.quit();
    }
  }
  return totals;
}

/** The cluster `x` listens on. */
function subscriberCluster(x: KccRedis): Cluster {
  return [...(x as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
}

describe('a channel removed while the subscriber cluster reconnects', () => {
  for (const pubSub of ['classic', 'auto', 'bridge'] as const) {
    it(`${pubSub}: is not subscribed again once the cluster is back; the other channel is`, { timeout: 60_000 }, async () => {
      const cluster = testCluster.cluster();
      const x = closeLater(await KccRedis.connect(
        { url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password, clusterMode: true, pubSub, heartbeat: false, logger: { info() {}, warn() {} }, env: {} },
        ['subscriber'],
      ));
      const mode = await x.pubSubMode();
      const [kept, removed] = [x.channel('kept'), x.channel('removed')];
      await x.subscribe(kept, () => {});
      const unsubscribe = await x.subscribe(removed, () => {});
      const paths = mode === 'bridge' ? [false, true] : [mode === 'sharded'];
      for (const sharded of paths) expect(await subscribed([kept, removed], sharded)).toEqual([1, 1]);
      let resubscribed = 0;
      x.on('resubscribed', () => void resubscribed++);

      const subscriber = subscriberCluster(x);
      // As when every node's connection drops: the cluster reconnects.
      subscriber.disconnect(true);
      expect(subscriber.status).not.toBe('ready');
      await unsubscribe();
      await until(() => resubscribed >= 1, "the client's resubscribed event after the reconnect", 30_000);
      for (const sharded of paths) {
        await untilAsync(async () => (await subscribed([kept], sharded))[0] === 1, `the kept channel subscribed again (${sharded ? 'sharded' : 'classic'})`, 20_000, 100);
      }
      // Every resubscription after the reconnect is answered by now (the kept channel's was the last).
      for (const sharded of paths) expect(await subscribed([kept, removed], sharded), sharded ? 'sharded' : 'classic').toEqual([1, 0]);
    });
  }
});
