import { randomUUID } from 'node:crypto';
import { type KccRedis, resendWindowMs } from './connection.js';
import { namespacedSideKey } from './contract/naming.js';
import { LUA_KEY_REPAIR } from './lua-key-repair.js';
import { checkNumberArgument, show } from './option-checks.js';

/**
 * The longest a lock is taken or extended for (ms). A lock found with a longer TTL, or with none, or
 * a key of another type, was set by no holder through {@link Locks}: a Redis writer with the app's
 * credentials (or a bug) that would otherwise block the lock's work for ever. Taking the lock replaces it.
 */
export const MAX_LOCK_TTL_MS = 3_600_000;

// Keys come from redis.key(): one hash tag per app-env, so the two-key script never crosses cluster
// slots, and the ACL sees every key in KEYS.
//
// KEYS: the lock, the nonce of the acquisition that took it. ARGV: token, TTL (ms), 'force' or '',
// the longest TTL a holder sets, this call's nonce. SET NX PX, after replacing a lock no holder set
// (see MAX_LOCK_TTL_MS). An acquisition whose reply was lost runs again on the next connection
// (ioredis sends what was in flight again), or is tried again by its caller with the same nonce:
// finding its token in the lock and its nonce beside it, it has the lock, for the TTL from now. The
// nonce, not the token alone: with a fixed owner, the owner's token is in the lock also when it took
// it earlier, which is "not taken". Returns {1 taken | 0, replaced}.
const ACQUIRE = `${LUA_KEY_REPAIR}
own_type(KEYS[1], 'string')
if ARGV[3] == 'force' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])
  return {1, repaired}
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -1 or pttl > tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  repaired = repaired + 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])
  return {1, repaired}
end
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.pcall('GET', KEYS[2]) == ARGV[5] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return {1, repaired}
end
return {0, repaired}
`;

// A lock of another type than a string is held by nobody (GET would fail with WRONGTYPE).
const HELD = `
local function held_by(key, token)
  return redis.call('TYPE', key)['ok'] == 'string' and redis.call('GET', key) == token
end
`;
// KEYS: the lock, its acquisition's nonce (ACQUIRE). ARGV: token, TTL. The nonce lives as long as the
// lock: a release sent again compares it.
const EXTEND = `${HELD}
if not held_by(KEYS[1], ARGV[1]) then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;
// KEYS: the lock, this release's own key (`!released-by:<nonce>`), the lock's acquisition nonce
// (ACQUIRE). ARGV: token, the own key's TTL, 'force' (whoever holds it) or ''. Returns whether this call
// released the lock. A release whose reply was lost runs again on the next connection (ioredis sends
// everything in flight again, in order). Its first run keeps its outcome in its own key: '+' and the
// nonce of the acquisition it released ('+' alone when that had none), or '-' when it found the lock
// not held. A later run answers for the first, and releases again only that same acquisition, which
// holds the lock again when it was sent before the release and sent again too (it writes its nonce
// again); it leaves any other alone: a lock taken meanwhile by another owner or by the same fixed owner,
// one it cannot tell apart (no nonce: evicted, or extended by a build before this one), and
// a value written at the lock's key otherwise (a release deletes the nonce with the lock).
export const RELEASE = `${HELD}
local function acquisition()
  local nonce = redis.pcall('GET', KEYS[3])
  if type(nonce) == 'string' then return nonce end
  return ''
end
local function holds()
  if ARGV[3] == 'force' then return redis.call('EXISTS', KEYS[1]) == 1 end
  return held_by(KEYS[1], ARGV[1])
end
local first = redis.pcall('GET', KEYS[2])
if type(first) == 'string' then
  if first == '-' then return 0 end
  if first ~= '+' and holds() and '+' .. acquisition() == first then redis.call('DEL', KEYS[1], KEYS[3]) end
  return 1
end
if not holds() then
  redis.call('SET', KEYS[2], '-', 'PX', ARGV[2])
  return 0
