/**
 * A Redis writer holding the app's own credentials stores one of the key ring's, the lock's or the
 * heartbeats' keys with another type than the client writes, a ring version that is not a whole
 * number, or a lock that never expires (found by an attack review, 2026-12-04). Before: one command
 * stopped things indefinitely (a running instance reported `ready` while every refresh failed, a new
 * instance could not start, rotations failed or waited for a lock nobody would release, every
 * heartbeat failed). Now the writers and readers replace such keys (what they held is lost, as if
 * they had been deleted) and go on, with a warning. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions, listInstances } from '../../../client/src/index.js';
import { EventLog } from '../../../client/src/event-log.js';
import { INSTANCE_ENTRY_PREFIX, INSTANCES_INDEX_NAME } from '../../../client/src/heartbeat.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { Locks, MAX_LOCK_TTL_MS } from '../../../client/src/lock.js';
import { Store } from '../../../client/src/store.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { storedRing } from '../../support/stored-ring.js';

const KEK = 'wrong-type-test-key-encryption-key-0123456789abcdefghijklmnopqrs';
const APP_ENVS = 40;
const server = useTestRedis({ appEnvs: Array.from({ length: APP_ENVS }, (_, i) => ({ app: `wt${i}`, env: 'prod' })), persistence: 'none' });
let app = 0;
const closeLater = closeAfterEach();
const warnings: string[] = [];
const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };

afterEach(() => {
  warnings.length = 0;
});

/** Running instances notice a change within milliseconds; the lock is short. */
const FAST: KeyRingOptions = { algorithm: 'PS256', refreshIntervalMs: 40, lockTtlMs: 2_000 };
/** An instance that reads the ring only when the ring's log asks it to (or when it rotates). */
const QUIET: KeyRingOptions = { refreshIntervalMs: 3_600_000 };

interface Namespace {
  readonly user: string;
  /** A client authenticated with the app-env's own credentials: all the attacker needs. */
  readonly raw: Redis;
  /** The full key of `name` in the namespace. */
  key(name: string): string;
}

async function namespace(): Promise<Namespace> {
  const user = `wt${app++}-prod`;
  const raw = await connectAs(server, user);
  closeLater(raw);
  return { user, raw, key: (name) => `${user}:{${user}}:${name}` };
}

async function connect(user: string): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, user, { logger, heartbeat: false })));
}

async function instance(user: string, options: KeyRingOptions = {}): Promise<KeyRing> {
  return closeLater(await KeyRing.start(await connect(user), { keyEncryptionKey: KEK, env: {}, ...FAST, ...options }));
}

async function untilStored(ns: Namespace, value: string): Promise<void> {
  await untilAsync(async () => (await storedRing(ns.raw, ns.user))?.value === value, 'Redis holds the good ring again');
}

const warned = (text: string) => warnings.some((w) => w.includes(text));

