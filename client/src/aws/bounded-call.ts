import { KccAwsError } from '../errors.js';
import { withTimeout } from '../time-limit.js';

/**
 * Runs an AWS SDK call given `timeoutMs` at most: past it the call's `abortSignal` fires (the SDK
 * closes the request's socket) and a {@link KccAwsError} names `service`, the wait and the fix.
 * The SDK alone bounds a request into a black hole (an unreachable VPC endpoint, a NAT gateway
 * gone) by nothing in the releases the peer range allows from 3.600, by 5 minutes of socket silence
 * per attempt (retried) in recent ones: a start hung, and a re-read of a rotated secret, which every
 * later re-read joins, stopped them all meanwhile.
 */
export function callWithin<T>(service: string, timeoutMs: number, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  return withTimeout(
    call(controller.signal),
    timeoutMs,
    () => {
      controller.abort();
      return new KccAwsError(
        `${service} did not answer within ${timeoutMs} ms (connectTimeoutMs; the AWS credentials the request resolves first and the SDK's retries count too): ` +
          'check that it is reachable from here (its VPC endpoint or a NAT gateway, the security group), or raise connectTimeoutMs for a source that is slow but answers',
      );
    },
    true,
  );
}
