import { isPlainObject } from '../plain-object.js';

/**
 * A revocation as carried by the event log and the bus. Times: `exp` in ms, not-befores and `upTo`
 * in epoch seconds. A session revocation with `upTo` refuses only the tokens of that `sid` issued
 * (`iat`) at or before it (a back-channel logout that leaves Keycloak's offline session of the same
 * `sid` alive: docs/logout-sync.md); without it, every token of the `sid`. A reader that does not
 * know `upTo` refuses every token of the `sid`: more, never less.
 */
export type RevocationEvent =
  | { readonly kind: 'session'; readonly sid: string; readonly exp: number; readonly upTo?: number }
  | { readonly kind: 'subject'; readonly sub: string; readonly nbf: number }
  | { readonly kind: 'client'; readonly nbf: number };

/**
 * What one log entry / pub/sub message carries: the revocations written together.
 *
 * `v` is the format version. A change that readers of this version could misread gets a new
 * version (and, during a rolling deploy, writers keep writing this one until every reader knows
 * the next); additions do not: a reader skips (and counts) a revocation kind it does not know and
 * ignores fields it does not know.
 */
export interface RevocationBatch {
  readonly v: typeof REVOCATION_BATCH_VERSION;
  /** Each element is checked on its own when applied ({@link revocationProblem}): a bad one is dropped, the others apply. */
  readonly revocations: readonly unknown[];
}

/** Format version of {@link RevocationBatch}. */
export const REVOCATION_BATCH_VERSION = 1;

/** Envelope type of revocation batches on the revocation log and channel. */
export const REVOCATION_EVENT = 'revocation';

/** Most revocations in one batch (one script call, one message). */
export const MAX_BATCH = 256;

/** Longest `sid` / `sub` accepted (characters). */
export const MAX_REVOCATION_ID_LENGTH = 256;

/**
 * How far in the future a not-before may lie (seconds): clocks of Keycloak and of the instances
 * differ by a few seconds. A later one would refuse tokens not yet issued, i.e. every token until
 * then: it is refused at every entry (API, pub/sub, log, stored state).
 */
export const MAX_NOT_BEFORE_SKEW_SECONDS = 60;

/**
 * How much later than {@link MAX_NOT_BEFORE_SKEW_SECONDS} allows a not-before that comes from Redis
 * (pub/sub, the event log, the stored state, the write script's comparison with what is stored)
 * may lie and still be taken as honest (seconds). The instance that took it from its app judged it
 * by its own clock, or the write script by its estimate of the server's; the one that reads it
 * judges by another clock, which may run behind by a few seconds. Without the slack, a not-before
 * taken a second before the limit was refused, or removed from Redis, where the clock ran behind.
 * @internal
 */
export const NOT_BEFORE_READ_SLACK_SECONDS = 30;

const isId = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_REVOCATION_ID_LENGTH;

/** Whether `value` is a batch of this format version with 1 to {@link MAX_BATCH} elements (each checked when applied). */
export function isRevocationBatch(value: unknown): value is RevocationBatch {
  if (!isPlainObject(value) || value.v !== REVOCATION_BATCH_VERSION) return false;
  const list = value.revocations;
  return Array.isArray(list) && list.length > 0 && list.length <= MAX_BATCH;
}

/** Why a revocation is refused: a malformed one, a kind this release does not know, or a not-before too far in the future. */
export type RevocationRefusal = 'malformed' | 'unknown-kind' | 'future-not-before';

/**
 * What is wrong with `value` as a revocation at time `nowMs`, or undefined when it may be applied:
 * ids of 1 to {@link MAX_REVOCATION_ID_LENGTH} characters, times whole numbers, not-befores no later
 * than now + {@link MAX_NOT_BEFORE_SKEW_SECONDS} (+ `slackSeconds`, for one that came from Redis).
 * (A session's `exp` is not bounded here: a later one only keeps the record longer, and receivers
 * cap it at their own session lifetime. Nor is its `upTo`: one that is not a whole number or lies
 * too far ahead is applied as the whole session, refusing more.)
 */
export function revocationProblem(value: unknown, nowMs: number, slackSeconds = 0): RevocationRefusal | undefined {
  if (!isPlainObject(value) || typeof value.kind !== 'string') return 'malformed';
  switch (value.kind) {
    case 'session':
      // A bad `upTo` drops nothing: the receiver applies the session whole (Revocations.accept).
      return isId(value.sid) && Number.isSafeInteger(value.exp) ? undefined : 'malformed';
    case 'subject':
      if (!isId(value.sub) || !Number.isSafeInteger(value.nbf)) return 'malformed';
      return notBeforeProblem(value.nbf as number, nowMs, slackSeconds);
    case 'client':
      if (!Number.isSafeInteger(value.nbf)) return 'malformed';
      return notBeforeProblem(value.nbf as number, nowMs, slackSeconds);
    default:
      return 'unknown-kind';
  }
}

/** The latest not-before (epoch s) accepted at `nowMs`; `slackSeconds` for one that came from Redis ({@link NOT_BEFORE_READ_SLACK_SECONDS}). */
export function latestNotBefore(nowMs: number, slackSeconds = 0): number {
  return Math.floor(nowMs / 1000) + MAX_NOT_BEFORE_SKEW_SECONDS + slackSeconds;
}

function notBeforeProblem(nbf: number, nowMs: number, slackSeconds: number): RevocationRefusal | undefined {
  return nbf > latestNotBefore(nowMs, slackSeconds) ? 'future-not-before' : undefined;
}
