/** Stable codes of the errors the client throws. */
export type KccClientErrorCode =
  /** Options, environment or secret do not add up to a usable connection; the message lists every problem. */
  | 'KCC_CONFIG_INVALID'
  /** Redis refused the credentials and re-reading them did not help. */
  | 'KCC_AUTH_FAILED'
  /** The connection could not be made or was closed. */
  | 'KCC_CONNECTION_FAILED'
  /** An AWS API (Secrets Manager, ElastiCache) needed for the config failed. */
  | 'KCC_AWS_LOOKUP_FAILED'
  /** The key ring in Redis was refused (tampered, corrupt, or encrypted under another key-encryption key). */
  | 'KCC_KEYRING_INVALID'
  /** A value given to a primitive is not acceptable (too large, wrong type). */
  | 'KCC_INVALID_ARGUMENT';

/**
 * The one error class of the client. `code` is stable; the message says what was wrong and what
 * to do, and never contains a password.
 */
export class KccClientError extends Error {
  readonly code: KccClientErrorCode;

  constructor(code: KccClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KccClientError';
    this.code = code;
  }
}
