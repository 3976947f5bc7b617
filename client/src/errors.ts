/**
 * Errors of the client: one class per failure family, each with a stable `code` (a code never means
 * two things). Catch by class (`error instanceof KccClosedError`) or by `code`. Messages say what was
 * wrong and what to do; no message, `cause` or property ever carries a password, token or key.
 *
 * Misuse by the caller (a method argument of the wrong type or range) throws a plain `TypeError`
 * naming the argument; these classes are for everything that depends on configuration, data, Redis
 * or AWS.
 */
export type KccErrorCode =
  | 'KCC_CONFIG_INVALID'
  | 'KCC_AUTH_FAILED'
  | 'KCC_CONNECTION_FAILED'
  | 'KCC_CLOSED'
  | 'KCC_NOT_READY'
  | 'KCC_LOCK_TIMEOUT'
  | 'KCC_AWS_LOOKUP_FAILED'
  | 'KCC_KEYRING_INVALID'
  | 'KCC_SECRET_INVALID'
  | 'KCC_INPUT_INVALID';

/** The base class of every error the client throws (except `TypeError` for misuse). */
export abstract class KccError extends Error {
  /** Stable code of the failure family. */
  abstract readonly code: KccErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Options, environment variables or a secret do not add up to a usable configuration, or an
 * optional package a setting needs is not installed (the problem names it and the `npm install`
 * command). `problems` lists each one (`"<option>: <what is wrong>"`); the message lists them all.
 */
export class KccConfigError extends KccError {
  readonly code = 'KCC_CONFIG_INVALID' as const;
  readonly problems: readonly string[];

  /**
   * @param subject - what is invalid, heading the message: `"<subject> is invalid (N problems):"`, or
   * `"… are invalid …"` when it ends in the plural "options" (`'KccRedis.connect options'`).
   */
  constructor(subject: string, problems: readonly string[], options?: { cause?: unknown }) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    const verb = PLURAL_SUBJECT.test(subject) ? 'are' : 'is';
    super(`${subject} ${verb} invalid (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.problems = problems;
  }
}

/** A subject that takes "are": the options of an entry point (every other subject is one thing: a config, a registration). */
const PLURAL_SUBJECT = /\boptions$/;

/** Redis refused the credentials, and re-reading them (secret, provider) did not help. */
export class KccAuthError extends KccError {
  readonly code = 'KCC_AUTH_FAILED' as const;
}

/** A connection to Redis could not be made within `connectTimeoutMs`, or failed for good. */
export class KccConnectionError extends KccError {
  readonly code = 'KCC_CONNECTION_FAILED' as const;
}

/** The object (connection, key ring, revocations, provider) was closed; open a new one. */
export class KccClosedError extends KccError {
  readonly code = 'KCC_CLOSED' as const;
}

/** Called before the object was started or connected, or it has nothing to offer yet (no active key). */
export class KccNotReadyError extends KccError {
  readonly code = 'KCC_NOT_READY' as const;
}

/** A lock (e.g. the key-ring rotation lock) held by another instance was not released in time. */
export class KccLockTimeoutError extends KccError {
  readonly code = 'KCC_LOCK_TIMEOUT' as const;
}

/**
 * An AWS API the configuration needs (Secrets Manager, ElastiCache) failed or did not answer within
 * `connectTimeoutMs`, IAM authentication's credential provider failed or did not answer, or a
 * `credentialsProvider` / `keyEncryptionKeyProvider` of the app's did not answer. A missing AWS SDK
 * package is a {@link KccConfigError}.
 */
export class KccAwsError extends KccError {
  readonly code = 'KCC_AWS_LOOKUP_FAILED' as const;
}

/** The key ring in Redis was refused: tampered, corrupt, or encrypted under another key-encryption key. */
export class KccKeyRingError extends KccError {
  readonly code = 'KCC_KEYRING_INVALID' as const;
}

/** A secret's value is not the JSON shape the stack writes. The message names fields, never values. */
export class KccSecretError extends KccError {
  readonly code = 'KCC_SECRET_INVALID' as const;
}

/** A value that came from data, not code (an id from a token, a message size) is not acceptable. */
export class KccInputError extends KccError {
  readonly code = 'KCC_INPUT_INVALID' as const;
}
