/** Stable codes of the errors the infra side throws at synth. */
export type KccInfraErrorCode =
  /** The `kcc` config in cdk.json breaks a rule. */
  | 'KCC_STACK_CONFIG_INVALID'
  /** The props given to a construct (`KccRedisCache`, `KccRedisNetwork`, …) break a rule. */
  | 'KCC_CACHE_PROPS_INVALID';

/**
 * Base of the errors thrown at synth: every one lists all of its problems at once, each naming the
 * field or prop, the value received and the rule. Distinct from the client's `KCC_CONFIG_INVALID`.
 */
export abstract class KccInfraError extends Error {
  abstract readonly code: KccInfraErrorCode;
  readonly problems: readonly string[];

  protected constructor(title: string, problems: readonly string[]) {
    super(`${title}: ${problems.length === 1 ? '1 problem' : `${problems.length} problems`}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** The `kcc` context in cdk.json breaks a rule (thrown by `parseConfig` and `buildApp`). */
export class KccStackConfigError extends KccInfraError {
  readonly code = 'KCC_STACK_CONFIG_INVALID' as const;

  constructor(problems: readonly string[]) {
    super('Invalid kcc config (cdk.json "context.kcc")', problems);
    this.name = 'KccStackConfigError';
  }
}

/** A construct's props break a rule; `construct` names the construct class and path. */
export class KccCachePropsError extends KccInfraError {
  readonly code = 'KCC_CACHE_PROPS_INVALID' as const;

  constructor(construct: string, problems: readonly string[]) {
    super(`Invalid props for ${construct}`, problems);
    this.name = 'KccCachePropsError';
  }
}

/** Stable codes of the errors the rotation functions (passwords, key-encryption keys) throw. */
export type KccRotationErrorCode =
  /** The event is not a Secrets Manager rotation event (missing field, unknown step). */
  | 'KCC_ROTATION_BAD_EVENT'
  /** The secret is not one this function rotates (it lacks the stack's rotation tag). */
  | 'KCC_ROTATION_NOT_MANAGED'
  /** Rotation is not enabled on the secret. */
  | 'KCC_ROTATION_DISABLED'
  /** The version in the event is unknown, or does not carry the stage the step needs. */
  | 'KCC_ROTATION_WRONG_STAGE'
  /** A secret version does not hold the user secret the stack writes, or names another user. */
  | 'KCC_ROTATION_SECRET_INVALID'
  /** The ElastiCache user does not exist, is not a password user, or is not the secret's user. */
  | 'KCC_ROTATION_USER_INVALID'
  /** The ElastiCache user did not become `active` in time. */
  | 'KCC_ROTATION_USER_NOT_ACTIVE'
  /** The pending version holds the current value, not a new one: refused, its AWSPENDING label removed. */
  | 'KCC_ROTATION_STALE_PENDING'
  /** testSecret found the user without the passwords it needs, or a pending key-encryption key that lost an earlier key. */
  | 'KCC_ROTATION_TEST_FAILED'
  /** An AWS API call failed (after retries when throttled). */
  | 'KCC_ROTATION_AWS_FAILED'
  /** Anything else (a bug): the message is the original one, with every password blanked out. */
  | 'KCC_ROTATION_UNEXPECTED';

/**
 * Thrown by the rotation functions. The message names the secret (ARN), the step and (for passwords)
 * the ElastiCache user, says what to do, and never contains a password or a key.
 */
export class KccRotationError extends Error {
  readonly code: KccRotationErrorCode;

  constructor(code: KccRotationErrorCode, message: string) {
    super(message);
    this.name = 'KccRotationError';
    this.code = code;
  }
}
