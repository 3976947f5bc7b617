import type { KccRedis } from './connection.js';

/**
 * Lua helpers for the scripts that write an app-env's shared keys. No honest writer stores a key of
 * another type than these scripts write, or appends a log entry whose id lies far ahead of the
 * server's clock: only a Redis writer holding the app's credentials (or a bug) does. Left alone,
 * either fails every later script before it publishes, so that no instance hears of a revocation
 * again, while the others still read a log that answers and report themselves fresh (found by an
 * attack review, 2026-12-04). The scripts replace such a key instead; what it held is lost, as if
 * that writer had deleted it (docs/security-model.md).
 *
 * - `own_type(key, kind)`: deletes `key` unless it is missing or of Redis type `kind` ('zset',
 *   'string', 'stream', 'hash'), counting it in `repaired`.
 * - `with_own_types(body, { key, kind, ... })`: runs the Lua function `body`; if a command in it meets
 *   `WRONGTYPE`, applies `own_type` to each key and runs `body` again (it must be safe to run twice:
 *   the writes of a first run that stopped at the error stay). No command is added on the usual path,
 *   which a hot script (a revocation write) needs; any other error is raised as it was.
 * - `xadd_now(key, max_ms, ...)`: `XADD key ...` (the arguments after the key, the id `*` among them)
 *   on a log whose ids do not run ahead of `max_ms`. An append refused because the key is not a log
 *   (`WRONGTYPE`) or because the log's last id is the largest there is ("The stream has exhausted
 *   the last possible ID"), or one whose id lies past `max_ms` (Redis gives each new entry at least
 *   the last id's time, so one entry from the future holds every later one there, beyond trimming
 *   by age), deletes the log and appends again: the new entry then takes the server's time. Readers
 *   whose position lay in that future see a log that went back, and reload the state. Any other
 *   refusal (out of memory, a command the user may not run) is raised as it was: the log is never
 *   deleted for it (found by a review: under `maxmemory`, the `DEL` would have been the script's
 *   first write and let the second append through, emptying the log).
 */
export const LUA_KEY_REPAIR = `local repaired = 0
local function own_type(key, kind)
  local t = redis.call('TYPE', key)['ok']
  if t ~= kind and t ~= 'none' then
    redis.call('DEL', key)
    repaired = repaired + 1
  end
end
local function with_own_types(body, keys_and_kinds)
  local ok, err = pcall(body)
  if ok then return end
  local message = type(err) == 'table' and err.err or tostring(err)
  if not string.find(message, 'WRONGTYPE', 1, true) then error(type(err) == 'table' and err or redis.error_reply(message)) end
  for i = 1, #keys_and_kinds, 2 do own_type(keys_and_kinds[i], keys_and_kinds[i + 1]) end
  body()
end
local function xadd_now(key, max_ms, ...)
  local ok, id = pcall(redis.call, 'XADD', key, ...)
  if ok then
    local ms = tonumber(string.match(id, '^(%d+)-'))
    if ms == nil or ms <= max_ms then return id end
  else
    local message = type(id) == 'table' and id.err or tostring(id)
    if not (string.find(message, 'WRONGTYPE', 1, true) or string.find(message, 'exhausted the last possible ID', 1, true)) then
      error(type(id) == 'table' and id or redis.error_reply(message))
    end
  end
  redis.call('DEL', key)
  repaired = repaired + 1
  return redis.call('XADD', key, ...)
end
`;

/**
 * How far a log entry's id may lie ahead of the server's time as the client estimates it (ms) before
 * `xadd_now` replaces the log: a day. Far above any clock error, so that an honest fleet never
 * replaces its log: a client whose server refuses `TIME` uses its own clock (server-clock.ts), a
 * server's clock may step forward between two measurements, and a writer that replaced the log at
 * every append would make every reader reload the state each time (found by a review with a writer
 * two hours behind). A log dated less than a day ahead is only trimmed that much later.
 */
export const MAX_LOG_ID_AHEAD_MS = 86_400_000;

/** Logged when a script replaced keys (its reply counted them). */
export function warnRepaired(redis: KccRedis): void {
  redis.config.logger.warn(
    'revocation keys in Redis held a value of the wrong type, or a log entry dated far ahead of the server\'s clock: replaced, and what they held is lost ' +
      '(no kcc-redis client writes these: a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
  );
}

/** A key's Redis type, as `own_type` names it. */
export type KeyKind = 'zset' | 'string' | 'stream' | 'hash';

// KEYS: one key; ARGV: its kind. Returns 1 when it replaced the key, else 0.
const OWN_TYPE = `${LUA_KEY_REPAIR}
own_type(KEYS[1], ARGV[1])
return repaired
`;

/** Whether `error` is Redis refusing a command on a key of another type (`WRONGTYPE`). */
export function isWrongTypeReply(error: unknown): boolean {
  return error instanceof Error && /\bWRONGTYPE\b/.test(error.message);
}

/**
 * For a reader of one shared key: runs `read`; if Redis answers `WRONGTYPE`, replaces `key` unless it
 * is of type `kind` (as the write scripts do with `own_type`), logs it, and runs `read` once more.
 */
export async function readReplacingWrongType<T>(redis: KccRedis, key: string, kind: KeyKind, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!isWrongTypeReply(error)) throw error;
    await replaceWrongType(redis, key, kind);
    return read();
  }
}

/** Replaces `key` unless it is missing or of type `kind`, and logs it; resolves whether it did. */
export async function replaceWrongType(redis: KccRedis, key: string, kind: KeyKind): Promise<boolean> {
  const replaced = (await redis.script<number>(OWN_TYPE, [key], [kind])) > 0;
  if (replaced) warnReplaced(redis, `${key} (not a ${kind})`);
  return replaced;
}

/** Logged when a script or a reader replaced `what` (keys named, never their values). */
export function warnReplaced(redis: KccRedis, what: string): void {
  redis.config.logger.warn(
    `${what} in Redis held a value of the wrong type, or a log entry dated far ahead of the server's clock: replaced, and what it held is lost ` +
      '(no kcc-redis client writes one: a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
  );
}
