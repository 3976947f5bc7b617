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
  /**
   * The session lifetimes (ms) running instances declare, longest first: writers keep the state for
   * the longest. Two or more: instances differ (a rolling deploy that changes the lifetime?).
   */
  readonly sessionLifetimesMs: readonly number[];
  /** The revocation event log: entries retained, and the times of its oldest and newest entry. */
  readonly log: { readonly length: number; readonly oldestAt: number | undefined; readonly newestAt: number | undefined };
}

/** Declared lifetimes read at most (an honest app-env has one, two during a change). */
const MAX_LIFETIMES_SHOWN = 16;

/** The largest time a Date holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** Reads the compacted revocation state and the log's extent, read-only, in one pipeline. */
export async function readRevocations(redis: KccRedis, now = Date.now()): Promise<RevocationStatus> {
  const [sessions, subjects, client, length, oldest, newest, lifetimes] = await redis.run(async (r) => {
    const replies = await (r as Redis)
      .pipeline()
      .zcount(redis.key(REVOCATION_KEYS.sessions), `(${now}`, '+inf')
      .zcard(redis.key(REVOCATION_KEYS.subjects))
      .get(redis.key(REVOCATION_KEYS.clientNotBefore))
      .xlen(redis.key(REVOCATION_KEYS.log))
      .xrange(redis.key(REVOCATION_KEYS.log), '-', '+', 'COUNT', 1)
      .xrevrange(redis.key(REVOCATION_KEYS.log), '+', '-', 'COUNT', 1)
      .zrangebyscore(redis.key(REVOCATION_KEYS.lifetimes), `(${now}`, '+inf', 'LIMIT', 0, MAX_LIFETIMES_SHOWN)
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
    // What instances write: whole milliseconds (anything else is ignored by the writers too).
    sessionLifetimesMs: (lifetimes as string[]).filter((m) => /^[1-9]\d{0,14}$/.test(m)).map(Number).sort((a, b) => b - a),
    log: { length: Number(length), oldestAt: entryTime(oldest), newestAt: entryTime(newest) },
  };
}
