/**
 * The snapshot tests' bulk of user-wide not-befores: stored, checked after a start, and the starting
 * instance's later reads of them intercepted (to restart a server or move a slot between two reads).
 */
import type { Cluster, Redis } from 'ioredis';
import type { KccRedis, Revocations } from '../../client/src/index.js';
import { interceptCommand } from './redis.js';

export const SUBJECTS = 20_000;

/** Replaces what `key` holds with SUBJECTS not-befores, `user-<i>` at `nbf`, in batches. */
export async function storeSubjects(client: Redis | Cluster, key: string, nbf: number): Promise<void> {
  await client.del(key);
  for (let i = 0; i < SUBJECTS; i += 1_000) {
    await client.zadd(key, ...Array.from({ length: 1_000 }, (_, j) => [nbf, `user-${i + j}`]).flat());
  }
}

/** The stored subjects `revocations` does not answer revoked for a token issued before `nbf`. */
export function missingSubjects(revocations: Revocations, nbf: number): string[] {
  return Array.from({ length: SUBJECTS }, (_, i) => `user-${i}`).filter((sub) => revocations.check({ sub, sid: 's', iat: nbf - 60 }) !== 'revoked');
}

/** Runs `hook` before every read of `key` with `command` (a ZSCAN page, a range) but the first of a read. */
export function beforeLaterReads(redis: KccRedis, key: string, command: 'zscan' | 'zrange', hook: () => Promise<void>): void {
  interceptCommand(redis, command, async (args, send) => {
    if (args[0] === key && String(args[1]) !== '0') await hook();
    return send();
  });
}

/** Counts the ZSCAN pages of `key` that `redis` sends. */
export function countScans(redis: KccRedis, key: string): () => number {
  let scans = 0;
  interceptCommand(redis, 'zscan', (args, send) => {
    if (args[0] === key) scans++;
    return send();
  });
  return () => scans;
}