describe('the key ring stored as another type than a hash', () => {
  it('a running instance replaces it, writes its ring back as over a missing one, and is ready (before: "ready" while every refresh failed with WRONGTYPE)', async () => {
    const ns = await namespace();
    const a = await instance(ns.user);
    const good = (await storedRing(ns.raw, ns.user))!.value;
    const restored = nextEvent<[{ generation: number; replaced: string; carriedOver: string[] }]>(a, 'restored');
    await ns.raw.set(ns.key(KEY_RING_KEYS.ring), 'x');
    expect((await restored)[0]).toEqual({ generation: 1, replaced: 'absent', carriedOver: [] });
    await untilStored(ns, good);
    expect(a.health()).toMatchObject({ status: 'ready', generation: 1 });
    expect(warned('wrong type')).toBe(true);
  });

  it('a new instance starts and signs with the fleet\'s ring, written back by a running one (before: KeyRing.start failed with WRONGTYPE)', async () => {
    const ns = await namespace();
    const a = await instance(ns.user, QUIET);
    await a.rotate({ immediate: true }); // generation 2: the log shows it, so the newcomer waits for it
    const good = (await storedRing(ns.raw, ns.user))!.value;
    await ns.raw.set(ns.key(KEY_RING_KEYS.ring), 'x');
    const b = await instance(ns.user, QUIET);
    expect(b.health()).toMatchObject({ status: 'ready', generation: 2, activeKid: a.signingKey().kid });
    expect(b.jwks()).toEqual(a.jwks());
    expect((await storedRing(ns.raw, ns.user))?.value).toBe(good);
  });

  it('with no instance running, a new instance creates a ring as on an empty namespace', async () => {
    const ns = await namespace();
    await ns.raw.set(ns.key(KEY_RING_KEYS.ring), 'x');
    const a = await instance(ns.user);
    expect(a.health()).toMatchObject({ status: 'ready', generation: 1 });
    expect(await ns.raw.type(ns.key(KEY_RING_KEYS.ring))).toBe('hash');
  });

  it('rotate() on an instance that has not read the ring since works (before: it failed with WRONGTYPE)', async () => {
    const ns = await namespace();
    const a = await instance(ns.user, QUIET);
    const before = a.signingKey().kid;
    await ns.raw.set(ns.key(KEY_RING_KEYS.ring), 'x');
    const result = await a.rotate({ immediate: true });
    expect(result.rotated).toBe(true);
    expect(a.signingKey().kid).not.toBe(before);
    expect(a.health()).toMatchObject({ status: 'ready', generation: 2 });
  });

  it('KeyRing.inspect reports it refused (malformed) and leaves it in place: inspecting changes nothing', async () => {
    const ns = await namespace();
    await ns.raw.set(ns.key(KEY_RING_KEYS.ring), 'x');
    const status = await KeyRing.inspect(await connect(ns.user), { keyEncryptionKey: KEK, env: {} });
    expect(status).toMatchObject({ state: 'refused', reason: 'malformed' });
    expect(await ns.raw.type(ns.key(KEY_RING_KEYS.ring))).toBe('string');
  });
});

describe('the key ring\'s stored version is not a whole number from 0 to 2^53 - 1', () => {
  for (const version of ['abc', '1e300', '9007199254740993', '9007199254740992', '-1', '1.5', '']) {
    it(`version ${JSON.stringify(version)}: a running instance refuses the value and writes its ring back over it (before: TypeError from compareAndSet, the ring never written back)`, async () => {
      const ns = await namespace();
      const a = await instance(ns.user);
      const good = (await storedRing(ns.raw, ns.user))!.value;
      const restored = nextEvent<[{ generation: number; replaced: string }]>(a, 'restored');
      await ns.raw.hset(ns.key(KEY_RING_KEYS.ring), 'version', version, 'value', 'x');
      expect((await restored)[0]).toMatchObject({ generation: 1, replaced: 'malformed' });
      await untilStored(ns, good);
      expect(await ns.raw.hget(ns.key(KEY_RING_KEYS.ring), 'version')).toBe('1'); // written over version 0
      await until(() => a.health().status === 'ready', 'the instance ready again');
      expect((await a.rotate()).rotated).toBe(true);
    });
  }

  it('a version without a value is nothing stored: written over as version 0 (before: every write-back lost its compare-and-set)', async () => {
    const ns = await namespace();
    const a = await instance(ns.user);
    const good = (await storedRing(ns.raw, ns.user))!.value;
    const restored = nextEvent<[{ replaced: string }]>(a, 'restored');
    // In one step: the running instance must not see the key missing in between.
    await ns.raw.eval("redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], 'version', '5')", 1, ns.key(KEY_RING_KEYS.ring));
    expect((await restored)[0]).toMatchObject({ replaced: 'absent' });
    await untilStored(ns, good);
  });

  it('Store: such a version reads as 0 and exactly one compare-and-set over it wins', async () => {
    const ns = await namespace();
    const store = new Store(await connect(ns.user));
    await ns.raw.hset(ns.key('value'), 'version', '9007199254740993', 'value', 'x');
    expect(await store.getVersioned('value')).toEqual({ version: 0, value: 'x' });
    expect(await store.compareAndSet('value', 0, 'first')).toEqual({ ok: true, version: 1 });
    expect(await store.compareAndSet('value', 0, 'second')).toEqual({ ok: false, currentVersion: 1 });
    expect(await store.getVersioned('value')).toEqual({ version: 1, value: 'first' });
  });

  it('Store: a compare-and-set replaces a value and a log of the wrong type (before: WRONGTYPE)', async () => {
    const ns = await namespace();
    const store = new Store(await connect(ns.user));
    await ns.raw.set(ns.key('value'), 'x');
    await ns.raw.set(ns.key('log'), 'x');
    expect(await store.compareAndSet('value', 0, 'v', { event: { log: 'log', fields: ['a', 'b'], maxAgeMs: 60_000 } })).toEqual({ ok: true, version: 1 });
    expect(await ns.raw.type(ns.key('log'))).toBe('stream');
    expect(await store.getVersioned('value')).toEqual({ version: 1, value: 'v' });
    expect(warned(`${ns.key('value')} or ${ns.key('log')}`)).toBe(true);
  });
});

