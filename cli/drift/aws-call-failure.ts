import { CliFailure } from '../exit-codes.js';

/**
 * An AWS call that failed otherwise than "not found", as a CliFailure whose message names the cause
 * and its fix. How the AWS SDK for JavaScript v3 reports the causes an operator can fix:
 * - no region: a plain `Error` "Region is missing" (@smithy/core's region config resolver), thrown
 *   before any request is sent;
 * - no credentials: a `CredentialsProviderError` (@smithy/core's property provider), also before
 *   any request;
 * - a denied action: the service's error code as the error's `name`: `AccessDenied` or
 *   `AccessDeniedException` for the query-protocol APIs such as ElastiCache, `UnauthorizedOperation`
 *   where EC2's conventions apply. Only these get the permission hint.
 */
export function awsCallFailure(service: string, operation: string, error: unknown): CliFailure {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const what = `${service} ${operation} failed`;
  if (/^Region is missing/i.test(message)) {
    return new CliFailure(`${what}: no AWS region: pass --region or set AWS_REGION`, { cause: error });
  }
  if (name === 'CredentialsProviderError') {
    return new CliFailure(`${what}: no AWS credentials found: ${message} (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role provides them)`, { cause: error });
  }
  if (/^AccessDenied/.test(name) || name === 'UnauthorizedOperation') {
    return new CliFailure(`${what}: ${name}: ${message} (the caller needs ${service.toLowerCase()}:${operation})`, { cause: error });
  }
  return new CliFailure(`${what}: ${name}: ${message}`, { cause: error });
}
