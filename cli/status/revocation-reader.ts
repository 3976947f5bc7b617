import type { Redis } from 'ioredis';
import type { KccRedis } from '@kcc-redis/client';
import { REVOCATION_KEYS } from '@kcc-redis/client/contract';

/** What status reports about an app-env's revocations. Times are ms since the epoch. */
export interface RevocationStatus {
  /** Revoked sessions still remembered. */
  readonly sessions: number;
  /** Users with a not-before. */
  readonly subjects: number;
  /** The client-wide not-before (epoch seconds), or undefined (none, or malformed). */
  readonly clientNotBefore: number | undefined;
  /** What is stored as the client-wide not-before when it is not epoch seconds a Date can hold (its first 40 characters), else undefined. */
  readonly clientNotBeforeMalformed: string | undefined;
  /** The revocation event log: entries retained, and the times of its oldest and newest entry. */
  readonly log: { readonly length: number; readonly oldestAt: number | undefined; readonly newestAt: number | undefined };
}

/** The largest time a Date holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

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
  const stored = client === null || client === undefined ? undefined : String(client);
  const notBefore = stored === undefined ? undefined : Number(stored);
  // Instances refuse what is not whole epoch seconds; a number beyond Date's range is no time either.
  const wellFormed = notBefore !== undefined && Number.isSafeInteger(notBefore) && Math.abs(notBefore) * 1000 <= MAX_DATE_MS;
  return {
    sessions: Number(sessions),
    subjects: Number(subjects),
    clientNotBefore: wellFormed ? notBefore : undefined,
    clientNotBeforeMalformed: stored !== undefined && !wellFormed ? stored.slice(0, 40) : undefined,
    log: { length: Number(length), oldestAt: entryTime(oldest), newestAt: entryTime(newest) },
  };
}
