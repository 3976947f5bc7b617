/**
 * The renewal of an IAM subscriber connection (IAM stand-in, real redis-server): while the old and
 * the new subscriber both listen, what the client remembers to deliver each message once is a digest
 * per message, not its text; a hand-over that fails ends that, and the successor it gave up delivers
 * nothing more; a channel removed during a hand-over stays subscribed nowhere.
 */
import { Cluster, Redis, ReplyError } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import type { KccRedis } from '../../../client/src/index.js';
import { until } from '../../support/events.js';
import { HOUR, MINUTE } from '../../support/fake-clock.js';
import { useIamHarness } from '../../support/iam-harness.js';

/** What these tests read of the client's Subscriptions. */
interface Internals {
  readonly overlap: object | undefined;
  readonly connected: Redis | undefined;
}

function internals(redis: KccRedis): Internals {
  return (redis as unknown as { subscriptions: Internals }).subscriptions;
}

/** Characters of every string `value` holds (through objects, arrays, Maps and Sets; connections not entered). */
function retainedChars(value: unknown, seen = new Set<unknown>()): number {
  if (typeof value === 'string') return value.length;
  if (typeof value !== 'object' || value === null || seen.has(value) || value instanceof Redis || value instanceof Cluster) return 0;
  seen.add(value);
  const parts = value instanceof Map ? [...value.keys(), ...value.values()] : value instanceof Set ? [...value] : Object.values(value);
  return parts.reduce((sum: number, part) => sum + retainedChars(part, seen), 0);
}

type Subscribe = (this: Redis, ...args: unknown[]) => Promise<unknown>;

/**
 * Spies on ioredis' SUBSCRIBE: the connections that subscribe before `renewing()` are the old
 * subscriber's; the first other one, the successor, subscribes through `successor` instead.
 */
function onSuccessorSubscribe(successor: (client: Redis, subscribe: () => Promise<unknown>) => Promise<unknown>) {
  const original = Redis.prototype.subscribe as Subscribe;
  const before = new Set<Redis>();
  let renewing = false;
  let next: Redis | undefined;
  const spy = vi.spyOn(Redis.prototype, 'subscribe').mockImplementation(function (this: Redis, ...args: unknown[]) {
    if (!renewing) before.add(this);
    if (!renewing || before.has(this) || (next !== undefined && next !== this)) return original.apply(this, args);
    next = this;
    return successor(this, () => original.apply(this, args));
  } as typeof Redis.prototype.subscribe);
  return { renewing: () => void (renewing = true), restore: () => spy.mockRestore() };
}

const NOPERM = 'NOPERM this user has no permissions to access one of the channels used as arguments';

