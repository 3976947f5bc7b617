/**
 * Store's plain values (client/src/store.ts): setIfAbsent's answers, the TTLs it sets, and what a
 * Redis writer with the app's credentials can do to the nonce kept beside a value. (A reply lost and
 * the call run twice: resent-commands.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '@kcc-redis/client';
import { Store } from '@kcc-redis/client/primitives';
import { DELETE } from '../../../client/src/store.js';
import { resendWindowMs } from '../../../client/src/connection.js';
import { namespacedSideKey } from '../../../client/src/contract/naming.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, sideKeys, useTestRedis } from '../../support/redis.js';

const USER = 'store-prod';
const server = useTestRedis({ appEnvs: [{ app: 'store', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

async function connect(): Promise<{ redis: KccRedis; store: Store }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false })));
  return { redis, store: new Store(redis) };
}

describe('Store.setIfAbsent', () => {
  it('true for the call that wrote the value, false for every later one, whatever its value; the value is the first call\'s', async () => {
    const { store } = await connect();
    expect(await store.setIfAbsent('job:1', 'a')).toBe(true);
    expect(await store.setIfAbsent('job:1', 'a')).toBe(false);
    expect(await store.setIfAbsent('job:1', 'b')).toBe(false);
    expect(await store.get('job:1')).toBe('a');
    expect(await store.delete('job:1')).toBe(true);
    expect(await store.setIfAbsent('job:1', 'c')).toBe(true);
    expect(await store.get('job:1')).toBe('c');
  });

  it("the value expires after ttlMs; the writer's nonce beside it once a command can no longer be sent again (about 6 minutes with the defaults), or with the value when that is sooner", async () => {
    const { redis, store } = await connect();
    expect(await store.setIfAbsent('short', 'v', { ttlMs: 30_000 })).toBe(true);
    expect(await store.setIfAbsent('forever', 'v')).toBe(true);
    const pttl = (key: string) => redis.run((r) => r.pttl(key));
    const nonceKey = (name: string) => namespacedSideKey(redis.keyPrefix, 'set-by', name);
    expect(await pttl(redis.key('short'))).toBeGreaterThan(0);
    expect(await pttl(redis.key('short'))).toBeLessThanOrEqual(30_000);
    expect(await pttl(nonceKey('short'))).toBeLessThanOrEqual(30_000);
    expect(await pttl(nonceKey('short'))).toBeGreaterThan(0);
    expect(await pttl(redis.key('forever'))).toBe(-1);
    const window = resendWindowMs(redis.config);
    expect(window).toBe(370_000); // 10 s socket timeout + 20 reconnects × (10 s connect timeout + 5 s backoff) + 60 s
    expect(await pttl(nonceKey('forever'))).toBeGreaterThan(window - 30_000);
    expect(await pttl(nonceKey('forever'))).toBeLessThanOrEqual(window);
  });

  it("the nonce's key is no Store name's: an app's own key ending in ':set-by' is neither overwritten nor taken for a nonce", async () => {
    const { store } = await connect();
    await store.set('idem:abc:set-by', 'mine');
    expect(await store.setIfAbsent('idem:abc', 'v')).toBe(true);
    expect(await store.get('idem:abc:set-by')).toBe('mine');
    expect(await store.setIfAbsent('idem:xyz', 'v')).toBe(true);
    expect(await store.setIfAbsent('idem:xyz:set-by', 'w')).toBe(true);
    expect(await store.get('idem:xyz')).toBe('v');
  });

  it("delete: true once, for the call that deleted the key; a key of the call's own beside it (no Store name reaches it), for the resend window, only when it deleted", async () => {
    const { redis, store } = await connect();
    await store.set('gone', 'v');
    await store.set('gone:deleted-by', 'mine');
    const before = await sideKeys(server, redis.keyPrefix, 'deleted-by');
    expect(await store.delete('gone')).toBe(true);
    expect(await store.get('gone')).toBeNull();
    expect(await store.delete('gone')).toBe(false);
    expect(await store.delete('never-written')).toBe(false);
    expect(await store.get('gone:deleted-by')).toBe('mine');
    const added = (await sideKeys(server, redis.keyPrefix, 'deleted-by')).filter((key) => !before.includes(key));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/!deleted-by:[0-9a-f-]{36}$/);
    const nonceTtl = await redis.run((r) => r.pttl(added[0]!));
    expect(nonceTtl).toBeGreaterThan(resendWindowMs(redis.config) - 30_000);
    expect(nonceTtl).toBeLessThanOrEqual(resendWindowMs(redis.config));
  });

  it("a delete's second run (its reply lost) deletes again and answers for its first run, whatever other calls did in between", async () => {
    const { redis, store } = await connect();
    await store.set('job:2', 'first');
    const keys = [redis.key('job:2'), namespacedSideKey(redis.keyPrefix, 'deleted-by', 'nonce-of-this-delete')];
    // The delete script's two runs with one key of its own, as ioredis sends it again after a lost reply.
    const remove = () => redis.script<number>(DELETE, keys, [60_000]);
    expect(await remove()).toBe(1);
    expect(await store.setIfAbsent('job:2', 'second')).toBe(true);
    expect(await store.delete('job:2')).toBe(true); // another call deletes it in between (a nonce kept per name was replaced here)
    expect(await remove()).toBe(1); // nothing left to delete: the answer is the first run's
    expect(await store.setIfAbsent('job:2', 'third')).toBe(true);
    expect(await remove()).toBe(1);
    expect(await store.get('job:2')).toBeNull(); // a run deletes whatever is there: the key ends deleted
    // A first run that found nothing: a later run that deletes answers true, one that finds nothing false.
    const absent = [redis.key('job:3'), namespacedSideKey(redis.keyPrefix, 'deleted-by', 'nonce-of-another-delete')];
    expect(await redis.script<number>(DELETE, absent, [60_000])).toBe(0);
    expect(await redis.script<number>(DELETE, absent, [60_000])).toBe(0);
    await store.set('job:3', 'v');
    expect(await redis.script<number>(DELETE, absent, [60_000])).toBe(1);
  });

  it("a nonce key of another type or with a value of its own (a Redis writer with the app's credentials): false, not an error, and never a false 'you wrote it'", async () => {
    const { redis, store } = await connect();
    expect(await store.setIfAbsent('taken', 'first')).toBe(true);
    const nonceKey = namespacedSideKey(redis.keyPrefix, 'set-by', 'taken');
    // A key of another type in the nonce's place: no error, still "not written by this call".
    await redis.run((r) => r.del(nonceKey));
    await redis.run((r) => r.hset(nonceKey, 'x', '1'));
    expect(await store.setIfAbsent('taken', 'second')).toBe(false);
    // A nonce the writer can read is a past call's: a new call's nonce is fresh, so it matches no stored one.
    await redis.run((r) => r.del(nonceKey));
    await redis.run((r) => r.set(nonceKey, 'guessed'));
    expect(await store.setIfAbsent('taken', 'second')).toBe(false);
    expect(await store.get('taken')).toBe('first');
  });

  it('a TTL that is not a whole number of milliseconds ≥ 1 is refused by name, and nothing is written', async () => {
    const { store } = await connect();
    await expect(store.setIfAbsent('bad', 'v', { ttlMs: 0 })).rejects.toThrow(/ttlMs/);
    await expect(store.setIfAbsent('bad', 'v', { ttlMs: 1.5 })).rejects.toThrow(/ttlMs/);
    expect(await store.get('bad')).toBeNull();
  });
});
