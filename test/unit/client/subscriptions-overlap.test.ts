/**
 * A renewal's overlap in bridge mode, where each of the old and the new subscriber hears every
 * message twice (PUBLISH and SPUBLISH) on two sockets each: which of the four copies comes first is
 * up to the sockets, so the orders are played here on clusters that never connect (their SUBSCRIBE
 * and SSUBSCRIBE answered at once), each copy emitted as ioredis emits it.
 */
import { Cluster } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { RenewDedicated } from '../../../client/src/redis-client.js';
import { shardChannel } from '../../../client/src/pubsub-mode.js';
import { Subscriptions } from '../../../client/src/subscriptions.js';

const PREFIX = 'a-b:';
const CHANNEL = `${PREFIX}c`;
const SHARDED = shardChannel(PREFIX, CHANNEL);

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const resource of opened.splice(0)) resource.close();
});

/** A cluster that never connects, whose SUBSCRIBE and SSUBSCRIBE are answered at once. */
function answeringCluster(): Cluster {
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, shardedSubscribers: true });
  const answer = () => Promise.resolve(1);
  Object.assign(cluster, { subscribe: answer, ssubscribe: answer, sunsubscribe: answer, unsubscribe: answer });
  opened.push({ close: () => cluster.disconnect() });
  return cluster;
}

/** Bridge-mode Subscriptions on `old`, listening to {@link CHANNEL}, handed over to `next`: what it heard. */
async function handedOver(old: Cluster, next: Cluster): Promise<string[]> {
  let renew: RenewDedicated | undefined;
  const subscriptions = new Subscriptions({
    openConnection: (onRenew) => {
      renew = onRenew;
      return Promise.resolve(old);
    },
    mode: () => Promise.resolve('bridge'),
    keyPrefix: PREFIX,
    logger: { info() {}, warn() {} },
    onResubscribed() {},
    pingIntervalMs: 60_000,
    onPingUnanswered() {},
  });
  opened.push(subscriptions);
  const heard: string[] = [];
  await subscriptions.add(CHANNEL, (message) => void heard.push(message));
  await renew!(next); // the old one has not ended: both listen
  return heard;
}

type Copy = ['old' | 'next', 'classic' | 'sharded', string];

function play(old: Cluster, next: Cluster, copies: readonly Copy[]): void {
  for (const [on, path, message] of copies) {
    const cluster = on === 'old' ? old : next;
    if (path === 'classic') cluster.emit('message', CHANNEL, message);
    else cluster.emit('smessage', SHARDED, message);
  }
}

describe('a renewal in bridge mode, both subscribers listening', () => {
  const orders: [string, Copy[], string[]][] = [
    ['one message, each subscriber its copies in turn', [['old', 'classic', 'A'], ['old', 'sharded', 'A'], ['next', 'classic', 'A'], ['next', 'sharded', 'A']], ['A']],
    ['one message, the copies of the two subscribers interleaved', [['old', 'classic', 'A'], ['next', 'sharded', 'A'], ['old', 'sharded', 'A'], ['next', 'classic', 'A']], ['A']],
    ['one message, the new subscriber first', [['next', 'sharded', 'A'], ['old', 'classic', 'A'], ['next', 'classic', 'A'], ['old', 'sharded', 'A']], ['A']],
    ['one message published twice', [['old', 'classic', 'A'], ['next', 'sharded', 'A'], ['old', 'sharded', 'A'], ['next', 'classic', 'A'], ['old', 'classic', 'A'], ['old', 'sharded', 'A'], ['next', 'sharded', 'A'], ['next', 'classic', 'A']], ['A', 'A']],
    ['one only the old subscriber was sent (before the new one subscribed), then another', [['old', 'classic', 'A'], ['old', 'sharded', 'A'], ['old', 'classic', 'B'], ['next', 'sharded', 'B'], ['old', 'sharded', 'B'], ['next', 'classic', 'B']], ['A', 'B']],
  ];
  for (const [name, copies, expected] of orders) {
    it(`${name}: each message delivered as often as it was published`, async () => {
      const [old, next] = [answeringCluster(), answeringCluster()];
      const heard = await handedOver(old, next);
      play(old, next, copies);
      expect(heard).toEqual(expected);
    });
  }
});
