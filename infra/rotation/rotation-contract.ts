/**
 * What the rotation construct (synth time) and the rotation handler (run time) agree on: names,
 * the tag that marks a secret as rotated by the stack's function, and time bounds. No CDK and no
 * AWS SDK imports here: both sides, and the Lambda bundle, import this file.
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
 * Tag key on every user secret the stack rotates. Its value names the stack's rotation (the
 * replication group id, unique per account and region); the function rotates only secrets that
 * carry the value it was deployed with.
 */
export const ROTATION_TAG_KEY = 'kcc-redis:password-rotation';

/** Environment variable that tells the function which value of {@link ROTATION_TAG_KEY} it rotates. */
export const ROTATION_TAG_ENV = 'KCC_ROTATION_TAG';

/** Generated passwords: 64 letters and digits (the setup guide asks for 64 or more). */
export const ROTATED_PASSWORD_LENGTH = 64;

/** Timing of the rotation function, in one object. */
export const ROTATION_TIMING = {
  /**
   * How long one step may wait, in total, for the ElastiCache user to be `active` (before and after
   * ModifyUser). ModifyUser on a user attached to a replication group usually settles within a
   * minute; the bound leaves the step a clear error well before the function's timeout.
   */
  userActiveTimeoutMs: 240_000,
  /** Delay between two DescribeUsers polls. */
  pollIntervalMs: 5_000,
  /** Attempts of one ElastiCache call that AWS throttles (the first included). */
  throttleAttempts: 5,
  /** First back-off after a throttled call; doubles per attempt (full jitter), capped below. */
  throttleBaseDelayMs: 500,
  throttleMaxDelayMs: 8_000,
  /** The function's timeout: the wait bound plus room for the other calls. */
  functionTimeoutSeconds: 300,
} as const;
