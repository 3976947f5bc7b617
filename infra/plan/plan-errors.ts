/** Stable codes of the errors `kcc-redis plan` throws. */
export type KccPlanErrorCode =
  /** The previous template cannot be read, parsed, or is not a CloudFormation template. */
  | 'KCC_PLAN_INPUT_INVALID'
  /** The current config cannot be synthesized offline (bad config, a lookup not cached in cdk.context.json). */
  | 'KCC_PLAN_SYNTH_FAILED';

/** A problem with what `kcc-redis plan` was given: the message names the file or option and the fix. */
export class KccPlanError extends Error {
  readonly code: KccPlanErrorCode;

  constructor(code: KccPlanErrorCode, message: string) {
    super(message);
    this.name = 'KccPlanError';
    this.code = code;
  }
}
