import { KccRotationError } from '../errors.js';

/** Bounded exponential back-off for calls AWS throttles. */
export interface RetryPolicy {
  /** Attempts in total, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Called before each back-off (for the log); never given an input or a secret. */
  readonly onRetry?: (attempt: number, errorName: string, delayMs: number) => void;
}

/** How to call one AWS API: where (for the error), what to blank out of messages, how to retry. */
export interface AwsCallOptions {
  /** Names the secret, step and user, e.g. `secret arn:… (setSecret, user "my-app-prod")`. */
  readonly where: string;
  /** Values that must never reach a message (the passwords the call carries). */
  readonly redact?: readonly string[];
  /** Retry throttling (and the transient errors listed in `retryOn`); absent: one attempt. */
  readonly retry?: RetryPolicy;
  /** Error names retried like throttling, e.g. `InvalidUserStateFault` while a user is modifying. */
  readonly retryOn?: readonly string[];
}

const THROTTLING_ERRORS = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);

/** Whether AWS refused a call for its rate (by the SDK's own classification or the error name). */
export function isThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const retryable = (error as { $retryable?: { throttling?: boolean } }).$retryable;
  return retryable?.throttling === true || THROTTLING_ERRORS.has(error.name);
}

/** The name AWS gave an error (`UserNotFoundFault`, `ResourceNotFoundException`, …). */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Replaces every occurrence of each value in `text` with `***`. */
export function redact(text: string, values: readonly string[] = []): string {
  return values.filter((v) => v.length > 0).reduce((out, value) => out.split(value).join('***'), text);
}

/**
 * Runs one AWS call. Throttling (and `retryOn` errors) are retried with full-jitter exponential
 * back-off within `retry.attempts`; any other failure, or the last throttled one, becomes a
 * {@link KccRotationError} that names the operation, the place and the AWS error, with every
 * `redact` value blanked out of AWS's message (some AWS validation messages echo inputs). The
 * original error is not attached: the Lambda runtime would log it, inputs and all.
 */
export async function callAws<T>(operation: string, send: () => Promise<T>, options: AwsCallOptions): Promise<T> {
  const attempts = options.retry?.attempts ?? 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      const transient = isThrottling(error) || (options.retryOn ?? []).includes(errorName(error));
      if (transient && options.retry && attempt < attempts) {
        const { baseDelayMs, maxDelayMs } = options.retry;
        const delayMs = Math.round(Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
        options.retry.onRetry?.(attempt, errorName(error), delayMs);
        await options.retry.sleep(delayMs);
        continue;
      }
      throw awsFailure(operation, error, options, transient ? attempt : undefined);
    }
  }
}

function awsFailure(operation: string, error: unknown, options: AwsCallOptions, throttledAttempts: number | undefined): KccRotationError {
  const message = redact(error instanceof Error ? error.message : String(error), options.redact);
  const retried = throttledAttempts && throttledAttempts > 1 ? ` (still refused after ${throttledAttempts} attempts with back-off)` : '';
  return new KccRotationError(
    'KCC_ROTATION_AWS_FAILED',
    `${operation} failed for ${options.where}: ${errorName(error)}: ${message}${retried}. ` +
      'Secrets Manager retries the rotation; if it keeps failing, check the function role and the resource.',
  );
}