describe('the subscriber renewal hand-over', () => {
  const iam = useIamHarness({ connectDefaults: { heartbeat: false, logger: { info: () => {}, warn: () => {} } } });

  it("refused (the successor's SUBSCRIBE): the overlap ends, a message sent twice afterwards is heard twice, and the retry hands over", async () => {
    const spy = onSuccessorSubscribe(() => Promise.reject(new ReplyError(NOPERM)));
    try {
      const redis = await iam.connect();
      const heard: string[] = [];
      const channel = redis.channel('c');
      await redis.subscribe(channel, (message) => void heard.push(message));
      const old = internals(redis).connected;
      spy.renewing();
      iam.clock.advance(11 * HOUR);
      await until(() => redis.stats.renewalFailures >= 1, 'the subscriber renewal failing', 10_000);
      expect(internals(redis).overlap).toBeUndefined();
      expect(internals(redis).connected).toBe(old);

      await redis.run((r) => r.publish(channel, 'twice'));
      await redis.run((r) => r.publish(channel, 'twice'));
      await redis.run((r) => r.publish(channel, 'last'));
      await until(() => heard.includes('last'), 'the messages on the old subscriber');
      expect(heard).toEqual(['twice', 'twice', 'last']);

      // Retried after 1/200 of the 12 h age (3.6 min).
      iam.clock.advance(4 * MINUTE);
      await until(() => internals(redis).connected !== old && old?.status === 'end', 'the retry handing over and the old subscriber ending', 20_000);
      expect(internals(redis).overlap).toBeUndefined();
      await redis.run((r) => r.publish(channel, 'after'));
      await until(() => heard.includes('after'), 'a message on the successor');
      expect(heard).toEqual(['twice', 'twice', 'last', 'after']);
    } finally {
      spy.restore();
    }
  });

  it('failed with the successor subscribed: what it still hears before it is closed is not delivered', async () => {
    let successor: Redis | undefined;
    let closeSuccessor: (() => void) | undefined;
    const spy = onSuccessorSubscribe(async (client, subscribe) => {
      successor = client;
      // Closed by the renewal when the hand-over fails; held open here, as a socket is until its end is read.
      const disconnect = client.disconnect.bind(client);
      client.disconnect = () => void (closeSuccessor = () => disconnect());
      // Subscribed, then failed (as in bridge mode: SUBSCRIBE answered, SSUBSCRIBE refused).
      await subscribe();
      throw new ReplyError(NOPERM);
    });
    try {
      const redis = await iam.connect();
      const heard: string[] = [];
      const channel = redis.channel('c');
      await redis.subscribe(channel, (message) => void heard.push(message));
      spy.renewing();
      iam.clock.advance(11 * HOUR);
      await until(() => redis.stats.renewalFailures >= 1 && closeSuccessor !== undefined, 'the subscriber renewal failing', 10_000);
      const onSuccessor: string[] = [];
      successor!.on('message', (_, message: string) => void onSuccessor.push(message));
      expect(await redis.run((r) => r.publish(channel, 'one'))).toBe(2); // the old subscriber and the successor
      await until(() => onSuccessor.includes('one') && heard.includes('one'), 'the message on both connections');
      expect(heard).toEqual(['one']);
      closeSuccessor!();
    } finally {
      closeSuccessor?.();
      spy.restore();
    }
  });

  it('succeeding: a message both subscribers are sent is delivered once, one sent twice twice, and the overlap keeps no message text', async () => {
    const body = 'x'.repeat(1024);
    const bulk = Array.from({ length: 200 }, (_, i) => `${i}:${body}`);
    const sent = ['A', 'B', 'A', ...bulk];
    let heard: string[] = [];
    let retained = Number.NaN;
    let redis: KccRedis | undefined;
    let check: Promise<void> | undefined;
    const spy = onSuccessorSubscribe(async (client, subscribe) => {
      const reply = await subscribe();
      // Both subscribed, before the switch: everything published now reaches both.
      check = (async () => {
        const onSuccessor: string[] = [];
        client.on('message', (_, message: string) => void onSuccessor.push(message));
        const channel = redis!.channel('c');
        for (const message of sent) expect(await redis!.run((r) => r.publish(channel, message))).toBe(2);
        await until(() => onSuccessor.length === sent.length && heard.length >= sent.length - 1, 'every message on both connections');
        retained = retainedChars(internals(redis!).overlap);
      })();
      await check;
      return reply;
    });
    try {
      redis = await iam.connect();
      await redis.subscribe(redis.channel('c'), (message) => void heard.push(message));
      const old = internals(redis).connected;
      heard = [];
      spy.renewing();
      iam.clock.advance(11 * HOUR);
      await until(() => check !== undefined, 'the successor subscribed');
      await check;
      await until(() => internals(redis!).connected !== old && old?.status === 'end', 'the hand-over and the old subscriber ending', 20_000);
      expect(heard.slice().sort()).toEqual(sent.slice().sort());
      // A digest (44 characters) per message, where the message alone is over 1 KiB.
      expect(retained).toBeLessThan(100 * sent.length);
      expect(internals(redis).overlap).toBeUndefined();
    } finally {
      spy.restore();
    }
  });

  it('a channel whose last listener goes while the successor is being subscribed is left subscribed on no connection', async () => {
    let release: (() => void) | undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const spy = onSuccessorSubscribe(async (_, subscribe) => {
      // Sent now, answered to the client once the test lets it go.
      const reply = subscribe();
      held = true;
      await released;
      return reply;
    });
    const admin = await iam.server.admin();
    try {
      const redis = await iam.connect();
      const [kept, removed] = [redis.channel('kept'), redis.channel('removed')];
      await redis.subscribe(kept, () => {});
      const unsubscribe = await redis.subscribe(removed, () => {});
      const old = internals(redis).connected;
      spy.renewing();
      iam.clock.advance(11 * HOUR);
      await until(() => held, "the successor's SUBSCRIBE sent");
      await unsubscribe();
      release!();
      await until(() => internals(redis).connected !== old && old?.status === 'end', 'the hand-over and the old subscriber ending', 20_000);
      // PUBSUB after the successor's UNSUBSCRIBE was answered: the server answers in order.
      await internals(redis).connected!.ping();
      const [, onKept, , onRemoved] = (await admin.call('PUBSUB', 'NUMSUB', kept, removed)) as [string, number, string, number];
      expect({ kept: onKept, removed: onRemoved }).toEqual({ kept: 1, removed: 0 });
    } finally {
      release?.();
      spy.restore();
      await admin.quit();
    }
  });
});
