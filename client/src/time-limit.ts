import { KccAwsError } from './errors.js';

/** Resolves after `ms` without keeping the process alive. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * `promise`, or a rejection with `onTimeout()` once `ms` have passed (a later settlement of
 * `promise` is ignored; the work behind it cannot be cancelled from here). The timer does not keep
 * the process alive unless `keepAlive`: a wait whose failure the app must hear of (a start) passes it,
 * or a promise that holds no I/O of its own would let the process exit silently instead.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error = () => new Error(`no answer within ${ms} ms`), keepAlive = false): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    if (!keepAlive) timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `source` with each call given `timeoutMs` at most (`onTimeout()` then): for a source of secrets
 * the caller gives (a credentials or key-encryption-key provider), whose one call in flight every
 * later re-read joins, so that one that never settles cannot stop re-reading for good. The first
 * call's bound keeps the process alive (a start, which must fail with the error rather than let the
 * process end in silence); a re-read's does not hold a process that is closing.
 */
export function answeringWithin<T>(source: () => Promise<T>, timeoutMs: number, onTimeout: () => Error): () => Promise<T> {
  let first = true;
  return () => {
    const keepAlive = first;
    first = false;
    return withTimeout(Promise.resolve().then(source), timeoutMs, onTimeout, keepAlive);
  };
}

/**
 * A source of secrets the app gives as option `option` (a `credentialsProvider`, a
 * `keyEncryptionKeyProvider`), given `timeoutMs` (the connection's connectTimeoutMs) per call; one
 * that does not answer fails with a {@link KccAwsError} naming the option and the fix.
 */
export function secretSourceWithin<T>(option: string, source: () => Promise<T>, timeoutMs: number): () => Promise<T> {
  return answeringWithin(source, timeoutMs, () =>
    new KccAwsError(
      `${option} did not answer within ${timeoutMs} ms (connectTimeoutMs); make it always settle, or raise connectTimeoutMs for a source that is slow but answers. ` +
        'A re-read keeps what is held, and the next one asks again',
    ),
  );
}

/** Waits for `promise` to settle, `ms` at most; never rejects. True when it settled in time. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return withTimeout(settled, Math.max(0, ms)).catch(() => false);
}

/**
 * Runs `attempt` until it succeeds, trying again up to `retries` times, 250 ms apart at first and
 * doubling up to 4 s (8 retries: about 20 s in all). Undefined once they run out, or as soon as
 * `stopped()` says so.
 */
export async function withRetries<T>(attempt: () => Promise<T>, retries: number, stopped: () => boolean): Promise<{ readonly value: T } | undefined> {
  for (let failures = 0; !stopped(); failures++) {
    try {
      return { value: await attempt() };
    } catch {
      if (failures >= retries) return undefined;
      await pause(Math.min(250 * 2 ** failures, 4_000));
    }
  }
  return undefined;
}