describe('the key ring\'s log', () => {
  it('stored as a string: a new instance starts on the ring in Redis and rotates (before: KeyRing.start failed with WRONGTYPE)', async () => {
    const ns = await namespace();
    const first = await instance(ns.user);
    const kid = first.signingKey().kid;
    await first.close(); // no tail running: the starting instance meets the string
    await ns.raw.set(ns.key(KEY_RING_KEYS.log), 'x');
    const b = await instance(ns.user);
    expect(b.health()).toMatchObject({ status: 'ready', generation: 1, activeKid: kid });
    expect((await b.rotate({ immediate: true })).rotated).toBe(true);
    expect(await ns.raw.type(ns.key(KEY_RING_KEYS.log))).toBe('stream');
  });

  it('stored as a string: a running instance\'s tail replaces it and hears the next rotation (before: its reads failed until another write)', async () => {
    const ns = await namespace();
    const a = await instance(ns.user, QUIET); // hears of changes only through its tail
    await ns.raw.set(ns.key(KEY_RING_KEYS.log), 'x');
    await untilAsync(async () => (await ns.raw.type(ns.key(KEY_RING_KEYS.log))) !== 'string', 'the tail replaced the log');
    const b = await instance(ns.user, QUIET);
    const result = await b.rotate({ immediate: true });
    await until(() => a.health().generation === 2, 'the running instance follows the rotation');
    expect(a.signingKey().kid).toBe(result.kid);
  });

  it('with an entry dated ten days ahead: a write replaces the log, its entries take the server\'s time again', async () => {
    const ns = await namespace();
    const a = await instance(ns.user);
    await ns.raw.xadd(ns.key(KEY_RING_KEYS.log), `${Date.now() + 10 * 86_400_000}-0`, 'x', 'y');
    expect((await a.rotate({ immediate: true })).rotated).toBe(true);
    const [newest] = await ns.raw.xrevrange(ns.key(KEY_RING_KEYS.log), '+', '-', 'COUNT', 1);
    expect(Number(newest![0].split('-')[0])).toBeLessThan(Date.now() + 60_000);
    expect(warned('dated far ahead')).toBe(true);
  });

  it('EventLog: every read and append of a log stored as another type replaces it and goes on as on a deleted log', async () => {
    const ns = await namespace();
    const log = new EventLog(await connect(ns.user), { name: 'events', maxAgeMs: 60_000 });
    const received: unknown[] = [];
    const tail = await log.tail((event) => void received.push(event.data), { from: '0' });
    closeLater({ close: () => tail.stop() });
    await ns.raw.set(ns.key('events'), 'x');
    expect(await log.head()).toMatchObject({ lastId: '0-0' });
    await ns.raw.hset(ns.key('events'), 'x', 'y');
    expect(await log.oldestId()).toBeUndefined();
    await ns.raw.set(ns.key('events'), 'x');
    expect(await log.readAfter('0-0', () => {})).toEqual({ lastId: '0-0', gap: false });
    await ns.raw.set(ns.key('events'), 'x');
    await log.append('test', { n: 1 });
    await until(() => received.length === 1, 'the tail read the entry appended after the log was replaced');
    expect(received).toEqual([{ n: 1 }]);
  });
});

