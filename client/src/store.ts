import { randomUUID } from 'node:crypto';
import { type KccRedis, resendWindowMs } from './connection.js';
import { namespacedSideKey } from './contract/naming.js';
import { LUA_KEY_REPAIR, MAX_LOG_ID_AHEAD_MS, readReplacingWrongType, warnReplaced } from './lua-key-repair.js';
import { checkNumberArgument } from './option-checks.js';

/**
 * A value with the version it was written at (1 for the first write). 0: a value that no
 * compare-and-set wrote, whose stored version is missing or not a whole number from 0 to 2^53 - 1
 * (a Redis writer with the app's credentials, or a bug): a compare-and-set expecting 0 replaces it.
 */
export interface Versioned {
  readonly version: number;
  readonly value: string;
}

/** The outcome of a compare-and-set: the new version, or the version found instead. */
export type CompareAndSetResult = { readonly ok: true; readonly version: number } | { readonly ok: false; readonly currentVersion: number };

export interface CompareAndSetOptions {
  /** Expire the key this long after the write. @default no expiry */
  readonly ttlMs?: number;
  /** Append this event to the event log in the same atomic step (see EventLog). */
  readonly event?: { readonly log: string; readonly fields: readonly string[]; readonly maxAgeMs: number };
}

// A versioned value is a hash { version, value }. The script sees only keys declared in KEYS
// (the ACL checks them) and all of them share the namespace's hash tag, so it never crosses slots.
// ARGV: expected version, value, TTL (0: none), this call's nonce, then with a log: its MINID, the
// largest id time it may hold (ms, see xadd_now), the event's fields. The nonce is kept beside the
// version (field 'writer', which readers ignore): a call whose reply was lost runs again on the next
// connection (ioredis sends what was in flight again), and finding the version it wrote with its own
// nonce it reports its own write instead of a conflict, appending nothing twice.
//
// A key of another type is replaced, and a stored version that is not a whole number from 0 to 2^53 - 1
// counts as 0, as in getVersioned (Lua's numbers are doubles: above 2^53, current + 1 == current, and
// two writers could both win one version). Returns {1, new version, replaced} or {0, current, replaced}.
/** @internal Exported for tests, which hold this write at an exact point. */
export const COMPARE_AND_SET = `${LUA_KEY_REPAIR}
own_type(KEYS[1], 'hash')
local stored = redis.call('HMGET', KEYS[1], 'version', 'value', 'writer')
local current = 0
if stored[2] and stored[1] and #stored[1] <= 16 and string.match(stored[1], '^%d+$') and tonumber(stored[1]) <= ${Number.MAX_SAFE_INTEGER} then
  current = tonumber(stored[1])
end
if current == tonumber(ARGV[1]) + 1 and stored[3] == ARGV[4] then return {1, current, repaired} end
if current ~= tonumber(ARGV[1]) then return {0, current, repaired} end
redis.call('HSET', KEYS[1], 'version', current + 1, 'value', ARGV[2], 'writer', ARGV[4])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if #KEYS > 1 then
  local fields = {}
  for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
  xadd_now(KEYS[2], tonumber(ARGV[6]), 'MINID', '~', ARGV[5], '*', 'version', current + 1, unpack(fields))
end
return {1, current + 1, repaired}
`;

// KEYS: the value, the nonce of the call that wrote it (same hash tag). ARGV: value, TTL (0: none),
// this call's nonce, the nonce's TTL. A call whose reply was lost runs again on the next connection
// (ioredis sends what was in flight again): finding its own nonce beside the value, it answers that
// it wrote it. A nonce key of another type (a Redis writer with the app's credentials) is no match.
const SET_IF_ABSENT = `
local set
if tonumber(ARGV[2]) > 0 then
  set = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX')
else
  set = redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
if set then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
if redis.pcall('GET', KEYS[2]) == ARGV[3] then return 1 end
return 0
`;

// KEYS: the key, this call's own key (`!deleted-by:<nonce>`, same hash tag). ARGV: its TTL. Returns
// whether this call deleted the key, in this run or an earlier one. A call whose reply was lost runs
// again on the next connection (ioredis sends everything in flight again, in order): that run deletes
// again, so the key ends deleted whatever the connection's earlier commands wrote when sent again (a
// Store.set of the same key before it). A run that deletes writes the call's own key, which no other
// call can write; a run that finds nothing answers whether an earlier run of the call deleted.
export const DELETE = `
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
  return 1
end
return redis.call('EXISTS', KEYS[2])
`;

/**
 * Plain and versioned values in the app-env's namespace. Versioned writes are compare-and-set in
 * Lua (the access string allows scripting but not EXEC), so concurrent writers can never fork a
 * value: exactly one of them wins each version.
 *
 * @example
 * const store = new Store(redis);
 * const result = await store.compareAndSet('keyring', 0, JSON.stringify(ring));
 */
export class Store {
  constructor(private readonly redis: KccRedis) {}

