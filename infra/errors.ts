/** Stable codes of the errors the infra side throws. */
export type KccInfraErrorCode = 'KCC_CONFIG_INVALID';

/**
 * Thrown at synth when the `kcc` context in cdk.json breaks a rule. One error lists every
 * problem, each naming the field, the value received and the rule.
 */
export class KccConfigError extends Error {
  readonly code: KccInfraErrorCode = 'KCC_CONFIG_INVALID';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      `Invalid kcc config (cdk.json "context.kcc"): ${problems.length} problem(s):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
    this.name = 'KccConfigError';
    this.problems = problems;
  }
}
