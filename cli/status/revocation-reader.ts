import type { Redis } from 'ioredis';
import type { KccRedis } from '@kcc-redis/client';
import { REVOCATION_KEYS } from '@kcc-redis/client/contract';

/** What status reports about an app-env's revocations. Times are ms since the epoch. */
export interface RevocationStatus {
  /** Revoked sessions still remembered. */
  readonly sessions: number;
  /** Users with a not-before. */
  readonly subjects: number;
  /** The client-wide not-before (epoch seconds), or undefined. */
  readonly clientNotBefore: number | undefined;
  /** The revocation event log: entries retained, and the times of its oldest and newest entry. */
  readonly log: { readonly length: number; readonly oldestAt: number | undefined; readonly newestAt: number | undefined };
}

/** Reads the compacted revocation state and the log's extent, read-only, in one pipeline. */
export async function readRevocations(redis: KccRedis, now = Date.now()): Promise<RevocationStatus> {
  const [sessions, subjects, client, length, oldest, newest] = await redis.run(async (r) => {
    const replies = await (r as Redis)
      .pipeline()
      .zcount(redis.key(REVOCATION_KEYS.sessions), `(${now}`, '+inf')
      .zcard(redis.key(REVOCATION_KEYS.subjects))
      .get(redis.key(REVOCATION_KEYS.clientNotBefore))
      .xlen(redis.key(REVOCATION_KEYS.log))
      .xrange(redis.key(REVOCATION_KEYS.log), '-', '+', 'COUNT', 1)
      .xrevrange(redis.key(REVOCATION_KEYS.log), '+', '-', 'COUNT', 1)
      .exec();
    return (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  });
  const entryTime = (entries: unknown) => {
    const id = (entries as [string, unknown][] | undefined)?.[0]?.[0];
    return id === undefined ? undefined : Number(id.split('-')[0]);
  };
  const notBefore = client === null || client === undefined ? undefined : Number(client);
  return {
    sessions: Number(sessions),
    subjects: Number(subjects),
    clientNotBefore: Number.isFinite(notBefore) ? notBefore : undefined,
    log: { length: Number(length), oldestAt: entryTime(oldest), newestAt: entryTime(newest) },
  };
}
