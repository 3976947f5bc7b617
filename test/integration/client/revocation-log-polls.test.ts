/**
 * The event-log poll reads the log only when an entry may be missing: it compares the log's count of
 * appended entries (`XINFO STREAM`) with the messages heard since the last poll, and checks that the
 * newest entry was heard. An entry that came without its message, a replayed message standing in for
 * one, a message heard while the instance started, a count that went back, make it read; a transient
 * error reply does not switch the check off. Real redis-server, TLS, the stack's ACL users; the
 * "attacker" holds the app-env's own credentials. The races and faults were found by an independent
 * review; each of their tests failed before its fix. The only interference is a wrapper around the
 * reader's command connection that holds or fails one read of the head (the script that runs XINFO:
 * a reply delayed in transit, an error).
 */
import type { Redis } from 'ioredis';
import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations, type RevocationOptions } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { LOCAL_ADMIN_USER } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { LOG_HEAD } from '../../../client/src/event-log.js';
import { LUA_LOSE_NEWEST_ENTRY, commandCalls, connectAs, interceptScript, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 10 }, (_, i) => ({ app: `polls${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();

interface Namespace {
  readonly user: string;
  readonly log: string;
  readonly channel: string;
  /** A client authenticated as the app-env's own user. */
  readonly raw: Redis;
}

async function namespace(): Promise<Namespace> {
  const user = `polls${ns++}-prod`;
  const raw = closeLater(await connectAs(server, user));
  return { user, raw, log: `${user}:{${user}}:${REVOCATION_KEYS.log}`, channel: `${user}:${REVOCATION_KEYS.channel}` };
}

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user, { reconnectMaxDelayMs: 100 }), ['subscriber']));
}

async function instance(user: string, options: RevocationOptions = {}): Promise<Revocations> {
  return closeLater(await Revocations.start(await connect(user), options));
}

/** An instance that polls every 100 ms, and a writer. */
async function pair(ns: Namespace): Promise<{ reader: Revocations; writer: Revocations }> {
  const reader = await instance(ns.user, { maxStalenessMs: 300 });
  return { reader, writer: await instance(ns.user) };
}

/** Every poll of `r` so far, confirmed or read. */
const polls = (r: Revocations) => r.stats.logPolls.confirmed + r.stats.logPolls.read;

/** Resolves after `count` more polls of `r`, whatever their outcome. */
async function morePolls(r: Revocations, count: number): Promise<void> {
  const from = polls(r);
  await until(() => polls(r) >= from + count, `${count} more log polls`);
}

/** A pair whose reader has heard `sid` (published by the writer) and confirmed the log since. */
async function settledPair(ns: Namespace, sid: string): Promise<{ reader: Revocations; writer: Revocations }> {
  const { reader, writer } = await pair(ns);
  await writer.revokeSession(sid);
  await until(() => reader.check({ sid }) === 'revoked', `${sid} on the reader`);
  await confirmedPolls(reader, 1);
  return { reader, writer };
}

/** Resolves after `count` more polls of `r` that confirmed the log from its head alone. */
async function confirmedPolls(r: Revocations, count: number): Promise<void> {
  const from = r.stats.logPolls.confirmed;
  await until(() => r.stats.logPolls.confirmed >= from + count, `${count} confirmed log polls`);
}

/** A log entry revoking one session, as a writer appends it. */
function sessionEntry(sid: string): { envelope: { id: string }; json: string } {
  return encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 60_000 }] }, 64 * 1024);
}

/** Appends a log entry without publishing its message (a message lost on the way). */
async function appendUnpublished(ns: Namespace, sid: string): Promise<void> {
  const { envelope, json } = sessionEntry(sid);
  await ns.raw.xadd(ns.log, '*', 'i', envelope.id, 'e', json);
}

type XinfoHook = (send: () => Promise<unknown>) => Promise<unknown>;

/** Routes the next read of the log's head (XINFO, in the script LOG_HEAD) sent on `redis`'s command connection through `hook` (once). */
function interceptNextXinfo(redis: KccRedis, hook: XinfoHook): void {
  let armed = true;
  interceptScript(redis, LOG_HEAD, (_keys, _args, send) => {
    if (!armed) return send();
    armed = false;
    return hook(send);
  });
}

describe('event-log polls', () => {
  it('a poll that finds every entry since the last one came over pub/sub reads none of them', async () => {
    const ns = await namespace();
    const { reader, writer } = await pair(ns);
    for (let i = 0; i < 20; i++) await writer.revokeSession(`heard-${i}`);
    await until(() => reader.stats.revokedSessions === 20, 'the 20 revocations on the reader');
    await confirmedPolls(reader, 2);
    const reads = reader.stats.logPolls.read;
    const logReads = await commandCalls(ns.raw, 'xrange');
    await confirmedPolls(reader, 5);
    expect(reader.stats.logPolls.read).toBe(reads);
    // Nobody read an entry meanwhile: the writer's polls were confirmed too.
    expect(await commandCalls(ns.raw, 'xrange')).toBe(logReads);
    expect(reader.stats.applied).toBe(20);
  });

  it("an instance's own revocations count as heard: a writer's polls confirm too", async () => {
    const ns = await namespace();
    const writer = await instance(ns.user, { maxStalenessMs: 300 });
    const reads = writer.stats.logPolls.read;
    // Five times: a revocation, then two polls (the second began after the write resolved). Were its
    // own message not counted as heard, the log's count would be one ahead and every round would read.
    for (let round = 0; round < 5; round++) {
      await writer.revokeSession(`own-${round}`);
      await morePolls(writer, 2);
    }
    expect(writer.stats.logPolls.read - reads).toBeLessThan(5);
  });

  it('an entry appended without its message (a message lost) is read by the next poll', async () => {
    const ns = await namespace();
    const { reader } = await settledPair(ns, 'heard');
    const reads = reader.stats.logPolls.read;
    await appendUnpublished(ns, 'unpublished');
    await until(() => reader.check({ sid: 'unpublished' }) === 'revoked', 'the unpublished revocation on the reader');
    expect(reader.stats.logPolls.read).toBeGreaterThan(reads);
  });

  it('a replayed message does not stand in for an entry that came without one', async () => {
    const ns = await namespace();
    const { reader } = await settledPair(ns, 'first');
    // The attacker copies the first message from the log, appends a second entry without publishing
    // it, and publishes the copy: one message heard, one entry appended.
    const [[, fields]] = (await ns.raw.xrange(ns.log, '-', '+', 'COUNT', 1)) as [[string, string[]]];
    const copy = fields[fields.indexOf('e') + 1]!;
    await appendUnpublished(ns, 'second');
    await ns.raw.publish(ns.channel, copy);
    await until(() => reader.check({ sid: 'second' }) === 'revoked', 'the second revocation on the reader');
  });

  it('where the server refuses XINFO (an older engine, another access string), every poll reads the log and nothing is missed', async () => {
    const ns = await namespace();
    const admin = closeLater(await connectAs(server, LOCAL_ADMIN_USER, { password: server.adminPassword }));
    await admin.call('ACL', 'SETUSER', ns.user, '-xinfo');
    const { reader, writer } = await pair(ns);
    await writer.revokeSession('heard');
    await until(() => reader.check({ sid: 'heard' }) === 'revoked', 'the published revocation on the reader');
    await appendUnpublished(ns, 'unpublished');
    await until(() => reader.check({ sid: 'unpublished' }) === 'revoked', 'the unpublished revocation on the reader');
    const reads = reader.stats.logPolls.read;
    await until(() => reader.stats.logPolls.read >= reads + 3, 'three more polls');
    expect(reader.stats.logPolls.confirmed).toBe(0);
  });
});

describe('event-log polls: races and faults', () => {
  it.each([
    ['the newest', false],
    ['followed by a heard one', true],
  ])('a message heard while start() reads the head is not counted again by the first poll: a message lost after it (%s) is read', async (_, heardAfter) => {
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
      if (heardAfter) await writer.revokeSession('after');
      return reply;
    });
    const reader = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    expect(reader.check({ sid: 'during-start' })).toBe('revoked');
    await morePolls(reader, 5);
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
    await morePolls(reader, 10);
    // Nothing is missing (no loss, no write): the polls after the failed one should confirm again.
    expect(reader.stats.logPolls.confirmed).toBeGreaterThan(confirmed);
  });

  it('a count that goes back (a failover to a replica that never got a heard entry) does not mask a lost message', async () => {
    const ns = await namespace();
    const { reader, writer } = await settledPair(ns, 'before');
    // Acknowledged, published and heard; then lost with the primary (asynchronous replication).
    await writer.revokeSession('heard-then-lost');
    await until(() => reader.check({ sid: 'heard-then-lost' }) === 'revoked', 'the heard revocation on the reader');
    // The promoted replica: without that entry, its count one lower; then a write whose message is lost
    // (the subscriber stays connected: no 'resubscribed'). One script, so that no poll falls between.
    const { envelope, json } = sessionEntry('lost');
    await ns.raw.eval(
      `${LUA_LOSE_NEWEST_ENTRY}
      return redis.call('XADD', KEYS[1], '*', 'i', ARGV[1], 'e', ARGV[2])`,
      1,
      ns.log,
      envelope.id,
      json,
    );
    await morePolls(reader, 5);
    expect(reader.check({ sid: 'lost' })).toBe('revoked');
  });
});
