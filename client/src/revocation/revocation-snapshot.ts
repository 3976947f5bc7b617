import type { Redis } from 'ioredis';
import type { KccRedis } from '../connection.js';
import { MAX_NOT_BEFORE_SKEW_SECONDS, MAX_REVOCATION_ID_LENGTH, latestNotBefore } from './revocation-event.js';
import type { RevocationIndex } from './revocation-index.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/** What {@link loadRevocationSnapshot} loaded, and the poison entries it refused (and removed from Redis). */
export interface SnapshotLoad {
  readonly loaded: number;
  readonly refused: number;
}

/** Members removed per purge call. */
const PURGE_CHUNK = 500;

// Removes entries a loader refused, each only if it still holds the value the loader saw (an honest
// write since then is kept). KEYS: sessions, subjects, client-not-before.
// ARGV: client value to delete ('' for none), number of session pairs, then (member, score) pairs of
// sessions, then of subjects.
const PURGE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
local sessions = tonumber(ARGV[2])
local removed = 0
for i = 3, #ARGV, 2 do
  local key = KEYS[2]
  if (i - 3) / 2 < sessions then key = KEYS[1] end
  local score = redis.call('ZSCORE', key, ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then removed = removed + redis.call('ZREM', key, ARGV[i]) end
end
return removed
`;

const validId = (id: string) => id.length > 0 && id.length <= MAX_REVOCATION_ID_LENGTH;

/**
 * Loads the compacted revocation state into `index`: sessions still remembered (their expiry capped
 * at `maxLifetimeMs` from now), not-befores still relevant. Entries no honest writer makes (an id
 * longer than {@link MAX_REVOCATION_ID_LENGTH}, a score that is not a number, a not-before later than
 * now + {@link MAX_NOT_BEFORE_SKEW_SECONDS}) are not applied, and are removed from Redis.
 */
export async function loadRevocationSnapshot(redis: KccRedis, index: RevocationIndex, maxLifetimeMs: number): Promise<SnapshotLoad> {
  const now = Date.now();
  const latest = latestNotBefore(now);
  const poisonSessions: [string, string][] = [];
  const poisonSubjects: [string, string][] = [];
  let loaded = 0;
  await scanSortedSet(redis, REVOCATION_KEYS.sessions, (sid, raw) => {
    const exp = Number(raw);
    if (!validId(sid) || !Number.isFinite(exp)) return void poisonSessions.push([sid, raw]);
    if (exp <= now) return;
    index.revokeSession(sid, Math.min(exp, now + maxLifetimeMs));
    loaded++;
  });
  await scanSortedSet(redis, REVOCATION_KEYS.subjects, (sub, raw) => {
    const nbf = Number(raw);
    if (!validId(sub) || !Number.isSafeInteger(nbf) || nbf > latest) return void poisonSubjects.push([sub, raw]);
    index.revokeSubject(sub, nbf);
    loaded++;
  });
  const stored = await redis.run((r) => r.get(redis.key(REVOCATION_KEYS.clientNotBefore)));
  let poisonClient = '';
  if (stored !== null) {
    const nbf = Number(stored);
    if (!Number.isSafeInteger(nbf) || nbf > latest) poisonClient = stored;
    else {
      index.revokeAllBefore(nbf);
      loaded++;
    }
  }
  const refused = poisonSessions.length + poisonSubjects.length + (poisonClient === '' ? 0 : 1);
  if (refused > 0) await purge(redis, poisonClient, poisonSessions, poisonSubjects);
  return { loaded, refused };
}

async function purge(redis: KccRedis, client: string, sessions: [string, string][], subjects: [string, string][]): Promise<void> {
  const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore].map((name) => redis.key(name));
  let first = true;
  while (first || sessions.length > 0 || subjects.length > 0) {
    const s = sessions.splice(0, PURGE_CHUNK);
    const t = subjects.splice(0, PURGE_CHUNK - s.length);
    await redis.script(PURGE, keys, [first ? client : '', s.length, ...s.flat(), ...t.flat()]);
    first = false;
  }
}

async function scanSortedSet(redis: KccRedis, name: string, each: (member: string, score: string) => void): Promise<void> {
  const key = redis.key(name);
  let cursor = '0';
  do {
    const [next, flat] = await redis.run((r) => (r as Redis).zscan(key, cursor, 'COUNT', 1000));
    for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i]!, flat[i + 1]!);
    cursor = next;
  } while (cursor !== '0');
}
