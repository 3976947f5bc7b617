/**
 * The snapshot tests' bulk of user-wide not-befores: stored, checked after a start, and the starting
 * instance's later reads of them intercepted (to restart a server or move a slot between two reads,
 * or to remove members above the read position).
 */
import type { Cluster, Redis } from 'ioredis';
import type { KccRedis, Revocations } from '../../client/src/index.js';
import { interceptCommand } from './redis.js';

export const SUBJECTS = 20_000;
/** Subjects stored with each not-before: a read by score cuts groups of equal scores between two pages. */
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

/** A read of the stored state: by rank (`ZRANGE start stop REV`) or by score (`ZRANGE max min BYSCORE REV`, and its groups of one score). */
export type ReadKind = 'rank' | 'score';

const kindOf = (args: unknown[]): ReadKind => (args.includes('BYSCORE') ? 'score' : 'rank');
/** Whether `args` are a read's first command: the range at rank 0, the page from the top. */
const isFirst = (args: unknown[]) => String(args[1]) === '0' || String(args[1]) === '+inf';

/** Runs `hook` before every read of `key` of the kind `kind` but the first of a read (each later range, page or group). */
export function beforeLaterReads(redis: KccRedis, key: string, kind: ReadKind, hook: () => Promise<void>): void {
  interceptCommand(redis, 'zrange', async (args, send) => {
    if (args[0] === key && kindOf(args) === kind && !isFirst(args)) await hook();
    return send();
  });
}

/** Counts the commands of reads by score of `key` that `redis` sends. */
export function countScoreReads(redis: KccRedis, key: string): () => number {
  let reads = 0;
  interceptCommand(redis, 'zrange', (args, send) => {
    if (args[0] === key && kindOf(args) === 'score') reads++;
    return send();
  });
  return () => reads;
}

/**
 * Before every range after the first of each read by rank of `key`, removes the top member through
 * `raw`: everything unread moves up a rank, the range does not begin with an entry the one before
 * held, and after each of three reads by rank fails so, the loader reads by score. (Only a purge of
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