describe('the key ring\'s lock set by no holder', () => {
  for (const [what, attack] of [
    ['without a TTL', (raw: Redis, key: string) => raw.set(key, 'attacker')],
    ['with a TTL longer than any holder sets', (raw: Redis, key: string) => raw.set(key, 'attacker', 'PX', MAX_LOCK_TTL_MS + 60_000)],
    ['as a hash, expiring in a minute', async (raw: Redis, key: string) => raw.eval("redis.call('HSET', KEYS[1], 'x', 'y') return redis.call('PEXPIRE', KEYS[1], 60000)", 1, key)],
  ] as const) {
    it(`${what}: a rotation replaces it and takes the lock (before: rotations waited and failed, for ever)`, async () => {
      const ns = await namespace();
      const a = await instance(ns.user);
      await attack(ns.raw, ns.key(`lock:${KEY_RING_KEYS.lock}`));
      expect((await a.rotate({ immediate: true })).rotated).toBe(true);
      expect(warned(`lock ${ns.key(`lock:${KEY_RING_KEYS.lock}`)}`)).toBe(true);
      expect(await ns.raw.exists(ns.key(`lock:${KEY_RING_KEYS.lock}`))).toBe(0); // released
    });
  }

  it('a lock a holder could have set is left alone', async () => {
    const ns = await namespace();
    const locks = new Locks(await connect(ns.user));
    await ns.raw.set(ns.key('lock:work'), 'someone', 'PX', MAX_LOCK_TTL_MS);
    expect(await locks.acquire('work', 1_000)).toBeUndefined();
    expect(await ns.raw.get(ns.key('lock:work'))).toBe('someone');
    expect(warnings).toEqual([]);
  });

  it('a holder whose lock was replaced by a hash: extend, release and setIfHeld answer "not held" (before: WRONGTYPE)', async () => {
    const ns = await namespace();
    const lock = (await new Locks(await connect(ns.user)).acquire('work', 10_000))!;
    await ns.raw.del(ns.key('lock:work'));
    await ns.raw.hset(ns.key('lock:work'), 'x', 'y');
    expect(await lock.extend(10_000)).toBe(false);
    expect(await lock.setIfHeld('guarded', 'v')).toBe(false);
    expect(await lock.release()).toBe(false);
    expect(await ns.raw.exists(ns.key('guarded'))).toBe(0);
  });

  it('a TTL longer than the bound is misuse: a TypeError naming it', async () => {
    const ns = await namespace();
    await expect(new Locks(await connect(ns.user)).acquire('work', MAX_LOCK_TTL_MS + 1)).rejects.toThrow(`ttlMs: ${MAX_LOCK_TTL_MS + 1} must be a whole number of milliseconds from 1 to ${MAX_LOCK_TTL_MS}`);
  });
});

describe('heartbeat keys stored as another type', () => {
  it('the instances index as a string: the next beat replaces it and the instance is listed again (before: every beat failed)', async () => {
    const ns = await namespace();
    const beating = closeLater(await KccRedis.connect(kccOptions(server, ns.user, { logger, heartbeatIntervalMs: 100 })));
    const reader = await connect(ns.user);
    const listed = async () => {
      try {
        return (await listInstances(reader)).instances.some((i) => i.instanceId === beating.instanceId);
      } catch {
        return false; // WRONGTYPE until a beat replaces the index
      }
    };
    await untilAsync(listed, 'the instance listed');
    await ns.raw.set(ns.key(INSTANCES_INDEX_NAME), 'x');
    await untilAsync(async () => (await ns.raw.type(ns.key(INSTANCES_INDEX_NAME))) === 'zset', 'a beat replaced the index');
    await untilAsync(listed, 'the instance listed again');
    expect(warned('heartbeat keys')).toBe(true);
  });

  it('the instance\'s entry as a hash: the next beat writes it again', async () => {
    const ns = await namespace();
    const beating = closeLater(await KccRedis.connect(kccOptions(server, ns.user, { logger, heartbeatIntervalMs: 100 })));
    const entry = ns.key(`${INSTANCE_ENTRY_PREFIX}${beating.instanceId}`);
    await untilAsync(async () => (await ns.raw.type(entry)) === 'string', 'the first beat');
    await ns.raw.eval("redis.call('DEL', KEYS[1]) redis.call('HSET', KEYS[1], 'x', 'y')", 1, entry);
    await untilAsync(async () => (await ns.raw.type(entry)) === 'string', 'a beat wrote the entry again');
  });
});
