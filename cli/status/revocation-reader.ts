import type { Redis } from 'ioredis';
import type { KccRedis } from '@kcc-redis/client';
import { REVOCATION_KEYS } from '@kcc-redis/client/contract';
import { runReadScript } from '../../client/src/read-script.js';
import { oldestLiveUpTo } from '../../client/src/revocation/revocation-index.js';
import { DECLARATION_MEMBERS_READ, MAX_DECLARATIONS_READ, currentDeclarationWindow, isDeclaredLifetime } from '../../client/src/revocation/session-lifetimes.js';
import { type Part, unreadable } from './unreadable.js';

/** What status reports about an app-env's revocations. Times are ms since the epoch. */
export interface RevocationStatus {
  /** Sessions revoked whole, still remembered. */
  readonly sessions: number;
  /**
   * Sessions revoked up to a time (a back-channel logout that left Keycloak's offline session
   * alive), still remembered for the longest lifetime running instances declare; with none declared,
   * every one stored, expired ones included until a writer prunes them (every 64th write).
   */
  readonly sessionsUpTo: number;
  /** Users with a not-before. */
  readonly subjects: number;
  /** The client-wide not-before (epoch seconds), or undefined (none, or malformed). */
  readonly clientNotBefore: number | undefined;
  /** What is stored as the client-wide not-before when it is not epoch seconds a Date can hold (its first 40 characters), else undefined. */
  readonly clientNotBeforeMalformed: string | undefined;
  /** The session lifetimes running instances declare (unreadable alone: a key of the wrong type, which writers ignore). */
  readonly sessionLifetimes: Part<SessionLifetimesStatus>;
  /** The revocation event log: entries retained, and the times of its oldest and newest entry. */
  readonly log: { readonly length: number; readonly oldestAt: number | undefined; readonly newestAt: number | undefined };
}

/** The session lifetimes declared in an app-env, as the writers count them (client/src/revocation/session-lifetimes.ts). */
export interface SessionLifetimesStatus {
  /** Current declarations, longest first: writers keep the state for the longest. Two or more: instances differ (a rolling deploy that changes the lifetime?). */
  readonly declaredMs: readonly number[];
  /** More than {@link MAX_DECLARATIONS_READ} are current (forged?): writers keep the state for the longest possible lifetime. */
  readonly crowded: boolean;
}

/** Bytes of the stored client-wide not-before read: epoch seconds take 10; anything longer is malformed, and shown cut. */
const CLIENT_VALUE_SHOWN = 40;

/**
 * The ids of the log's first and last entries (false where it is empty), without handing over the
 * entries (a holder of the app's credentials can make one hundreds of MB, which ioredis cannot turn
 * into a string). Reads only; ARGV[1] is runReadScript's and unused.
 */
const LOG_END_IDS = `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
return { first and first[1] or false, last and last[1] or false }
`;

/** The largest time a Date holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** Reads the compacted revocation state and the log's extent, read-only, in one pipeline. */
export async function readRevocations(redis: KccRedis, now = Date.now()): Promise<RevocationStatus> {
  const window = currentDeclarationWindow(now);
  const [sessions, sessionsUpTo, subjects, clientStart, clientBytes, length, lifetimes] = await redis.run(async (r) => {
    const replies = await (r as Redis)
      .pipeline()
      .zcount(redis.key(REVOCATION_KEYS.sessions), `(${now}`, '+inf')
      .zcard(redis.key(REVOCATION_KEYS.sessionsUpTo))
      .zcard(redis.key(REVOCATION_KEYS.subjects))
      // Its start only: a holder of the app's credentials can store hundreds of MB there.
      .getrange(redis.key(REVOCATION_KEYS.clientNotBefore), 0, CLIENT_VALUE_SHOWN - 1)
      .strlen(redis.key(REVOCATION_KEYS.clientNotBefore))
      .xlen(redis.key(REVOCATION_KEYS.log))
      .zrangebyscore(redis.key(REVOCATION_KEYS.lifetimes), `(${window.from}`, window.to, 'LIMIT', 0, DECLARATION_MEMBERS_READ + 1)
      .exec();
    // The declarations (the last reply) are a part of their own: writers ignore a key of the wrong type there.
    const declarations = replies?.length ?? 0;
    return (replies ?? []).map(([error, value], i) => {
      if (error && i < declarations - 1) throw error;
      return error ?? value;
    });
  });
  let upTo = Number(sessionsUpTo);
  const declared = lifetimes instanceof Error ? undefined : declaredLifetimes(lifetimes as string[]);
  const longest = declared?.crowded === false ? declared.declaredMs[0] : undefined;
  if (upTo > 0 && longest !== undefined) {
    // As the instances hold them (writers prune the older ones).
    upTo = Number(await redis.run((r) => r.zcount(redis.key(REVOCATION_KEYS.sessionsUpTo), String(oldestLiveUpTo(now, longest)), '+inf')));
  }
  const [oldest, newest] = await runReadScript<[string | false | null, string | false | null]>(redis, LOG_END_IDS, [redis.key(REVOCATION_KEYS.log)], []);
  const entryTime = (id: string | false | null) => (typeof id === 'string' ? Number(id.split('-')[0]) : undefined);
  const stored = Number(clientBytes) === 0 ? undefined : Number(clientBytes) > CLIENT_VALUE_SHOWN ? `${String(clientStart)}…` : String(clientStart);
  const notBefore = stored === undefined ? undefined : Number(stored);
  // Instances refuse what is not whole epoch seconds; a number beyond Date's range is no time either.
  const wellFormed = notBefore !== undefined && Number.isSafeInteger(notBefore) && Math.abs(notBefore) * 1000 <= MAX_DATE_MS;
  return {
    sessions: Number(sessions),
    sessionsUpTo: upTo,
    subjects: Number(subjects),
    clientNotBefore: wellFormed ? notBefore : undefined,
    clientNotBeforeMalformed: stored !== undefined && !wellFormed ? stored : undefined,
    sessionLifetimes: lifetimes instanceof Error ? unreadable(lifetimes) : declaredLifetimes(lifetimes as string[]),
    log: { length: Number(length), oldestAt: entryTime(oldest), newestAt: entryTime(newest) },
  };
}

/**
 * The session lifetimes running instances declare, read alone: what `revoke --sid` checks its
 * lifetime against. Not through {@link readRevocations}, which throws on a key of the wrong type in
 * the state or the log, so a holder of the app-env's credentials who planted one blocked every
 * `--sid` (an attack review) where the writer would have replaced it. A wrong-typed declarations
 * key is unreadable, as writers ignore it.
 */
export async function readSessionLifetimes(redis: KccRedis, now = Date.now()): Promise<Part<SessionLifetimesStatus>> {
  const window = currentDeclarationWindow(now);
  try {
    const members = await redis.run((r) => r.zrangebyscore(redis.key(REVOCATION_KEYS.lifetimes), `(${window.from}`, window.to, 'LIMIT', 0, DECLARATION_MEMBERS_READ + 1));
    return declaredLifetimes(members);
  } catch (error) {
    if (error instanceof Error && error.message.includes('WRONGTYPE')) return unreadable(error);
    throw error;
  }
}

/** The declarations as the writers count them: lifetimes only (anything else is ignored there too), distinct, longest first. */
function declaredLifetimes(members: readonly string[]): SessionLifetimesStatus {
  const lifetimes = members.filter(isDeclaredLifetime);
  const declaredMs = [...new Set(lifetimes.map(Number))].sort((a, b) => b - a);
  return { declaredMs, crowded: members.length > DECLARATION_MEMBERS_READ || lifetimes.length > MAX_DECLARATIONS_READ };
}