end
redis.call('SET', KEYS[2], '+' .. acquisition(), 'PX', ARGV[2])
redis.call('DEL', KEYS[1], KEYS[3])
return 1
`;
const SET_IF_HELD = `${HELD}
if not held_by(KEYS[1], ARGV[1]) then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) else redis.call('SET', KEYS[2], ARGV[2]) end
return 1
`;

/** A lock as one owner sees it: extend, release or write under it; each succeeds only while that owner holds it. */
export interface LockHandle {
  readonly name: string;
  /** The owner token stored in the lock. */
  readonly token: string;
  /** Extends the lock to `ttlMs` from now; resolves false when it was lost (expired or taken). */
  extend(ttlMs: number): Promise<boolean>;
  /**
   * Releases the lock; resolves false when it was not held by this owner. Sent again after its reply
   * was lost, it answers for its first run, and releases again only the acquisition it released,
   * when that was sent again too (an acquisition sent just before the release): the lock ends
   * released in the order the caller sent its commands, and a lock taken meanwhile by another
   * acquisition stays taken. Its first run keeps its outcome in a key of the call's own
   * (`!released-by:<random nonce>`, same hash tag, about 150 bytes) for about 6 minutes with the
   * default timeouts. Not covered: an acquisition sent just before it that failed and then took the
   * lock when sent again stays held until its TTL; and one whose nonce was lost (evicted, or extended
   * by a build before this one) is not released again.
   */
  release(): Promise<boolean>;
  /**
   * Writes `value` under store name `name` (as {@link Store.set}) only while this owner holds the
   * lock, atomically; resolves false when it does not.
   */
  setIfHeld(name: string, value: string, options?: { ttlMs?: number }): Promise<boolean>;
}

export interface LocksOptions {
  /** Prefix of the lock keys' names inside the app-env's namespace. @default 'lock:' */
  readonly namespace?: string;
  /**
   * One owner token for every lock taken through this object: the same owner never holds one lock
   * twice, and {@link Locks.handle} can release a lock taken earlier. @default a new token per acquisition
   */
  readonly owner?: string;
}

/**
 * Owner-token locks (`SET NX PX` with the owner's token, over a lock no holder set; extend, release
 * and guarded writes in Lua, only by the token holder), for work exactly one instance must do, such
 * as rotating the signing key. Like any single-node Redis lock, it is a lease, not a fencing
 * guarantee: guard the write itself with {@link LockHandle.setIfHeld} or a compare-and-set.
 *
 * @example
 * const lock = await new Locks(redis).acquire('rotation', 10_000);
 * if (lock) try { await rotate(); } finally { await lock.release(); }
 */
export class Locks {
  constructor(
    private readonly redis: KccRedis,
    private readonly options: LocksOptions = {},
  ) {}

  /**
   * Takes the lock for `ttlMs` (at most {@link MAX_LOCK_TTL_MS}), or resolves undefined when another
   * owner holds it (or this owner, with a fixed `owner`). With `force`, takes it whoever holds it. A
   * lock no holder set (no TTL, a longer one, another type) is replaced, with a warning.
   *
   * `nonce` names this acquisition: a caller that tries again after a try failed (its reply lost,
   * or given up on) passes the same nonce to each try, and a try that finds the lock taken by an
   * earlier one has it (for `ttlMs` from then). @default a new one per call
   */
  async acquire(name: string, ttlMs: number, options: { force?: boolean; nonce?: string } = {}): Promise<LockHandle | undefined> {
    const ttl = lockTtl(ttlMs);
    const nonce = options.nonce ?? randomUUID();
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 200) throw new TypeError(`nonce: ${show(nonce)} must be a string of 1 to 200 characters, one per acquisition (a random UUID), or left out`);
    // Without a fixed owner the token is the acquisition's own; named from the nonce when one is
    // given, so that a try with the same nonce finds its token in the lock (an attack review: a new
    // token per call made the nonce useless there).
    const handle = this.handle(name, this.options.owner ?? `${this.redis.instanceId}:${options.nonce ?? randomUUID()}`);
    const keys = [this.key(name), this.acquisitionKey(name)];
    const [taken, replaced] = await this.redis.script<[number, number]>(ACQUIRE, keys, [handle.token, ttl, options.force ? 'force' : '', MAX_LOCK_TTL_MS, nonce]);
    if (replaced > 0) {
      this.redis.config.logger.warn(
        `lock ${keys[0]} in Redis had no expiry, one longer than any holder sets (${MAX_LOCK_TTL_MS} ms), or a value of the wrong type: replaced ` +
          '(no kcc-redis client sets one: a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
      );
    }
    return taken === 1 ? handle : undefined;
  }

  /** The handle of lock `name` for this object's `owner` (whether or not it holds it now). */
  held(name: string): LockHandle {
    if (this.options.owner === undefined) throw new TypeError('Locks.held needs the owner option: without it each acquisition has its own token');
    return this.handle(name, this.options.owner);
  }

  /**
   * Releases lock `name` whoever holds it; resolves true when this call released it. Sent again after
   * its reply was lost, it answers for its first run, and releases again only the acquisition it
   * released, when that was sent again too (as {@link LockHandle.release}).
   */
  async forceRelease(name: string): Promise<boolean> {
    return this.release(name, '', 'force');
  }

  private key(name: string): string {
    return this.redis.key(this.lockName(name));
  }

  /** The nonce of the acquisition that took lock `name`, in a key no lock's or Store's name reaches (same hash tag, same slot). */
  private acquisitionKey(name: string): string {
    return namespacedSideKey(this.redis.keyPrefix, 'acquired-by', this.lockName(name));
  }

  private async release(name: string, token: string, mode: 'force' | ''): Promise<boolean> {
    const keys = [this.key(name), namespacedSideKey(this.redis.keyPrefix, 'released-by', randomUUID()), this.acquisitionKey(name)];
    return (await this.redis.script<number>(RELEASE, keys, [token, resendWindowMs(this.redis.config), mode])) === 1;
  }

  /** The lock's name in the app-env's namespace. */
  private lockName(name: string): string {
    return `${this.options.namespace ?? 'lock:'}${name}`;
  }

  private handle(name: string, token: string): LockHandle {
    const key = this.key(name);
    return {
      name,
      token,
      extend: async (ttlMs) => (await this.redis.script<number>(EXTEND, [key, this.acquisitionKey(name)], [token, lockTtl(ttlMs)])) === 1,
      release: () => this.release(name, token, ''),
      setIfHeld: async (target, value, options = {}) => {
        const ttl = options.ttlMs === undefined ? 0 : checkNumberArgument('ttlMs', options.ttlMs, { min: 1, unit: 'ms' });
        return (await this.redis.script<number>(SET_IF_HELD, [key, this.redis.key(target)], [token, value, ttl])) === 1;
      },
    };
  }
}

/** A lock's TTL argument: a whole number of milliseconds from 1 to {@link MAX_LOCK_TTL_MS}; misuse is a TypeError. */
function lockTtl(ttlMs: number): number {
  return checkNumberArgument('ttlMs', ttlMs, { min: 1, max: MAX_LOCK_TTL_MS, unit: 'ms' });
}
