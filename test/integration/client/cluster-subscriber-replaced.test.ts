/**
 * In cluster mode with classic pub/sub, ioredis listens on one connection to one node (its
 * ClusterSubscriber). When that connection ends (its node reset it or restarted, or the node left
 * the topology) ioredis picks another node at once and subscribes there by itself, but tells nobody,
 * and does not retry a SUBSCRIBE that fails. The client watches that connection's end and subscribes
 * every channel again through the cluster, retried until it holds, then says so (`resubscribed`), so
 * callers catch up on what the gap lost at once instead of at their next log poll.
 *
 * Each node ends the subscriber here itself, as its admin would: CLIENT KILL, and an ACL change that
 * takes the app-env's channels away for a while (Redis 7 closes a subscriber whose channels its user
 * may no longer use, and refuses the successor's SUBSCRIBE until they are given back).
 */
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { useTestCluster } from '../../support/test-cluster.js';

const USER = 'sreplaced-prod';

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'sreplaced', env: 'prod' }]);

/** Runs `command` as the admin on every node (the one on port `last` last); returns each node's reply. */
async function onEveryNode(command: string[], last?: number): Promise<unknown[]> {
  const nodes = [...testCluster.cluster().nodes].sort((a, b) => Number(a.port === last) - Number(b.port === last));
  const replies: unknown[] = [];
  for (const node of nodes) {
    const admin = await node.admin();
    try {
      replies.push(await admin.call(command[0]!, ...command.slice(1)));
    } finally {
      await admin.quit();
    }
  }
  return replies;
}

/** The channel patterns `user` may use, as the first node's ACL GETUSER gives them (e.g. `&app-env:*`). */
async function channelRules(user: string): Promise<string[]> {
  const [reply] = (await onEveryNode(['ACL', 'GETUSER', user])) as unknown[][];
  const fields = reply!;
  const channels = String(fields[fields.indexOf('channels') + 1]);
  return channels.split(' ').filter((rule) => rule.startsWith('&'));
}

describe("ioredis' classic cluster subscriber connection, ended by its node", () => {
  for (const how of ['CLIENT KILL', 'an ACL change that takes the channels away for a while'] as const) {
    it(`${how}: the client subscribes every channel again through the cluster, says so (resubscribed), and messages flow`, { timeout: 60_000 }, async () => {
      const warnings: string[] = [];
      const x = closeLater(
        await KccRedis.connect(
          {
            url: testCluster.cluster().url, tls: { ca: testCluster.cluster().ca, servername: 'localhost' }, username: USER, password: testCluster.cluster().users.get(USER)!.password,
            clusterMode: true, pubSub: 'classic', heartbeat: false, logger: { info() {}, warn: (message: string, fields?: object) => void warnings.push(`${message} ${JSON.stringify(fields)}`) }, env: {},
          },
          ['subscriber'],
        ),
      );
      const channel = x.channel('probe');
      const heard: string[] = [];
      await x.subscribe(channel, (message) => void heard.push(message));
      const subscriberCluster = [...(x as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
      const before = clusterSubscriberConnection(subscriberCluster).connection!;
      expect(before.status).toBe('ready');
      let resubscribed = 0;
      x.on('resubscribed', () => void resubscribed++);

      if (how === 'CLIENT KILL') {
        // Only on its node: the successor, on another node, lives.
        const node = testCluster.cluster().nodes.find((candidate) => candidate.port === before.options.port)!;
        const admin = await node.admin();
        try {
          expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1);
        } finally {
          await admin.quit();
        }
      } else {
        const rules = await channelRules(USER);
        expect(rules.length).toBeGreaterThan(0);
        // Its node last: by the time it closes the subscriber, every node refuses the channels.
        await onEveryNode(['ACL', 'SETUSER', USER, 'resetchannels'], before.options.port);
        await until(() => before.status === 'end', 'the subscriber closed by its node');
        // ioredis' successor asked and was refused; the client's own SUBSCRIBE is refused too, and retried.
        await untilAsync(async () => {
          const refusals = (await onEveryNode(['ACL', 'LOG'])) as unknown[][][];
          return refusals.flat().some((entry) => entry.includes('channel'));
        }, "a node's refusal of the successor's SUBSCRIBE (ACL LOG)");
        expect(resubscribed).toBe(0);
        await until(() => warnings.some((w) => /^subscribing the channels again \(classic pub\/sub\) after the cluster's subscriber connection changed failed; retrying until it holds .*NOPERM/.test(w)), 'the warning naming the refusal');
        await onEveryNode(['ACL', 'SETUSER', USER, ...rules]);
        await onEveryNode(['ACL', 'LOG', 'RESET']);
      }
      await until(() => resubscribed === 1, "the client's resubscribed event", 30_000);
      expect(before.status).toBe('end');
      const after = clusterSubscriberConnection(subscriberCluster).connection!;
      expect(after).not.toBe(before);

      let sent = 0;
      await untilAsync(async () => {
        await onEveryNode(['PUBLISH', channel, `after-${++sent}`]);
        return heard.length > 0;
      }, 'a message published afterwards, heard', 10_000, 100);
      expect(heard[0]).toMatch(/^after-\d+$/);
      // Said once per gap, not at every retry.
      expect(warnings.filter((w) => w.startsWith('subscribing the channels again')), warnings.join('; ')).toHaveLength(how === 'CLIENT KILL' ? 0 : 1);
    });
  }
});
