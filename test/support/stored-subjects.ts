/**
 * The snapshot tests' bulk of user-wide not-befores: stored, and checked after a start (their reads
 * are intercepted with snapshot-reads.ts).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Revocations } from '../../client/src/index.js';

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
