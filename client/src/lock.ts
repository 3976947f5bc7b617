import { randomUUID } from 'node:crypto';
import type { KccRedis } from './connection.js';
import { positiveOrUndefined } from './store.js';

const EXTEND = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** A held lock: extend or release it; both succeed only while this owner still holds it. */
export interface LockHandle {
  readonly name: string;
  readonly token: string;
  /** Extends the lock to `ttlMs` from now; resolves false when it was lost (expired or taken). */
  extend(ttlMs: number): Promise<boolean>;
  /** Releases the lock; resolves false when it was no longer held by this owner. */
  release(): Promise<boolean>;
}

/**
 * Owner-token locks (`SET NX PX` with a random token; extend and release in Lua only by the token
 * holder), for work exactly one instance must do, such as rotating the signing key.
 *
 * @example
 * const lock = await new Locks(redis).acquire('rotation', 10_000);
 * if (lock) try { await rotate(); } finally { await lock.release(); }
 */
export class Locks {
  constructor(private readonly redis: KccRedis) {}

  /** Takes the lock for `ttlMs`, or resolves undefined when another owner holds it. */
  async acquire(name: string, ttlMs: number): Promise<LockHandle | undefined> {
    const ttl = positiveOrUndefined(ttlMs, 'ttlMs')!;
    const key = this.redis.key(`lock:${name}`);
    const token = `${this.redis.instanceId}:${randomUUID()}`;
    const reply = await this.redis.run((r) => r.set(key, token, 'PX', ttl, 'NX'));
    if (reply !== 'OK') return undefined;
    return {
      name,
      token,
      extend: async (next) => {
        const ms = positiveOrUndefined(next, 'ttlMs')!;
        return (await this.redis.script<number>(EXTEND, [key], [token, ms])) === 1;
      },
      release: async () => (await this.redis.script<number>(RELEASE, [key], [token])) === 1,
    };
  }
}
