/**
 * Store's plain values (client/src/store.ts): setIfAbsent's answers, the TTLs it sets, and what a
 * Redis writer with the app's credentials can do to the nonce kept beside a value. (A reply lost and
 * the call run twice: resent-commands.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis } from '@kcc-redis/client';
import { Store } from '@kcc-redis/client/primitives';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const USER = 'store-prod';
let server: LocalRedis;
const closeLater = closeAfterEach();

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'store', env: 'prod' }], persistence: 'none' });
});
afterAll(() => server?.stop());

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

  it("the value expires after ttlMs; the writer's nonce beside it (<name>:set-by) after 10 minutes, or with the value when that is sooner", async () => {
    const { redis, store } = await connect();
    expect(await store.setIfAbsent('short', 'v', { ttlMs: 30_000 })).toBe(true);
    expect(await store.setIfAbsent('forever', 'v')).toBe(true);
    const pttl = (name: string) => redis.run((r) => r.pttl(redis.key(name)));
    expect(await pttl('short')).toBeGreaterThan(0);
    expect(await pttl('short')).toBeLessThanOrEqual(30_000);
    expect(await pttl('short:set-by')).toBeLessThanOrEqual(30_000);
    expect(await pttl('short:set-by')).toBeGreaterThan(0);
    expect(await pttl('forever')).toBe(-1);
    expect(await pttl('forever:set-by')).toBeGreaterThan(30_000);
    expect(await pttl('forever:set-by')).toBeLessThanOrEqual(600_000);
  });

  it("a nonce key of another type or with a value of its own (a Redis writer with the app's credentials): false, not an error, and never a false 'you wrote it'", async () => {
    const { redis, store } = await connect();
    expect(await store.setIfAbsent('taken', 'first')).toBe(true);
    const nonceKey = redis.key('taken:set-by');
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
