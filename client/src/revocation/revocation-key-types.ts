import type { KccRedis } from '../connection.js';
import { LUA_KEY_REPAIR } from '../lua-key-repair.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

// Replaces each revocation key that exists with another type than this client writes (lua-key-repair.ts).
// KEYS: sessions, subjects, client not-before, stored Keycloak push, log, sessions up to a time. Returns how many it replaced.
const REPAIR_TYPES = `${LUA_KEY_REPAIR}
own_type(KEYS[1], 'zset')
own_type(KEYS[2], 'zset')
own_type(KEYS[3], 'string')
own_type(KEYS[4], 'string')
own_type(KEYS[5], 'stream')
own_type(KEYS[6], 'zset')
return repaired
`;


/**
 * For a reader that met `WRONGTYPE`: replaces the revocation keys of the wrong type, as the write
 * scripts do before writing, so that reading (and starting) goes on. Resolves how many it replaced.
 */
export function repairRevocationKeyTypes(redis: KccRedis): Promise<number> {
  const names = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore, REVOCATION_KEYS.keycloakPush, REVOCATION_KEYS.log, REVOCATION_KEYS.sessionsUpTo];
  return redis.script<number>(REPAIR_TYPES, names.map((name) => redis.key(name)), []);
}
