/**
 * A command whose reply is lost runs twice: ioredis sends what was in flight again on the next
 * connection, and Redis had already run the first. That happens whenever a connection drops between
 * the server's run and its reply (a failover, a network fault), and whenever `socketTimeoutMs` gives
 * a connection up while its reply is on the way (this process stalled for longer: Node runs the
 * expired timer before it reads the socket). The client's writes that answer a question ("was this
 * the first use?", "did I take the lock?", "did my version win?") must answer it for the call, not
 * for its second run.
 *
 * Found by an attack review (2026-12-04) of the socket timeout: after a stall of 3.5 s each of these
 * answered wrongly: a logout token's first use counted as a replay (the back-channel logout answered
 * 400 and counted a replay attack), the lock was held by the caller's own orphaned token for its
 * whole TTL while the caller was told it was taken, a compare-and-set reported a conflict with its
 * own write, and a Bus message was delivered twice.
 *
 * Here the process stalls (a busy loop) right after sending, for longer than a short socketTimeoutMs.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KccRedis, RedisReplayGuard } from '@kcc-redis/client';
import { Bus, EventLog, Locks, Store } from '@kcc-redis/client/primitives';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { commandCalls, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'resend', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'resend-prod';
const SOCKET_TIMEOUT_MS = 200;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Blocks this process for `ms` once the current turn's I/O is done: the reply arrives meanwhile, unread, and the socket timeout expires first. */
function stallAfterSending(ms: number): void {
  setImmediate(() => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // busy: nothing else runs
    }
  });
}

/** Runs `op` with the process stalled just after it sent its command; fails unless the connection was given up and the command sent again. */
async function withReplyLost<T>(redis: KccRedis, op: () => Promise<T>): Promise<T> {
  const before = redis.stats.socketTimeouts;
  const pending = op();
  stallAfterSending(SOCKET_TIMEOUT_MS * 3);
  const result = await pending;
  expect(redis.stats.socketTimeouts).toBeGreaterThan(before);
  return result;
}

/** How often the server ran SET and EVALSHA so far (INFO commandstats, as the admin): a command sent again runs twice. */
async function callCounts(): Promise<{ set: number; evalsha: number }> {
  const admin = await server.admin();
  try {
    return { set: await commandCalls(admin, 'set'), evalsha: await commandCalls(admin, 'evalsha') };
  } finally {
    await admin.quit();
  }
}

async function connect(instanceId: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId, socketTimeoutMs: SOCKET_TIMEOUT_MS, heartbeat: false, logger: quiet })));
}

/** A Store on a new connection whose delete script the server has loaded: the stall hits the real call. */
async function storeWithDeleteLoaded(instanceId: string): Promise<{ redis: KccRedis; store: Store }> {
  const redis = await connect(instanceId);
  const store = new Store(redis);
  await store.set('warm-up', 'x');
  await store.delete('warm-up');
  return { redis, store };
}

