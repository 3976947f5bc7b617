/**
 * The snapshot tests' bulk of user-wide not-befores: stored, checked after a start, and the starting
 * instance's later reads of them intercepted (to restart a server or move a slot between two reads,
 * or to remove members above the read position).
 */
import type { Cluster, Redis } from 'ioredis';
import type { KccRedis, Revocations } from '../../client/src/index.js';
import { READ_AFTER_ENTRY } from '../../client/src/revocation/revocation-snapshot.js';
import { interceptCommand } from './redis.js';

export const SUBJECTS = 20_000;
/** Subjects stored with each not-before: pages end inside groups of one score. */
const PER_SCORE = 400;

/** Replaces what `key` holds with SUBJECTS not-befores, `user-<i>` at `nbf` or up to 49 s before it, in batches. */
export async function storeSubjects(client: Redis | Cluster, key: string, nbf: number): Promise<void> {
  await client.del(key);
  for (let i = 0; i < SUBJECTS; i += 1_000) {
    await client.zadd(key, ...Array.from({ length: 1_000 }, (_, j) => [nbf - Math.floor((i + j) / PER_SCORE), `user-${i + j}`]).flat());
  }
}

/** The stored subjects `revocations` does not answer revoked for a token issued before every stored not-before. */
export function missingSubjects(revocations: Revocations, nbf: number): string[] {
  const iat = nbf - SUBJECTS / PER_SCORE - 10;
  return Array.from({ length: SUBJECTS }, (_, i) => `user-${i}`).filter((sub) => revocations.check({ sub, sid: 's', iat }) !== 'revoked');
}

/** A read of the stored state: by rank (`ZRANGE start stop REV`), or a page after an entry (the script READ_AFTER_ENTRY). */
export type ReadKind = 'rank' | 'entry';

/**
 * Routes every read of `key` that `redis` sends through `hook`, with its kind and where it starts
 * (the rank, or the entry it reads after: '0' and '\n' for a read's first command).
 */
function interceptReads(redis: KccRedis, key: string, hook: (kind: ReadKind, from: string, send: () => Promise<unknown>) => Promise<unknown>): void {
  interceptCommand(redis, 'zrange', (args, send) => (args[0] === key ? hook('rank', String(args[1]), send) : send()));
  // callBuffer('EVAL', script, 1, key, score, member, count).
  interceptCommand(redis, 'callBuffer', (args, send) =>
    args[0] === 'EVAL' && args[1] === READ_AFTER_ENTRY && args[3] === key ? hook('entry', `${String(args[4])}\n${String(args[5])}`, send) : send(),
  );
}

const isFirst = (from: string) => from === '0' || from === '\n';

/**
 * Runs `hook` before every read of `key` of the kind `kind` but the first of a read (each later range
 * or page), once per place a read starts (a page sent again, after LOADING say, runs it once).
 */
export function beforeLaterReads(redis: KccRedis, key: string, kind: ReadKind, hook: () => Promise<void>): void {
  let last: string | undefined;
  interceptReads(redis, key, async (read, from, send) => {
    if (read !== kind) return send();
    if (isFirst(from)) last = undefined;
    else if (from !== last) {
      last = from;
      await hook();
    }
    return send();
  });
}

/** Counts the pages of reads after an entry of `key` that `redis` sends (a page sent again counts once). */
export function countEntryReads(redis: KccRedis, key: string): () => number {
  let reads = 0;
  let last: string | undefined;
  interceptReads(redis, key, (read, from, send) => {
    if (read === 'entry' && from !== last) {
      reads++;
      last = from;
    }
    return send();
  });
  return () => reads;
}

/**
 * Before every range after the first of each read by rank of `key`, removes the top member through
 * `raw`: everything unread moves up a rank, the range does not begin with an entry the one before
 * held, and after each of three reads by rank fails so, the loader reads each page after the last
 * entry read. (Only a purge of
 * poison entries or a holder of the app's credentials removes members above the read position.)
 * Returns how many it removed.
 */
export function shiftUpEachRange(redis: KccRedis, raw: Redis | Cluster, key: string): () => number {
  let removed = 0;
  beforeLaterReads(redis, key, 'rank', async () => {
    const [top] = await raw.zrevrange(key, 0, 0);
    removed += await raw.zrem(key, top!);
  });
  return () => removed;
}
