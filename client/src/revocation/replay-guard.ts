import { createHash, randomUUID } from 'node:crypto';
import type { KccRedis } from '../connection.js';
import { isWrongTypeReply } from '../lua-key-repair.js';
import { checkNumberArgument } from '../option-checks.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/**
 * Remembers the ids of logout tokens (`jti`) and admin actions for as long as they could be
 * accepted, so that a replay is refused on every instance.
 */
export interface ReplayGuard {
  /** Records `id` for `ttlMs`; resolves true on its first use, false when it was seen before (a replay). */
  firstUse(id: string, ttlMs: number): Promise<boolean>;
}

// For servers before Redis 7.0, which refuse SET with both NX and GET. KEYS: the id's key. ARGV:
// this call's nonce, TTL (ms). Returns 1 for a first use, 0 for a replay.
const FIRST_USE = `
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
if redis.call('TYPE', KEYS[1])['ok'] == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`;

/**
 * A {@link ReplayGuard} in the app-env's Redis namespace: one `SET NX PX` per id (stored as its
 * SHA-256, so an id's length or characters never shape a key), holding a nonce of the call that
 * recorded it: a call whose reply was lost runs again on the next connection (ioredis sends what was
 * in flight again), and finding its own nonce (`GET`, in the same command) it is still the first use,
 * not a replay.
 *
 * @example
 * const logout = createBackchannelLogoutHandler({ issuer, clientId, sink: revocations, replayGuard: new RedisReplayGuard(redis) });
 */
export class RedisReplayGuard implements ReplayGuard {
  private replays = 0;
  /** Whether the server refused SET with NX and GET together (before Redis 7.0): then a script does it. */
  private withScript = false;

  constructor(private readonly redis: KccRedis) {}

  /** Replays refused so far. */
  get replaysRefused(): number {
    return this.replays;
  }

  async firstUse(id: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.ceil(checkNumberArgument('ttlMs', ttlMs, { min: 1, unit: 'ms', fraction: true }));
    const key = this.redis.key(`${REVOCATION_KEYS.replay}${createHash('sha256').update(id).digest('base64url')}`);
    const first = await this.record(key, randomUUID(), ttl);
    if (!first) this.replays++;
    return first;
  }

  private async record(key: string, nonce: string, ttl: number): Promise<boolean> {
    if (!this.withScript) {
      try {
        const previous = await this.redis.run((r) => r.call('SET', key, nonce, 'PX', ttl, 'NX', 'GET'));
        return previous === null || previous === nonce;
      } catch (error) {
        // A key of another type (no client writes one): a replay, as the script and a plain SET NX answer.
        if (isWrongTypeReply(error)) return false;
        if (!(error instanceof Error && /syntax error/i.test(error.message))) throw error;
        this.withScript = true;
      }
    }
    return (await this.redis.script<number>(FIRST_USE, [key], [nonce, ttl])) === 1;
  }
}
