import { randomUUID } from 'node:crypto';
import type { KccRedis } from './connection.js';
import { checkNumberArgument } from './option-checks.js';

// Keys come from redis.key(): one hash tag per app-env, so the two-key script never crosses cluster
// slots, and the ACL sees every key in KEYS.
const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
const SET_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
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
  /** Releases the lock; resolves false when it was not held by this owner. */
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
 * Owner-token locks (`SET NX PX` with the owner's token; extend, release and guarded writes in Lua,
 * only by the token holder), for work exactly one instance must do, such as rotating the signing key.
 * Like any single-node Redis lock, it is a lease, not a fencing guarantee: guard the write itself
 * with {@link LockHandle.setIfHeld} or a compare-and-set.
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
   * Takes the lock for `ttlMs`, or resolves undefined when another owner holds it (or this owner,
   * with a fixed `owner`). With `force`, takes it whoever holds it.
   */
  async acquire(name: string, ttlMs: number, options: { force?: boolean } = {}): Promise<LockHandle | undefined> {
    const ttl = checkNumberArgument('ttlMs', ttlMs, { min: 1, unit: 'ms' });
    const handle = this.handle(name, this.options.owner ?? `${this.redis.instanceId}:${randomUUID()}`);
    const key = this.key(name);
    const reply = await this.redis.run((r) => (options.force ? r.set(key, handle.token, 'PX', ttl) : r.set(key, handle.token, 'PX', ttl, 'NX')));
    return reply === 'OK' ? handle : undefined;
  }

  /** The handle of lock `name` for this object's `owner` (whether or not it holds it now). */
  held(name: string): LockHandle {
    if (this.options.owner === undefined) throw new TypeError('Locks.held needs the owner option: without it each acquisition has its own token');
    return this.handle(name, this.options.owner);
  }

  /** Releases lock `name` whoever holds it; resolves true when it was held. */
  async forceRelease(name: string): Promise<boolean> {
    return (await this.redis.run((r) => r.del(this.key(name)))) === 1;
  }

  private key(name: string): string {
    return this.redis.key(`${this.options.namespace ?? 'lock:'}${name}`);
  }

  private handle(name: string, token: string): LockHandle {
    const key = this.key(name);
    return {
      name,
      token,
      extend: async (ttlMs) => (await this.redis.script<number>(EXTEND, [key], [token, checkNumberArgument('ttlMs', ttlMs, { min: 1, unit: 'ms' })])) === 1,
      release: async () => (await this.redis.script<number>(RELEASE, [key], [token])) === 1,
      setIfHeld: async (target, value, options = {}) => {
        const ttl = options.ttlMs === undefined ? 0 : checkNumberArgument('ttlMs', options.ttlMs, { min: 1, unit: 'ms' });
        return (await this.redis.script<number>(SET_IF_HELD, [key, this.redis.key(target)], [token, value, ttl])) === 1;
      },
    };
  }
}
