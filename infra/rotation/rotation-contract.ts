/**
 * What the rotation constructs (synth time) and the rotation handlers (run time) agree on: names,
 * the tags that mark a secret as rotated by one of the stack's functions, and time bounds. No CDK
 * and no AWS SDK imports here: both sides, and the Lambda bundles, import this file.
 */

/** The four steps Secrets Manager invokes a rotation function with, in order. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** One step of a Secrets Manager rotation. */
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** Secrets Manager's version stages a rotation moves between versions. */
export const STAGE = {
  current: 'AWSCURRENT',
  pending: 'AWSPENDING',
} as const;

/**
 * Tag key on every Redis user secret the stack rotates. Its value names the stack's rotation (the
 * replication group id, unique per account and region); the password rotation function rotates only
 * secrets that carry the value it was deployed with.
 */
export const ROTATION_TAG_KEY = 'kcc-redis:password-rotation';

/**
 * Tag key on every key-encryption-key secret the stack rotates (value: the replication group id).
 * A key of its own: each function refuses the other's secrets even where IAM would let it read them.
 */
export const KEK_ROTATION_TAG_KEY = 'kcc-redis:kek-rotation';

/** Environment variable that tells a function which value of its tag key it rotates. */
export const ROTATION_TAG_ENV = 'KCC_ROTATION_TAG';

/** Generated passwords: 64 letters and digits (the setup guide asks for 64 or more). */
export const ROTATED_PASSWORD_LENGTH = 64;

/** Generated key-encryption keys: 64 letters and digits, as the stack's first one. */
export const ROTATED_KEK_LENGTH = 64;

/**
 * Timing of the password rotation function, in one object.
 *
 * AWS asks for a timeout of at least 12 minutes for a function that rotates ElastiCache user
 * passwords (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/User-Secrets-Manager.html,
 * "set Timeout to at least 12 minutes"): ModifyUser on a user of a multi-shard replication group
 * can keep it `modifying` that long. Following AWS's own function
 * (aws-samples/aws-secrets-manager-rotation-lambdas, SecretsManagerElasticacheUserRotation), the
 * slow wait happens in its own invocation: setSecret returns once ModifyUser is accepted and
 * testSecret waits for `active`, so each gets a whole timeout.
 */
export const ROTATION_TIMING = {
  /** The function's timeout: Lambda's maximum (15 minutes), above AWS's 12-minute floor. */
  functionTimeoutSeconds: 900,
  /**
   * How long one invocation may wait, in total, for the ElastiCache user to be `active` (before and
   * after ModifyUser); bounded further by the invocation's remaining time minus {@link reserveMs}.
   */
  userActiveTimeoutMs: 780_000,
  /**
   * Time kept free after the last wait of an invocation, for the calls that follow it (ModifyUser
   * with its throttling back-off, Secrets Manager calls, the SDK's own retries): a wait that runs
   * out fails with a clear error instead of the function being killed mid-step.
   */
  reserveMs: 120_000,
  /** Delay between two DescribeUsers polls (AWS's function polls every 10 s). */
  pollIntervalMs: 10_000,
  /** Attempts of one ElastiCache call that AWS throttles (the first included). */
  throttleAttempts: 5,
  /** First back-off after a throttled call; doubles per attempt (full jitter), capped below. */
  throttleBaseDelayMs: 500,
  throttleMaxDelayMs: 8_000,
} as const;

/**
 * Default days between two rotations of a key-encryption key. With `KEK_HISTORY_LENGTH` earlier keys
 * kept (12), a ring idle for three years, or restored from a snapshot that old, stays readable.
 */
export const DEFAULT_KEK_ROTATION_DAYS = 90;

/** Timeout of the key-encryption-key rotation function: a handful of Secrets Manager calls, no waits. */
export const KEK_ROTATION_TIMEOUT_SECONDS = 60;
