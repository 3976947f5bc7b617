import { KccError } from '@kcc-redis/client';
import { ReplyError } from 'ioredis';
import { errorText } from '../exit-codes.js';

/** A part of an app-env's status that could not be read: why, and the failure's code when it has one. */
export interface Unreadable {
  /** {@link errorText}: as the error says it (JSON escapes it; the table shows it on one line, escaped). */
  readonly error: string;
  /**
   * The failure's code, from the error caught: the client's stable one (`KCC_AUTH_FAILED`: Redis
   * refused the password; `KCC_AWS_LOOKUP_FAILED`: a secret not read, …), else the code a Redis error
   * reply starts with (`WRONGTYPE`, `NOPERM`, …); absent for any other failure.
   */
  readonly code?: string;
}
export type Part<T> = T | Unreadable;

export const isUnreadable = (part: object): part is Unreadable => typeof (part as Partial<Unreadable>).error === 'string';

/** The code of `error` or of the first error of its causes that has one (a CLI error wrapping the client's). */
function failureCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof KccError) return e.code;
    // An error reply's first word is its code (RESP: "-WRONGTYPE Operation against a key …").
    if (e instanceof ReplyError) return /^[A-Z][A-Z0-9_]*(?= |$)/.exec(e.message)?.[0];
  }
  return undefined;
}

export function unreadable(error: unknown): Unreadable {
  const code = failureCode(error);
  return code === undefined ? { error: errorText(error) } : { error: errorText(error), code };
}

export async function read<T>(part: () => Promise<T>): Promise<Part<T>> {
  try {
    return await part();
  } catch (error) {
    return unreadable(error);
  }
}
