/**
 * The key ring's lock and instances that stop while holding it (found by a CI failure, 2026-12-06:
 * the Fastify logout-redis-down file, Node 24, a plugin start past Fastify's 10 s).
 *
 * - An instance closed (its connection closed right after, as the Fastify plugin does) while a
 *   write-back held the ring's lock left the lock behind: close() did not wait for the ring's work
 *   in flight, whose lock release then met a closed connection.
 * - A start that found no ring and the creation lock held waited for a ring for twice the lock's
 *   TTL without trying the lock again, then failed: a lock whose holder had died, which expires
 *   after one TTL, failed every start in that window (60 s by default).
 *
 * Real redis-server (TLS, ACL users, no persistence).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { Locks } from '../../../client/src/lock.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { COMPARE_AND_SET } from '../../../client/src/store.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { asAdmin, interceptScript, kccOptions, useTestRedis } from '../../support/redis.js';

const KEK = 'orphaned-lock-test-key-encryption-key-0123456789abcdefghijklmn';
const USER = 'orphan-prod';
const server = useTestRedis({ appEnvs: [{ app: 'orphan', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const OPTIONS: KeyRingOptions = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', activationDelayMs: 3_600_000, refreshIntervalMs: 3_600_000, lockTtlMs: 1_500 };

async function connect(): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, USER)));
}

async function clearRing(redis: KccRedis): Promise<void> {
  await asAdmin(server, (admin) => admin.del(redis.key(KEY_RING_KEYS.ring), redis.key(KEY_RING_KEYS.log), redis.key(`lock:${KEY_RING_KEYS.lock}`)));
}

async function lockKeyExists(redis: KccRedis): Promise<boolean> {
  return (await asAdmin(server, (admin) => admin.exists(redis.key(`lock:${KEY_RING_KEYS.lock}`)))) === 1;
}

describe("the key ring's lock when its holder stops", () => {
  it('close() during a write-back under the lock waits for it: the ring is written back and the lock released before the connection closes', async () => {
    const redis = await connect();
    const ring = closeLater(await KeyRing.start(redis, OPTIONS));
    const generation = ring.health().generation;
    // Redis lost the ring: the next sync writes the one held here back, under the lock. Its write is held.
    await clearRing(redis);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let parked!: () => void;
    const writeParked = new Promise<void>((resolve) => (parked = resolve));
    interceptScript(redis, COMPARE_AND_SET, async (keys, _args, send) => {
      if (keys[0] === redis.key(KEY_RING_KEYS.ring)) {
        parked();
        await released;
      }
      return send();
    });
    // What a new instance that finds no ring does: ask running instances to write theirs back (the tail hears it).
    await (ring as unknown as { keeper: { log: { requestCheck(): Promise<void> } } }).keeper.log.requestCheck();
    await writeParked;
    // White-box: close() stops the log's tail first; the version before this fix resolved right after it.
    const admin = await server.admin(); // open before the race below: only its PING is raced
    const tail = (ring as unknown as { tail: { stop(): Promise<void> } }).tail;
    const stopTail = tail.stop.bind(tail);
    let tailStopped: Promise<void> | undefined;
    tail.stop = () => (tailStopped = stopTail());
    const closing = ring.close();
    // A round trip after the tail stopped: a close() that does not wait for the write has resolved by then.
    const first = await Promise.race([closing.then(() => 'closed'), tailStopped!.then(() => admin.ping()).then(() => 'waiting')]);
    admin.disconnect();
    expect(first).toBe('waiting');
    release();
    await closing;
    await redis.close(); // as the Fastify plugin does right after closing the ring
    expect(await lockKeyExists(redis)).toBe(false);
    const check = await connect();
    const again = closeLater(await KeyRing.start(check, OPTIONS));
    expect(again.health().generation).toBe(generation);
  });

  it('a rotation waiting for the lock when the ring closes stops with KccClosedError (it went on trying for twice the TTL, and could take the lock after close)', async () => {
    const redis = await connect();
    const ring = closeLater(await KeyRing.start(redis, { ...OPTIONS, lockTtlMs: 5_000 }));
    const other = await new Locks(await connect()).acquire(KEY_RING_KEYS.lock, 5_000);
    expect(other).toBeDefined();
    const rotating = ring.rotate({ immediate: true }).catch((error: unknown) => error);
    await ring.close();
    expect(await rotating).toMatchObject({ code: 'KCC_CLOSED' });
  });

  it('a start that finds no ring and the creation lock held by an instance that died takes the lock once it expires and creates the ring', async () => {
    const redis = await connect();
    await clearRing(redis);
    // The dead instance's lock, with the TTL an instance sets; nobody releases it.
    const dead = await new Locks(await connect()).acquire(KEY_RING_KEYS.lock, OPTIONS.lockTtlMs!);
    expect(dead).toBeDefined();
    const ring = closeLater(await KeyRing.start(redis, OPTIONS));
    expect(ring.health()).toMatchObject({ status: 'ready', generation: 1 });
    expect(ring.signingKey().kid).toEqual(expect.any(String));
    await untilAsync(async () => !(await lockKeyExists(redis)), 'the new lock released');
  });
});
