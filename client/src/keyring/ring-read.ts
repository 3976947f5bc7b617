import type { KccRedis } from '../connection.js';
import { runReadScript } from '../read-script.js';
import { readReplacingWrongType } from '../lua-key-repair.js';
import type { Versioned } from '../store.js';

/**
 * The longest stored ring (bytes) a read hands to the client; a longer one is refused as `malformed`
 * without being read (a running instance writes the ring it holds back over it, as over any refused
 * ring). A ring holds at most 16 keys (`MAX_KEYS`) and 64 compromised kids of at most 128 characters:
 * sealed, 16 PS256 keys of RSA 4096 with every kid that long measure 126,079 bytes (RSA 2048, what
 * instances generate: 75,092). 1 MiB leaves eight times that for larger keys and fields a later
 * release adds. Why bounded: `HMGET` hands a value over whole, and a holder of the app's credentials
 * can store up to 512 MB there; one longer than V8's longest string failed every start and every
 * refresh in ioredis ("Cannot create a string longer than 0x1fffffe8 characters"), a smaller one was
 * sent whole to every instance at every refresh (an attack review).
 */
export const MAX_RING_BYTES = 1_048_576;

/** The longest stored version handed over: a compare-and-set counts a longer one as 0 (more than 16 digits), and so does the reader. */
const MAX_VERSION_BYTES = 16;

/**
 * Lua: the versioned value KEYS[1] (a hash `{ version, value, writer }`) as `{version or false, value
 * or false, the value's length, whether it has one}`, lengths first (`HSTRLEN`: `HGET` would copy the
 * value): a value over ARGV[2] bytes ({@link MAX_RING_BYTES}), or a version over 16 bytes, is not
 * handed over. Writes nothing (ARGV[1] is `runReadScript`'s); a key of another type raises
 * WRONGTYPE, as `HMGET` did.
 */
const READ_RING = `
local key, longest = KEYS[1], tonumber(ARGV[2])
local size = redis.call('HSTRLEN', key, 'value')
if size == 0 and redis.call('HEXISTS', key, 'value') == 0 then return {false, false, 0, 0} end
local version = false
if redis.call('HSTRLEN', key, 'version') <= ${MAX_VERSION_BYTES} then version = redis.call('HGET', key, 'version') end
if size > longest then return {version, false, size, 1} end
return {version, redis.call('HGET', key, 'value'), size, 1}
`;

/**
 * A stored ring as read: `oversized` (its length in bytes) when it is over {@link MAX_RING_BYTES} and
 * was not handed over; `value` then only names it (`(not read: N bytes)`), never a ring's text.
 */
export interface StoredRingText extends Versioned {
  readonly oversized?: number;
}

/**
 * Reads the stored ring (`Store.getVersioned`, bounded: {@link READ_RING}), or undefined when none
 * was written. A key of another type than a hash is replaced (logged) and read as missing; with
 * `readOnly`, its `WRONGTYPE` is thrown instead. Keys the user may only read: through `EVAL_RO`.
 */
export async function readStoredRing(redis: KccRedis, name: string, options: { readOnly?: boolean } = {}): Promise<StoredRingText | undefined> {
  const key = redis.key(name);
  const read = () => runReadScript<[string | null, string | null, number, number]>(redis, READ_RING, [key], [MAX_RING_BYTES]);
  const [version, value, size, present] = await (options.readOnly ? read() : readReplacingWrongType(redis, key, 'hash', read));
  if (present !== 1) return undefined;
  if (value === null) return { version: storedVersion(version), value: `(not read: ${size} bytes)`, oversized: size };
  return { version: storedVersion(version), value };
}

/** A stored version as the compare-and-set counts it (store.ts): a whole number from 0 to 2^53 - 1 in digits, else 0. */
function storedVersion(text: string | null): number {
  return typeof text === 'string' && /^\d{1,16}$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : 0;
}
