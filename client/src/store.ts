import type { KccRedis } from './connection.js';
import { checkNumberArgument } from './option-checks.js';


/** A value with the version it was written at (1 for the first write). */
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
const COMPARE_AND_SET = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
redis.call('HSET', KEYS[1], 'version', current + 1, 'value', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
if #KEYS > 1 then
  local fields = {}
  for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[4], '*', 'version', current + 1, unpack(fields))
end
return {1, current + 1}
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

  /** Writes only when the key does not exist. Resolves true when this call wrote it. */
  async setIfAbsent(name: string, value: string, options: { ttlMs?: number } = {}): Promise<boolean> {
    const key = this.redis.key(name);
    const ttl = ttlArgument(options.ttlMs);
    const reply = await this.redis.run((r) => (ttl ? r.set(key, value, 'PX', ttl, 'NX') : r.set(key, value, 'NX')));
    return reply === 'OK';
  }

  /** Deletes a key; resolves true when it existed. */
  async delete(name: string): Promise<boolean> {
    return (await this.redis.run((r) => r.del(this.redis.key(name)))) === 1;
  }

  /** Reads a versioned value, or undefined when none was written. */
  async getVersioned(name: string): Promise<Versioned | undefined> {
    const [version, value] = await this.redis.run((r) => r.hmget(this.redis.key(name), 'version', 'value'));
    return version == null || value == null ? undefined : { version: Number(version), value };
  }

  /**
   * Writes `value` as version `expectedVersion + 1` only if the stored version is `expectedVersion`
   * (0 = nothing stored yet).
   */
  async compareAndSet(name: string, expectedVersion: number, value: string, options: CompareAndSetOptions = {}): Promise<CompareAndSetResult> {
    checkNumberArgument('expectedVersion', expectedVersion);
    const ttl = ttlArgument(options.ttlMs) ?? 0;
    const keys = [this.redis.key(name)];
    const args: (string | number)[] = [expectedVersion, value, ttl];
    if (options.event) {
      keys.push(this.redis.key(options.event.log));
      args.push(`${Date.now() - options.event.maxAgeMs}-0`, ...options.event.fields);
    }
    const [ok, version] = await this.redis.script<[number, number]>(COMPARE_AND_SET, keys, args);
    return ok === 1 ? { ok: true, version } : { ok: false, currentVersion: version };
  }
}

/** A TTL argument: undefined (no expiry) or a whole number of milliseconds ≥ 1; misuse is a TypeError. */
function ttlArgument(value: number | undefined): number | undefined {
  return value === undefined ? undefined : checkNumberArgument('ttlMs', value, { min: 1, unit: 'ms' });
}
