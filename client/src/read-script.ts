import type { KccRedis } from './connection.js';

/**
 * Runs a read script that removes what no writer stores, with `'w'` as its ARGV[1] (the arguments
 * follow), through EVALSHA. Where the user may read the keys but not write them (an access string
 * with `%R~`, as tests make one to refuse writes: Redis refuses EVAL, which may write, on such keys
 * before it runs), the same read runs through EVAL_RO with `'r'`, which makes the script remove
 * nothing (what it would remove it still never hands over). With `bytes`, the reply's strings come as
 * Buffers (EVAL each time).
 * @internal
 */
export async function runReadScript<R>(redis: Pick<KccRedis, 'run' | 'script'>, lua: string, keys: readonly string[], args: readonly (string | number | Buffer)[], bytes = false): Promise<R> {
  try {
    if (bytes) return (await redis.run((r) => r.callBuffer('EVAL', lua, keys.length, ...keys, 'w', ...args))) as R;
    return await redis.script<R>(lua, keys, ['w', ...args]);
  } catch (error) {
    if (!(error instanceof Error && KEYS_NOT_WRITABLE.test(error.message))) throw error;
    const command = ['EVAL_RO', lua, keys.length, ...keys, 'r', ...args] as const;
    return (await redis.run((r) => (bytes ? r.callBuffer(...command) : r.call(...command)))) as R;
  }
}

/** Redis refusing a command on keys of the user's that it may not write (or not access at all). */
const KEYS_NOT_WRITABLE = /^NOPERM\b.*\bkeys?\b/;

/**
 * Lua: the string KEYS[1] as `{value or false, its length}`, `STRLEN` first (`GET` would copy it): a
 * value over ARGV[2] bytes is not handed over, and with ARGV[3] '1' it is deleted (not read-only).
 * A key of another type raises WRONGTYPE, as `GET` does.
 * @internal Exported for tests, which hold this read at an exact point.
 */
export const READ_BOUNDED_STRING = `
local size = redis.call('STRLEN', KEYS[1])
if size <= tonumber(ARGV[2]) then return {redis.call('GET', KEYS[1]), size} end
if ARGV[1] == 'w' and ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
return {false, size}
`;

/**
 * The string at `key` when it is at most `maxBytes` long (null when there is none); `oversized` (its
 * length) when it is longer, never handed over: a holder of the app's credentials can store up to
 * 512 MB in a key, one longer than V8's longest string fails the read in ioredis, and a smaller one
 * is sent whole to every reader. With `removeOversized`, such a value is deleted too (unless the
 * user may not write the key).
 * @internal
 */
export async function readBoundedString(redis: KccRedis, key: string, maxBytes: number, options: { readonly removeOversized?: boolean } = {}): Promise<{ readonly value: string | null; readonly oversized?: number }> {
  const [value, size] = await runReadScript<[string | null, number]>(redis, READ_BOUNDED_STRING, [key], [maxBytes, options.removeOversized ? 1 : 0]);
  return value === null && size > maxBytes ? { value: null, oversized: size } : { value };
}