  /** Reads a plain value. */
  get(name: string): Promise<string | null> {
    return this.redis.run((r) => r.get(this.redis.key(name)));
  }

  /** Writes a plain value, optionally expiring after `ttlMs`. */
  async set(name: string, value: string, options: { ttlMs?: number } = {}): Promise<void> {
    const key = this.redis.key(name);
    const ttl = ttlArgument(options.ttlMs);
    await this.redis.run((r) => (ttl ? r.set(key, value, 'PX', ttl) : r.set(key, value)));
  }

  /**
   * Writes only when the key does not exist. Resolves true when this call wrote it, also when its
   * reply was lost and it ran again on the next connection: the call's nonce is kept beside the value
   * (in a key no Store name reaches, `<prefix>{<app>-<env>}!set-by:<name>`, for about as long as a
   * command waits through its reconnects, 6 minutes with the default timeouts, or the value's TTL if
   * shorter), and a second run that finds it answers for the first. Still false for its own write:
   * when, between the two runs, the value was deleted or expired and another call wrote it again.
   * Each write costs that second key for those minutes (about 200 bytes beside a small value).
   */
  async setIfAbsent(name: string, value: string, options: { ttlMs?: number } = {}): Promise<boolean> {
    const ttl = ttlArgument(options.ttlMs) ?? 0;
    const window = resendWindowMs(this.redis.config);
    const nonceTtl = ttl > 0 ? Math.min(ttl, window) : window;
    const keys = [this.redis.key(name), namespacedSideKey(this.redis.keyPrefix, 'set-by', name)];
    return (await this.redis.script<number>(SET_IF_ABSENT, keys, [value, ttl, randomUUID(), nonceTtl])) === 1;
  }

  /**
   * Deletes a key; resolves true when this call deleted it. Sent again after its reply was lost, it
   * deletes again (the key ends deleted, also when a write of it sent before the delete was sent
   * again too; a write by another call meanwhile, concurrent with this one, is deleted too), and
   * answers true when any of its runs deleted something: a run that deletes keeps a key of the
   * call's own, `<prefix>{<app>-<env>}!deleted-by:<random nonce>`, for about as long as a command
   * waits through its reconnects (6 minutes with the default timeouts), about 150 bytes.
   */
  async delete(name: string): Promise<boolean> {
    const keys = [this.redis.key(name), namespacedSideKey(this.redis.keyPrefix, 'deleted-by', randomUUID())];
    return (await this.redis.script<number>(DELETE, keys, [resendWindowMs(this.redis.config)])) === 1;
  }

  /**
   * Reads a versioned value, or undefined when none was written. A key of another type than a
   * versioned value's is replaced (logged) and read as missing; with `readOnly`, its `WRONGTYPE` is
   * thrown instead.
   */
  async getVersioned(name: string, options: { readOnly?: boolean } = {}): Promise<Versioned | undefined> {
    const key = this.redis.key(name);
    const read = () => this.redis.run((r) => r.hmget(key, 'version', 'value'));
    const [version, value] = await (options.readOnly ? read() : readReplacingWrongType(this.redis, key, 'hash', read));
    return value == null ? undefined : { version: storedVersion(version), value };
  }

  /**
   * Writes `value` as version `expectedVersion + 1` only if the stored version is `expectedVersion`
   * (0 = nothing stored yet). Sent again after its reply was lost, it still reports its own write;
   * but if another writer replaced that version in between, it reports a conflict although its
   * write happened: re-read before retrying, as after any conflict.
   */
  async compareAndSet(name: string, expectedVersion: number, value: string, options: CompareAndSetOptions = {}): Promise<CompareAndSetResult> {
    checkNumberArgument('expectedVersion', expectedVersion);
    const ttl = ttlArgument(options.ttlMs) ?? 0;
    const keys = [this.redis.key(name)];
    const args: (string | number)[] = [expectedVersion, value, ttl, randomUUID()];
    if (options.event) {
      const now = Date.now();
      keys.push(this.redis.key(options.event.log));
      args.push(`${now - options.event.maxAgeMs}-0`, (await this.redis.serverClock.now()) + MAX_LOG_ID_AHEAD_MS, ...options.event.fields);
    }
    const [ok, version, replaced] = await this.redis.script<[number, number, number]>(COMPARE_AND_SET, keys, args);
    if (replaced > 0) warnReplaced(this.redis, keys.join(' or '));
    return ok === 1 ? { ok: true, version } : { ok: false, currentVersion: version };
  }
}

/** A stored version as the compare-and-set counts it: a whole number from 0 to 2^53 - 1 in digits, else 0. */
function storedVersion(text: string | null | undefined): number {
  return typeof text === 'string' && /^\d{1,16}$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : 0;
}

/** A TTL argument: undefined (no expiry) or a whole number of milliseconds ≥ 1; misuse is a TypeError. */
function ttlArgument(value: number | undefined): number | undefined {
  return value === undefined ? undefined : checkNumberArgument('ttlMs', value, { min: 1, unit: 'ms' });
}
