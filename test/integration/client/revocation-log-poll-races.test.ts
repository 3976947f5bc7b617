/**
 * Log polls that confirm the log from its head (logout-sync.md, step 3), against the sequences that
 * could make one confirm while an entry is missing, or stop confirming for good: a message heard
 * while the instance starts, a count that goes back, a transient error reply. Found by an independent
 * review; each test failed before its fix. Real redis-server; the only interference is a wrapper
 * around the reader's command connection that holds or fails one XINFO (a reply delayed in transit,
 * or a transient error reply).
 */
import type { Redis } from 'ioredis';
import { ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, Revocations, type RevocationOptions } from '../../../client/src/index.js';
import type { RedisClient } from '../../../client/src/redis-client.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, startTestRedis } from '../../support/redis.js';

let server: LocalRedis;
let ns = 0;
const closeLater = closeAfterEach();

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: Array.from({ length: 4 }, (_, i) => ({ app: `races${i}`, env: 'prod' })), persistence: 'none' });
});
afterAll(() => server?.stop());

interface Namespace {
  readonly user: string;
  readonly log: string;
  readonly raw: Redis;
}

async function namespace(): Promise<Namespace> {
  const user = `races${ns++}-prod`;
  const raw = closeLater(await connectAs(server, user));
  return { user, raw, log: `${user}:{${user}}:${REVOCATION_KEYS.log}` };
}

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user, { reconnectMaxDelayMs: 100 }), ['subscriber']));
}

async function instance(user: string, options: RevocationOptions = {}): Promise<Revocations> {
  return closeLater(await Revocations.start(await connect(user), options));
}

/** A log entry as a writer appends it, its message lost on the way (not published). */
async function appendUnpublished(ns: Namespace, sid: string): Promise<void> {
  const { envelope, json } = encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 60_000 }] }, 64 * 1024);
  await ns.raw.xadd(ns.log, '*', 'i', envelope.id, 'e', json);
}

type XinfoHook = (send: () => Promise<unknown>) => Promise<unknown>;

/** Routes the next XINFO sent on `redis`'s command connection through `hook` (once). */
function interceptNextXinfo(redis: KccRedis, hook: XinfoHook): void {
  const target = redis as unknown as { run: (operation: (client: RedisClient) => Promise<unknown>) => Promise<unknown> };
  const run = target.run.bind(redis);
  let armed = true;
  target.run = (operation) =>
    run((client) =>
      operation(
        new Proxy(client, {
          get(object, property) {
            const value: unknown = Reflect.get(object, property, object);
            if (property === 'xinfo' && armed && typeof value === 'function') {
              armed = false;
              return (...args: unknown[]) => hook(() => (value as (...a: unknown[]) => Promise<unknown>).apply(object, args));
            }
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
          },
        }),
      ),
    );
}