describe('a command sent again after its reply was lost answers for the call, not for its second run', () => {
  it('replay guard: the first use of a logout token is still its first use (not a replay); a real replay is still refused', async () => {
    const redis = await connect('guard');
    const guard = new RedisReplayGuard(redis);
    expect(await guard.firstUse('warm-up', 60_000)).toBe(true); // the script is loaded: the stall hits the real call
    expect(await withReplyLost(redis, () => guard.firstUse('jti-1', 60_000))).toBe(true);
    expect(guard.replaysRefused).toBe(0);
    expect(await guard.firstUse('jti-1', 60_000)).toBe(false);
    expect(guard.replaysRefused).toBe(1);
  });

  it('replay guard on a server before Redis 7.0 (SET refuses NX with GET: a script instead): the same answers', async () => {
    const redis = await connect('guard-script');
    const guard = new RedisReplayGuard(redis);
    Reflect.set(guard, 'withScript', true); // what the guard switches to on such a server's syntax error
    expect(await guard.firstUse('warm-up-script', 60_000)).toBe(true);
    expect(await withReplyLost(redis, () => guard.firstUse('jti-2', 60_000))).toBe(true);
    expect(await guard.firstUse('jti-2', 60_000)).toBe(false);
    expect(guard.replaysRefused).toBe(1);
  });

  it('replay guard: a key of another type at a token\'s id (written by no client) answers "replay" on both paths, as a plain SET NX did, not an error', async () => {
    const redis = await connect('guard-wrong-type');
    const admin = await server.admin();
    try {
      for (const withScript of [false, true]) {
        const guard = new RedisReplayGuard(redis);
        Reflect.set(guard, 'withScript', withScript);
        const id = `planted-${withScript}`;
        const key = redis.key(`${REVOCATION_KEYS.replay}${createHash('sha256').update(id).digest('base64url')}`);
        await admin.rpush(key, 'x');
        expect(await guard.firstUse(id, 60_000)).toBe(false);
        expect(guard.replaysRefused).toBe(1);
      }
    } finally {
      await admin.quit();
    }
  });

  it('lock: the acquisition has the lock (not held by its own orphaned token); another owner still cannot take it', async () => {
    const redis = await connect('lock');
    const locks = new Locks(redis);
    await (await locks.acquire('warm-up', 5_000))!.release();
    const lock = await withReplyLost(redis, () => locks.acquire('rotation', 30_000));
    expect(lock).toBeDefined();
    expect(await locks.acquire('rotation', 30_000)).toBeUndefined();
    expect(await lock!.release()).toBe(true);
    expect(await locks.acquire('rotation', 30_000)).toBeDefined();
  });

  it('lock release: it still answers true (it released the lock); the same handle releasing again later, once the lock is another\'s, still gets false', async () => {
    const redis = await connect('lock-release');
    const locks = new Locks(redis);
    await (await locks.acquire('warm-up', 5_000))!.release();
    const lock = (await locks.acquire('deploy', 30_000))!;
    expect(await withReplyLost(redis, () => lock.release())).toBe(true);
    const next = await locks.acquire('deploy', 30_000);
    expect(next).toBeDefined();
    expect(await lock.release()).toBe(false); // a later call of the old handle: the lock is another's now
    expect(await next!.release()).toBe(true);
  });

  it('lock with a fixed owner (the keycloak-connector providers): the acquisition has the lock; a second acquisition by the same owner is still "not taken"', async () => {
    const redis = await connect('lock-owner');
    const locks = new Locks(redis, { owner: 'provider-1' });
    await (await locks.acquire('warm-up', 5_000))!.release();
    const lock = await withReplyLost(redis, () => locks.acquire('session-sync', 30_000));
    expect(lock).toBeDefined();
    expect(await locks.acquire('session-sync', 30_000)).toBeUndefined();
    expect(await new Locks(redis, { owner: 'provider-2' }).acquire('session-sync', 30_000)).toBeUndefined();
    expect(await locks.held('session-sync').release()).toBe(true);
    expect(await locks.acquire('session-sync', 30_000)).toBeDefined();
  });

  it('compare-and-set: the write wins its version once (no conflict with itself, one event appended); a stale writer still loses', async () => {
    const redis = await connect('cas');
    const store = new Store(redis);
    const log = new EventLog<{ n: number }>(redis, { name: 'cas-events', maxAgeMs: 60_000 });
    await store.compareAndSet('warm-up', 0, 'x', { event: new EventLog(redis, { name: 'warm-up-events', maxAgeMs: 60_000 }).eventFor('changed', { n: 0 }) });
    const result = await withReplyLost(redis, () => store.compareAndSet('ring', 0, 'first', { event: log.eventFor('changed', { n: 1 }) }));
    expect(result).toEqual({ ok: true, version: 1 });
    expect(await store.getVersioned('ring')).toEqual({ version: 1, value: 'first' });
    expect(await store.compareAndSet('ring', 0, 'stale')).toEqual({ ok: false, currentVersion: 1 });
    expect(await store.compareAndSet('ring', 1, 'second')).toEqual({ ok: true, version: 2 });
    // One event for the one write, though its script reached the server twice.
    const versions = (await redis.run((r) => r.xrange(log.key, '-', '+'))).map(([, fields]) => fields[fields.indexOf('version') + 1]);
    expect(versions).toEqual(['1']);
  });

  it('setIfAbsent: the write is still this call\'s (true, not "someone else was first"); another call still gets false', async () => {
    const redis = await connect('set-if-absent');
    const store = new Store(redis);
    await store.setIfAbsent('warm-up', 'x');
    expect(await withReplyLost(redis, () => store.setIfAbsent('job:1', 'worker-a', { ttlMs: 60_000 }))).toBe(true);
    expect(await store.get('job:1')).toBe('worker-a');
    expect(await store.setIfAbsent('job:1', 'worker-a')).toBe(false);
    expect(await store.setIfAbsent('job:1', 'worker-b')).toBe(false);
  });

  it('Store.delete: still true (this call deleted the key), not "there was nothing to delete"; a later delete gets false', async () => {
    const { redis, store } = await storeWithDeleteLoaded('delete');
    await store.set('otp:1', 'code');
    expect(await withReplyLost(redis, () => store.delete('otp:1'))).toBe(true);
    expect(await store.get('otp:1')).toBeNull();
    expect(await store.delete('otp:1')).toBe(false);
  });

  it('Locks.forceRelease: still true (this call released the lock); the lock can be taken again', async () => {
    const redis = await connect('force-release');
    const locks = new Locks(redis);
    await (await locks.acquire('warm-up', 5_000))!.release();
    await locks.forceRelease('warm-up');
    expect(await locks.acquire('migrate', 30_000)).toBeDefined();
    expect(await withReplyLost(redis, () => locks.forceRelease('migrate'))).toBe(true);
    expect(await locks.forceRelease('migrate')).toBe(false);
    expect(await locks.acquire('migrate', 30_000)).toBeDefined();
  });

  it('Store.set then Store.delete of one key in flight together, both sent again: the key ends deleted, as the caller ordered, and the delete answers true', async () => {
    const { redis, store } = await storeWithDeleteLoaded('set-then-delete');
    await store.set('session:1', 'before');
    const before = await callCounts();
    const written = store.set('session:1', 'cached');
    const deleted = store.delete('session:1');
    stallAfterSending(SOCKET_TIMEOUT_MS * 3);
    await written;
    expect(await deleted).toBe(true);
    const after = await callCounts();
    // Both were sent again: the delete's script ran twice, and so did the set, the second time after the
    // delete's first run (commandstats also count commands run by scripts: each delete run that deleted wrote its own key).
    expect(after.evalsha - before.evalsha).toBeGreaterThanOrEqual(2); // more when the first reconnect's reply timed out too
    expect(after.set - before.set).toBeGreaterThanOrEqual(4);
    expect(await store.get('session:1')).toBeNull();
  });

  it('an acquisition then its release in flight together, both sent again: the lock ends released, and both answer for the call (a fixed owner, and a force-release)', async () => {
    const redis = await connect('acquire-then-release');
    const locks = new Locks(redis, { owner: 'provider-9' });
    await (await locks.acquire('warm-up', 5_000))!.release();
    await locks.forceRelease('warm-up');
    const releases = { release: (name: string) => locks.held(name).release(), forceRelease: (name: string) => locks.forceRelease(name) };
    for (const [way, release] of Object.entries(releases)) {
      const name = `cache-refresh-${way}`;
      const before = await callCounts();
      const taken = locks.acquire(name, 30_000);
      const released = release(name);
      stallAfterSending(SOCKET_TIMEOUT_MS * 3);
      expect(await taken).toBeDefined();
      expect(await released).toBe(true);
      expect((await callCounts()).evalsha - before.evalsha).toBeGreaterThanOrEqual(4); // each ran at least twice
      expect(await new Locks(redis, { owner: 'provider-10' }).acquire(name, 30_000)).toBeDefined();
    }
  });

  it('Bus: a message published once is delivered once, even when its PUBLISH was sent twice', async () => {
    const publisher = await connect('publisher');
    const listener = await connect('listener');
    const received: number[] = [];
    const stop = await new Bus<{ n: number }>(listener, { channel: 'hints' }).subscribe((message) => void received.push(message.data.n));
    try {
      const bus = new Bus<{ n: number }>(publisher, { channel: 'hints' });
      await bus.publish('hint', { n: 0 });
      await withReplyLost(publisher, () => bus.publish('hint', { n: 1 }));
      await bus.publish('hint', { n: 2 });
      await until(() => received.includes(2), 'the message after');
      expect(received).toEqual([0, 1, 2]);
    } finally {
      await stop();
    }
  });
});
