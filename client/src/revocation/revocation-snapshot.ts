import type { Redis } from 'ioredis';
import type { KccRedis } from '../connection.js';
import type { RevocationIndex } from './revocation-index.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/** Loads the compacted revocation state into `index`: sessions still remembered, not-befores still relevant. */
export async function loadRevocationSnapshot(redis: KccRedis, index: RevocationIndex): Promise<void> {
  const now = Date.now();
  await scanSortedSet(redis, REVOCATION_KEYS.sessions, (sid, exp) => {
    if (exp > now) index.revokeSession(sid, exp);
  });
  await scanSortedSet(redis, REVOCATION_KEYS.subjects, (sub, nbf) => index.revokeSubject(sub, nbf));
  const clientNotBefore = await redis.run((r) => r.get(redis.key(REVOCATION_KEYS.clientNotBefore)));
  if (clientNotBefore !== null) index.revokeAllBefore(Number(clientNotBefore));
}

async function scanSortedSet(redis: KccRedis, name: string, each: (member: string, score: number) => void): Promise<void> {
  const key = redis.key(name);
  let cursor = '0';
  do {
    const [next, flat] = await redis.run((r) => (r as Redis).zscan(key, cursor, 'COUNT', 1000));
    for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i]!, Number(flat[i + 1]));
    cursor = next;
  } while (cursor !== '0');
}