describe('log polls: races and faults', () => {
  it('a message heard while start() reads the head is not counted again against the first poll: a message lost after it is read', async () => {
    const ns = await namespace();
    const writer = await instance(ns.user);
    const redis = await connect(ns.user);
    // Counts the messages the reader's subscriber receives, and tells when it is subscribed.
    let heard = 0;
    let subscribed!: () => void;
    const isSubscribed = new Promise<void>((resolve) => (subscribed = resolve));
    const subscribe = redis.subscribe.bind(redis);
    redis.subscribe = async (channel, listener) => {
      const unsubscribe = await subscribe(channel, (message) => {
        heard++;
        listener(message);
      });
      subscribed();
      return unsubscribe;
    };
    // start(): SUBSCRIBE lands first; a logout is written and heard before XINFO runs (its entry is in
    // the head's count); right after XINFO, an entry comes whose message is lost.
    interceptNextXinfo(redis, async (send) => {
      await isSubscribed;
      await writer.revokeSession('during-start');
      await until(() => heard >= 1, 'the reader hearing the logout written during start()');
      const reply = await send();
      await appendUnpublished(ns, 'lost');
      return reply;
    });
    const reader = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    expect(reader.check({ sid: 'during-start' })).toBe('revoked');
    // Before 76511e1 the first poll read every entry after the start position: 'lost' among them.
    await until(() => reader.stats.logPolls.read + reader.stats.logPolls.confirmed >= 5, 'five polls');
    expect(reader.check({ sid: 'lost' })).toBe('revoked');
  });

  it('the same with the lost entry followed by a heard one (not the newest entry)', async () => {
    const ns = await namespace();
    const writer = await instance(ns.user);
    const redis = await connect(ns.user);
    // Counts the messages the reader's subscriber receives, and tells when it is subscribed.
    let heard = 0;
    let subscribed!: () => void;
    const isSubscribed = new Promise<void>((resolve) => (subscribed = resolve));
    const subscribe = redis.subscribe.bind(redis);
    redis.subscribe = async (channel, listener) => {
      const unsubscribe = await subscribe(channel, (message) => {
        heard++;
        listener(message);
      });
      subscribed();
      return unsubscribe;
    };
    // start(): SUBSCRIBE lands first; a logout is written and heard before XINFO runs (its entry is in
    // the head's count); right after XINFO, an entry comes whose message is lost.
    interceptNextXinfo(redis, async (send) => {
      await isSubscribed;
      await writer.revokeSession('during-start');
      await until(() => heard >= 1, 'the reader hearing the logout written during start()');
      const reply = await send();
      await appendUnpublished(ns, 'lost');
      await writer.revokeSession('after');
      return reply;
    });
    const reader = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    expect(reader.check({ sid: 'during-start' })).toBe('revoked');
    // Before 76511e1 the first poll read every entry after the start position: 'lost' among them.
    await until(() => reader.stats.logPolls.read + reader.stats.logPolls.confirmed >= 5, 'five polls');
    expect(reader.check({ sid: 'lost' })).toBe('revoked');
  });

  it('one transient error reply to XINFO (LOADING, BUSY) does not turn the count check off for good', async () => {
    const ns = await namespace();
    const redis = await connect(ns.user);
    const reader = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    const writer = await instance(ns.user);
    await writer.revokeSession('first');
    await until(() => reader.check({ sid: 'first' }) === 'revoked', 'the first revocation on the reader');
    await until(() => reader.stats.logPolls.confirmed >= 1, 'a confirmed poll');
    interceptNextXinfo(redis, async () => {
      throw new ReplyError('LOADING Redis is loading the dataset in memory');
    });
    const confirmed = reader.stats.logPolls.confirmed;
    const polls = () => reader.stats.logPolls.read + reader.stats.logPolls.confirmed;
    const from = polls();
    await until(() => polls() >= from + 10, 'ten more polls');
    // Nothing is missing (no loss, no write): the polls after the failed one should confirm again.
    expect(reader.stats.logPolls.confirmed).toBeGreaterThan(confirmed);
  });

  it('a count that goes back (a failover to a replica that never got a heard entry) does not mask a lost message', async () => {
    const ns = await namespace();
    const reader = await instance(ns.user, { maxStalenessMs: 300 });
    const writer = await instance(ns.user);
    await writer.revokeSession('before');
    await until(() => reader.check({ sid: 'before' }) === 'revoked', 'the first revocation on the reader');
    const settled = reader.stats.logPolls.confirmed;
    await until(() => reader.stats.logPolls.confirmed > settled, 'a confirmed poll');
    // Acknowledged, published and heard; then lost with the primary (asynchronous replication).
    await writer.revokeSession('heard-then-lost');
    await until(() => reader.check({ sid: 'heard-then-lost' }) === 'revoked', 'the heard revocation on the reader');
    // The promoted replica: without that entry, its count one lower; then a write whose message is lost
    // (the subscriber stays connected: no 'resubscribed'). One script, so that no poll falls between.
    const { envelope, json } = encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid: 'lost', exp: Date.now() + 60_000 }] }, 64 * 1024);
    await ns.raw.eval(
      `local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 2)
      local info = redis.call('XINFO', 'STREAM', KEYS[1])
      local added
      for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
      redis.call('XDEL', KEYS[1], newest[1][1])
      redis.call('XSETID', KEYS[1], newest[2][1], 'ENTRIESADDED', added - 1)
      return redis.call('XADD', KEYS[1], '*', 'i', ARGV[1], 'e', ARGV[2])`,
      1,
      ns.log,
      envelope.id,
      json,
    );
    const polls = () => reader.stats.logPolls.read + reader.stats.logPolls.confirmed;
    const from = polls();
    await until(() => polls() >= from + 5, 'five more polls');
    expect(reader.check({ sid: 'lost' })).toBe('revoked');
  });
});
