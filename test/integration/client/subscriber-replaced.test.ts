/**
 * A subscriber connection that Redis itself ends, and one whose SUBSCRIBE it refuses for a while.
 *
 * In cluster mode with classic pub/sub, ioredis listens on one connection to one node (its
 * ClusterSubscriber). When that connection ends (its node reset it or restarted, or the node left
 * the topology) ioredis picks another node at once and subscribes there by itself, but tells nobody,
 * and does not retry a SUBSCRIBE that fails. The client watches that connection's end and subscribes
 * every channel again through the cluster, retried until it holds, then says so (`resubscribed`), so
 * callers catch up on what the gap lost at once instead of at their next log poll.
 *
 * Each node ends the subscriber here itself, as its admin would: CLIENT KILL, and an ACL change that
 * takes the app-env's channels away for a while (Redis 7 closes a subscriber whose channels its user
 * may no longer use, and refuses the successor's SUBSCRIBE until they are given back). The same ACL
 * change in sharded mode: ioredis replaces its sharded subscriber and says so (`subscribersReady`),
 * but reports a refused SSUBSCRIBE instead of retrying it; the client retries it until it holds.
 * And without cluster mode: the subscriber reconnects, and the client's SUBSCRIBE after it is
 * retried until it holds (before, it was tried once, and the channels stayed unsubscribed until
 * the next reconnect).
 */
import type { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';
import { shardChannel } from '../../../client/src/pubsub-mode.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { slotOwner, useTestCluster } from '../../support/test-cluster.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import type { LocalRedis } from '../../../local/local-redis.js';

const USER = 'sreplaced-prod';
const PREFIX = `${USER}:`;

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'sreplaced', env: 'prod' }]);
const server = useTestRedis({ appEnvs: [{ app: 'sreplaced', env: 'prod' }], persistence: 'none' });

