/**
 * Locks (client/src/lock.ts): owner-token leases. What one owner's handle can do while it holds a
 * lock and after, and that the nonce kept beside each lock (for an acquisition run twice after a
 * lost reply: resent-commands.test.ts) sits in a key no lock's or Store's name reaches. Locks of
 * another type or without a TTL: shared-keys-wrong-type.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '@kcc-redis/client';
import { Locks, Store } from '@kcc-redis/client/primitives';
import { resendWindowMs } from '../../../client/src/connection.js';
import { namespacedSideKey } from '../../../client/src/contract/naming.js';
import { MAX_LOCK_TTL_MS, RELEASE } from '../../../client/src/lock.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, sideKeys, useTestRedis } from '../../support/redis.js';

const USER = 'locks-prod';
const server = useTestRedis({ appEnvs: [{ app: 'locks', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

const connect = async () => closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false })));

describe('Locks', () => {
  it('one holder at a time; extend, release and setIfHeld work only for the holder, and only while it holds the lock', async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    const store = new Store(redis);
    const first = await locks.acquire('rotation', 30_000);
    expect(first).toBeDefined();
    expect(await locks.acquire('rotation', 30_000)).toBeUndefined();
    expect(await first!.extend(60_000)).toBe(true);
    expect(await first!.setIfHeld('ring', 'by-first')).toBe(true);
    expect(await first!.release()).toBe(true);
    expect(await first!.release()).toBe(false);
    expect(await first!.extend(60_000)).toBe(false);
    expect(await first!.setIfHeld('ring', 'late')).toBe(false);
    expect(await store.get('ring')).toBe('by-first');
    const second = await locks.acquire('rotation', 30_000);
    expect(second).toBeDefined();
    expect(second!.token).not.toBe(first!.token);
  });

  it("taking lock x leaves lock 'x:acquired-by' (another lock, perhaps named from input) alone: the nonce beside x is in a key no lock name reaches", async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    const other = await locks.acquire('job:acquired-by', 30_000);
    expect(other).toBeDefined();
    expect(await locks.acquire('job', 30_000)).toBeDefined();
    expect(await other!.extend(30_000)).toBe(true);
    expect(await locks.acquire('job:acquired-by', 30_000)).toBeUndefined();
    expect(await other!.release()).toBe(true);
    // Nor a Store value of that name.
    const store = new Store(redis);
    await store.set('lock:task:acquired-by', 'mine');
    expect(await locks.acquire('task', 30_000)).toBeDefined();
    expect(await store.get('lock:task:acquired-by')).toBe('mine');
  });

  it("releasing lock x leaves lock 'x:released-by' alone; the release's nonce is in a key of its own no lock name reaches, and expires", async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    const other = (await locks.acquire('batch:released-by', 30_000))!;
    const before = await sideKeys(server, redis.keyPrefix, 'released-by');
    expect(await (await locks.acquire('batch', 30_000))!.release()).toBe(true);
    expect(await other.extend(30_000)).toBe(true);
    expect(await locks.acquire('batch:released-by', 30_000)).toBeUndefined();
    const added = (await sideKeys(server, redis.keyPrefix, 'released-by')).filter((key) => !before.includes(key));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/!released-by:[0-9a-f-]{36}$/);
    const nonceTtl = await redis.run((r) => r.pttl(added[0]!));
    expect(nonceTtl).toBeGreaterThan(0);
    expect(nonceTtl).toBeLessThanOrEqual(resendWindowMs(redis.config));
  });

  it("a release's second run (its reply lost) answers for its first run; it releases again only the acquisition it released, sent again too, never one taken meanwhile", async () => {
    const redis = await connect();
    const locks = new Locks(redis, { owner: 'provider-1' });
    expect(await locks.acquire('session-sync', 30_000)).toBeDefined();
    const lockKey = redis.key('lock:session-sync');
    const acquisitionKey = namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:session-sync');
    const released = await redis.run((r) => r.get(acquisitionKey));
    const keys = [lockKey, namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-this-release'), acquisitionKey];
    // The release script's runs with one key of its own, as ioredis sends it again after a lost reply.
    const release = () => redis.script<number>(RELEASE, keys, ['provider-1', 60_000, '']);
    expect(await release()).toBe(1);
    expect(await locks.acquire('session-sync', 30_000)).toBeDefined(); // the same fixed owner takes it again: a new acquisition
    expect(await release()).toBe(1);
    expect(await redis.run((r) => r.get(lockKey))).toBe('provider-1'); // left taken
    expect(await locks.held('session-sync').release()).toBe(true);
    expect(await release()).toBe(1); // nothing held: the answer is still the first run's
    // The released acquisition sent again (ioredis resends an acquisition sent just before the release): its token and its nonce.
    await redis.run((r) => r.set(lockKey, 'provider-1', 'PX', 30_000));
    await redis.run((r) => r.set(acquisitionKey, released!, 'PX', 30_000));
    expect(await release()).toBe(1);
    expect(await redis.run((r) => r.exists(lockKey))).toBe(0); // released again
    // Another owner's lock is never released by it (its token guards it), nor, forced, anything written at the lock's key meanwhile.
    expect(await new Locks(redis, { owner: 'provider-2' }).acquire('session-sync', 30_000)).toBeDefined();
    expect(await release()).toBe(1);
    expect(await redis.run((r) => r.get(lockKey))).toBe('provider-2');
    await redis.run((r) => r.del(lockKey));
    expect(await locks.acquire('session-sync', 30_000)).toBeDefined();
    const forced = [lockKey, namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-a-force-release'), acquisitionKey];
    const forceRelease = () => redis.script<number>(RELEASE, forced, ['', 60_000, 'force']);
    expect(await forceRelease()).toBe(1);
    expect(await redis.run((r) => r.exists(acquisitionKey))).toBe(0); // the nonce goes with the lock
    await new Store(redis).set('lock:session-sync', 'a value of the same key'); // as keycloak-connector's store and lock keys are
    expect(await forceRelease()).toBe(1);
    expect(await redis.run((r) => r.get(lockKey))).toBe('a value of the same key');
    // A planted nonce is no outcome: a release that released still answers true when sent again.
    expect(await locks.acquire('planted', 30_000)).toBeDefined();
    const plantedKey = namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:planted');
    await redis.run((r) => r.set(plantedKey, '-', 'PX', 30_000));
    const planted = [redis.key('lock:planted'), namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-a-planted-release'), plantedKey];
    expect(await redis.script<number>(RELEASE, planted, ['provider-1', 60_000, ''])).toBe(1);
    expect(await redis.script<number>(RELEASE, planted, ['provider-1', 60_000, ''])).toBe(1);
  });

  it("a force-release's second run (its reply lost) answers for its first run and leaves a lock taken meanwhile; a first run that found nothing answers false", async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    expect(await locks.acquire('invalidate', 30_000)).toBeDefined();
    const acquisitionKey = namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:invalidate');
    const keys = [redis.key('lock:invalidate'), namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-this-force-release'), acquisitionKey];
    const forceRelease = () => redis.script<number>(RELEASE, keys, ['', 60_000, 'force']);
    expect(await forceRelease()).toBe(1);
    const newest = (await locks.acquire('invalidate', 30_000))!;
    expect(await forceRelease()).toBe(1);
    expect(await newest.extend(30_000)).toBe(true); // still the newest holder's
    expect(await locks.forceRelease('invalidate')).toBe(true);
    expect(await locks.forceRelease('invalidate')).toBe(false);
    // A first run that found the lock free answers false also when sent again after another owner took it, and leaves it taken.
    const none = [redis.key('lock:later'), namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-another'), namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:later')];
    expect(await redis.script<number>(RELEASE, none, ['', 60_000, 'force'])).toBe(0);
    const later = (await locks.acquire('later', 30_000))!;
    expect(await redis.script<number>(RELEASE, none, ['', 60_000, 'force'])).toBe(0);
    expect(await later.extend(30_000)).toBe(true);
  });

  it("a release's second run leaves a lock whose acquisition it cannot tell apart (no nonce: an earlier release's extend, or evicted)", async () => {
    const redis = await connect();
    const locks = new Locks(redis, { owner: 'provider-3' });
    const lockKey = redis.key('lock:no-nonce');
    const acquisitionKey = namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:no-nonce');
    for (const mode of ['', 'force']) {
      expect(await locks.acquire('no-nonce', 30_000)).toBeDefined();
      await redis.run((r) => r.del(acquisitionKey));
      const keys = [lockKey, namespacedSideKey(redis.keyPrefix, 'released-by', `nonce-of-release-${mode}`), acquisitionKey];
      const release = () => redis.script<number>(RELEASE, keys, ['provider-3', 60_000, mode]);
      expect(await release()).toBe(1);
      expect(await locks.acquire('no-nonce', 30_000)).toBeDefined(); // taken again meanwhile, its nonce then lost too
      await redis.run((r) => r.del(acquisitionKey));
      expect(await release()).toBe(1);
      expect(await redis.run((r) => r.get(lockKey))).toBe('provider-3');
      expect(await locks.held('no-nonce').release()).toBe(true);
    }
  });

  it("a token release whose first run found the lock not held answers false when sent again, and leaves the same fixed owner's later acquisition", async () => {
    const redis = await connect();
    const locks = new Locks(redis, { owner: 'provider-4' });
    const keys = [redis.key('lock:shared-owner'), namespacedSideKey(redis.keyPrefix, 'released-by', 'nonce-of-early-release'), namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:shared-owner')];
    const release = () => redis.script<number>(RELEASE, keys, ['provider-4', 60_000, '']);
    expect(await release()).toBe(0);
    expect(await locks.acquire('shared-owner', 30_000)).toBeDefined(); // e.g. another instance with the same fixed owner
    expect(await release()).toBe(0);
    expect(await redis.run((r) => r.get(keys[0]!))).toBe('provider-4');
  });

  it('a try given the nonce of an earlier try of the same acquisition finds the lock its own, for its TTL from then; with another nonce, the same fixed owner does not', async () => {
    const redis = await connect();
    const locks = new Locks(redis, { owner: 'one-owner' });
    const nonce = 'one-acquisition';
    expect(await locks.acquire('refresh', 1_000, { nonce })).toBeDefined();
    const again = await locks.acquire('refresh', 60_000, { nonce });
    expect(again?.token).toBe('one-owner');
    expect(await redis.run((r) => r.pttl(redis.key('lock:refresh')))).toBeGreaterThan(1_000);
    expect(await locks.acquire('refresh', 60_000, { nonce: 'another-acquisition' })).toBeUndefined();
    expect(await locks.acquire('refresh', 60_000)).toBeUndefined();
    expect(await again!.release()).toBe(true);
    for (const bad of ['', 42, 'n'.repeat(201)]) {
      await expect(locks.acquire('refresh', 60_000, { nonce: bad as string })).rejects.toThrow(/^nonce: .* must be a string of 1 to 200 characters/);
    }
    expect(await redis.run((r) => r.exists(redis.key('lock:refresh')))).toBe(0);
  });

  it('without a fixed owner too: a try with the nonce of an earlier one has the lock, and its handle releases it (an attack review: a new token per call made the nonce useless)', async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    const first = await locks.acquire('job-by-nonce', 60_000, { nonce: 'try-once' });
    const again = await locks.acquire('job-by-nonce', 60_000, { nonce: 'try-once' });
    expect(first).toBeDefined();
    expect(again?.token).toBe(first!.token);
    expect(await locks.acquire('job-by-nonce', 60_000)).toBeUndefined();
    expect(await again!.release()).toBe(true);
    expect(await redis.run((r) => r.exists(redis.key('lock:job-by-nonce')))).toBe(0);
  });

  it("extend keeps the acquisition's nonce as long as the lock (a release sent again compares it)", async () => {
    const redis = await connect();
    const lock = (await new Locks(redis).acquire('long-job', 2_000))!;
    expect(await lock.extend(120_000)).toBe(true);
    const pttl = await redis.run((r) => r.pttl(namespacedSideKey(redis.keyPrefix, 'acquired-by', 'lock:long-job')));
    expect(pttl).toBeGreaterThan(60_000);
    expect(pttl).toBeLessThanOrEqual(120_000);
  });

  it(`a TTL outside 1 ms to ${MAX_LOCK_TTL_MS} ms is refused by name, and nothing is taken`, async () => {
    const redis = await connect();
    const locks = new Locks(redis);
    await expect(locks.acquire('bounded', 0)).rejects.toThrow(/ttlMs/);
    await expect(locks.acquire('bounded', MAX_LOCK_TTL_MS + 1)).rejects.toThrow(/ttlMs/);
    expect(await redis.run((r) => r.exists(redis.key('lock:bounded')))).toBe(0);
    expect(await locks.acquire('bounded', 1_000)).toBeDefined();
  });
});
