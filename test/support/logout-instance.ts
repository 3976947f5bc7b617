import { createLocalJWKSet } from 'jose';
import { type BackchannelLogoutHandler, KccRedis, RedisReplayGuard, Revocations, createBackchannelLogoutHandler } from '../../client/src/index.js';
import type { LocalRedis } from '../../local/local-redis.js';
import type { closeAfterEach } from './closing.js';
import type { RealmKey } from './logout-tokens.js';
import { kccOptions } from './redis.js';

/**
 * An instance of `user`'s app-env on `server`: its connection, revocations and back-channel logout
 * handler for the realm `issuer`, client `shop`, verifying with `key` held locally, the replay guard in
 * Redis, logging nothing. Each part is closed after the test.
 */
export async function logoutInstance(server: LocalRedis, user: string, key: RealmKey, issuer: string, closeLater: ReturnType<typeof closeAfterEach>): Promise<{ redis: KccRedis; revocations: Revocations; logout: BackchannelLogoutHandler }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber']));
  const revocations = closeLater(await Revocations.start(redis));
  const logout = createBackchannelLogoutHandler({
    issuer, clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis),
    jwks: createLocalJWKSet({ keys: [key.publicJwk] }), logger: { info: () => {}, warn: () => {} },
  });
  return { redis, revocations, logout };
}