/** Runs `command` as the admin on every node of the cluster, or on `nodes` (the one on port `last` last); returns each node's reply. */
async function onEveryNode(command: string[], last?: number, nodes: readonly LocalRedis[] = testCluster.cluster().nodes): Promise<unknown[]> {
  nodes = [...nodes].sort((a, b) => Number(a.port === last) - Number(b.port === last));
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
async function channelRules(user: string, nodes?: readonly LocalRedis[]): Promise<string[]> {
  const [reply] = (await onEveryNode(['ACL', 'GETUSER', user], undefined, nodes)) as unknown[][];
  const fields = reply!;
  const channels = String(fields[fields.indexOf('channels') + 1]);
  return channels.split(' ').filter((rule) => rule.startsWith('&'));
}

/** The logger's warnings, each with its fields as JSON. */
function recordedWarnings(): { warnings: string[]; logger: { info(): void; warn(message: string, fields?: object): void } } {
  const warnings: string[] = [];
  return { warnings, logger: { info() {}, warn: (message, fields) => void warnings.push(`${message} ${JSON.stringify(fields)}`) } };
}

function connectX(pubSub: 'classic' | 'auto', logger: ReturnType<typeof recordedWarnings>['logger']): Promise<KccRedis> {
  const cluster = testCluster.cluster();
  return KccRedis.connect(
    { url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password, clusterMode: true, pubSub, heartbeat: false, logger, env: {} },
    ['subscriber'],
  );
}

/** The cluster X listens on. */
function subscriberCluster(x: KccRedis): Cluster {
  return [...(x as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
}

/** Takes `user`'s channels away on every node (the one on port `last` last); returns what gives them back. */
async function withdrawChannels(user: string, last: number | undefined, nodes?: readonly LocalRedis[]): Promise<() => Promise<void>> {
  const rules = await channelRules(user, nodes);
  expect(rules.length).toBeGreaterThan(0);
  await onEveryNode(['ACL', 'SETUSER', user, 'resetchannels'], last, nodes);
  return async () => {
    await onEveryNode(['ACL', 'SETUSER', user, ...rules], undefined, nodes);
    await onEveryNode(['ACL', 'LOG', 'RESET'], undefined, nodes);
  };
}

async function aRefusalLogged(nodes?: readonly LocalRedis[]): Promise<void> {
  await untilAsync(async () => {
    const entries = (await onEveryNode(['ACL', 'LOG'], undefined, nodes)) as unknown[][][];
    return entries.flat().some((entry) => entry.includes('channel'));
  }, "a node's refusal of a subscription (ACL LOG)");
}

/** Subscribes `x` to its `probe` channel: what it hears, and how many times it said `resubscribed` from now on. */
async function listening(x: KccRedis): Promise<{ channel: string; heard: string[]; resubscribed: () => number }> {
  const channel = x.channel('probe');
  const heard: string[] = [];
  await x.subscribe(channel, (message) => void heard.push(message));
  let resubscribed = 0;
  x.on('resubscribed', () => void resubscribed++);
  return { channel, heard, resubscribed: () => resubscribed };
}

/** Publishes numbered messages with `publish` until `heard` holds one, and checks it is one of them. */
async function untilHeard(heard: string[], publish: (message: string) => Promise<unknown>): Promise<void> {
  let sent = 0;
  await untilAsync(async () => {
    await publish(`after-${++sent}`);
    return heard.length > 0;
  }, 'a message published afterwards, heard', 10_000, 100);
  expect(heard[0]).toMatch(/^after-\d+$/);
}

/** CLIENT KILL TYPE pubsub on the cluster node on `port`: exactly one connection, the subscriber. */
async function killSubscriberOn(port: number | undefined): Promise<void> {
  const node = testCluster.cluster().nodes.find((candidate) => candidate.port === port)!;
  const admin = await node.admin();
  try {
    expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1);
  } finally {
    await admin.quit();
  }
}

/**
 * Takes the channels away ({@link withdrawChannels}: `nodes`, the one on port `last` last), waits for
 * a node's refusal and the client's one warning for `path` with no `resubscribed` meanwhile, gives
 * them back, and waits for `resubscribed`. `closed` is awaited once they are taken away.
 */
async function refusedForAWhile(options: { path: 'classic' | 'sharded'; warnings: string[]; resubscribed: () => number; last?: number; nodes?: readonly LocalRedis[]; closed?: () => Promise<void> }): Promise<void> {
  const giveBack = await withdrawChannels(USER, options.last, options.nodes);
  await options.closed?.();
  // ioredis' successor asked and was refused; the client's own SUBSCRIBE is refused too, and retried.
  await aRefusalLogged(options.nodes);
  const warning = new RegExp(`^subscribing the channels again \\(${options.path} pub/sub\\) after the subscriber connection changed was refused; retrying until it holds .*NOPERM`);
  await until(() => options.warnings.some((w) => warning.test(w)), 'the warning naming the refusal');
  expect(options.resubscribed()).toBe(0);
  await giveBack();
  await until(() => options.resubscribed() === 1, "the client's resubscribed event", 30_000);
}

/** The client's warnings about a confirmation refused (one per gap, not one per retry). */
function refusalWarnings(warnings: string[]): string[] {
  return warnings.filter((w) => w.startsWith('subscribing the channels again'));
}

describe("ioredis' classic cluster subscriber connection, ended by its node", () => {
  for (const how of ['CLIENT KILL', 'an ACL change that takes the channels away for a while'] as const) {
    it(`${how}: the client subscribes every channel again through the cluster, says so (resubscribed), and messages flow`, { timeout: 60_000 }, async () => {
      const { warnings, logger } = recordedWarnings();
      const x = closeLater(await connectX('classic', logger));
      const { channel, heard, resubscribed } = await listening(x);
      const before = clusterSubscriberConnection(subscriberCluster(x)).connection!;
      expect(before.status).toBe('ready');

      if (how === 'CLIENT KILL') {
        // Only on its node: ioredis' successor (on any node) lives.
        await killSubscriberOn(before.options.port);
        await until(() => resubscribed() === 1, "the client's resubscribed event", 30_000);
      } else {
        // Its node last: by the time it closes the subscriber, every node refuses the channels.
        const closed = () => until(() => before.status === 'end', 'the subscriber closed by its node');
        await refusedForAWhile({ path: 'classic', warnings, resubscribed, last: before.options.port, closed });
      }
      expect(before.status).toBe('end');
      expect(clusterSubscriberConnection(subscriberCluster(x)).connection).not.toBe(before);
      await untilHeard(heard, (message) => onEveryNode(['PUBLISH', channel, message]));
      expect(resubscribed()).toBe(1);
      expect(refusalWarnings(warnings), warnings.join('; ')).toHaveLength(how === 'CLIENT KILL' ? 0 : 1);
    });
  }
});

describe("ioredis' sharded subscriber connection, ended by its node", () => {
  it('an ACL change that takes the channels away for a while: ioredis replaces it but does not retry the refused SSUBSCRIBE; the client does, until it holds, says so, and messages flow', { timeout: 60_000 }, async () => {
    const { warnings, logger } = recordedWarnings();
    const x = closeLater(await connectX('auto', logger));
    expect(await x.pubSubMode()).toBe('sharded');
    const { channel, heard, resubscribed } = await listening(x);
    const sharded = shardChannel(PREFIX, channel);
    const owner = await slotOwner(testCluster.cluster(), sharded);

    await refusedForAWhile({ path: 'sharded', warnings, resubscribed, last: owner.port });
    await untilHeard(heard, (message) => onEveryNode(['SPUBLISH', sharded, message], undefined, [owner]));
    expect(resubscribed()).toBe(1);
    expect(refusalWarnings(warnings), warnings.join('; ')).toHaveLength(1);
  });
});

describe('a whole cluster that reconnects (classic pub/sub)', () => {
  it("its new classic subscriber is watched from the cluster's ready, the channels are confirmed once (resubscribed), messages flow, and its later end is confirmed too", { timeout: 60_000 }, async () => {
    const { logger } = recordedWarnings();
    const x = closeLater(await connectX('classic', logger));
    const { channel, heard, resubscribed } = await listening(x);
    const cluster = subscriberCluster(x);
    const before = clusterSubscriberConnection(cluster).connection!;

    // As when every node's connection drops: ioredis stops its classic subscriber, reconnects, starts a new one.
    cluster.disconnect(true);
    await until(() => resubscribed() === 1, "the client's resubscribed event after the reconnect", 30_000);
    expect(before.status).toBe('end');
    const after = clusterSubscriberConnection(cluster).connection!;
    expect(after).not.toBe(before);
    await untilHeard(heard, (message) => onEveryNode(['PUBLISH', channel, message]));
    expect(resubscribed()).toBe(1);

    // Watched from the ready on: its node ending it is confirmed too.
    await killSubscriberOn(after.options.port);
    await until(() => resubscribed() === 2, "the resubscribed event after the new subscriber's end", 30_000);
  });
});

describe('without cluster mode', () => {
  it('an ACL change that takes the channels away for a while: the subscriber reconnects, its SUBSCRIBE is refused and retried until it holds, said once, reported once, and messages flow', { timeout: 60_000 }, async () => {
    const { warnings, logger } = recordedWarnings();
    const x = closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false, logger, reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 200 }), ['subscriber']));
    const { channel, heard, resubscribed } = await listening(x);

    await refusedForAWhile({ path: 'classic', warnings, resubscribed, nodes: [server] });
    await untilHeard(heard, (message) => onEveryNode(['PUBLISH', channel, message], undefined, [server]));
    expect(resubscribed()).toBe(1);
    expect(refusalWarnings(warnings), warnings.join('; ')).toHaveLength(1);
  });
});
