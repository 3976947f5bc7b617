import { createHash } from 'node:crypto';
import type { KccRedis } from '../connection.js';
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

/**
 * A {@link ReplayGuard} in the app-env's Redis namespace: one `SET NX PX` per id (stored as its
 * SHA-256, so an id's length or characters never shape a key).
 *
 * @example
 * const logout = createBackchannelLogoutHandler({ issuer, clientId, sink: revocations, replayGuard: new RedisReplayGuard(redis) });
 */
export class RedisReplayGuard implements ReplayGuard {
  private replays = 0;

  constructor(private readonly redis: KccRedis) {}

  /** Replays refused so far. */
  get replaysRefused(): number {
    return this.replays;
  }

  async firstUse(id: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.ceil(checkNumberArgument('ttlMs', ttlMs, { min: 1, unit: 'ms', fraction: true }));
    const key = this.redis.key(`${REVOCATION_KEYS.replay}${createHash('sha256').update(id).digest('base64url')}`);
    const first = (await this.redis.run((r) => r.set(key, '1', 'PX', ttl, 'NX'))) === 'OK';
    if (!first) this.replays++;
    return first;
  }
}
