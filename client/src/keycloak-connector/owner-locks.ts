import { randomUUID } from 'node:crypto';
import type { KccRedis } from '../connection.js';

// Lock keys and data keys come from redis.key(): one hash tag per app-env, so these two-key
// scripts never cross cluster slots, and the ACL sees every key in KEYS.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
const SET_IF_LOCKED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) else redis.call('SET', KEYS[2], ARGV[2]) end
return 1
`;

/**
 * The connector's owner locks: one owner token per provider (as upstream: the same provider never
 * holds one lock twice), `SET NX PX`; a forced lock overwrites whoever held it; release and
 * lock-guarded writes are Lua checks of the token. Keys are full Redis keys (already namespaced).
 * Like any single-node Redis lock, it is a lease, not a fencing guarantee.
 */
export class OwnerLocks {
  /** This provider's owner token. */
  readonly token: string;

  constructor(private readonly redis: KccRedis) {
    this.token = `${redis.instanceId}:${randomUUID()}`;
  }

  /** Takes `lockKey` for `ttlMs`; with `force`, also when another owner holds it. Resolves true when held. */
  async lock(lockKey: string, ttlMs: number, force: boolean): Promise<boolean> {
    const reply = await this.redis.run((r) => (force ? r.set(lockKey, this.token, 'PX', ttlMs) : r.set(lockKey, this.token, 'PX', ttlMs, 'NX')));
    return reply === 'OK';
  }

  /** Releases `lockKey` if this owner holds it, or whoever holds it with `force`. Resolves true when it was released. */
  async unlock(lockKey: string, force: boolean): Promise<boolean> {
    if (force) return (await this.redis.run((r) => r.del(lockKey))) === 1;
    return (await this.redis.script<number>(RELEASE, [lockKey], [this.token])) === 1;
  }

  /** Writes `value` to `key` only while this owner holds `lockKey`, atomically. Resolves false when the lock was lost. */
  async setIfLocked(lockKey: string, key: string, value: string, ttlMs: number | undefined): Promise<boolean> {
    return (await this.redis.script<number>(SET_IF_LOCKED, [lockKey, key], [this.token, value, ttlMs ?? 0])) === 1;
  }
}
