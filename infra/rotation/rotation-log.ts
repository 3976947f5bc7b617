/**
 * One log line of the rotation function. The fields are fixed on purpose: there is no place for
 * a secret value, only the secret's ARN, the step, the user id and what happened.
 */
export interface RotationLogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly secretArn: string;
  /** The event's step as received (it may be unknown). */
  readonly step: string;
  readonly userId?: string;
  /** The error's stable code, on `error` lines. */
  readonly code?: string;
  /**
   * On `error` lines of createSecret, setSecret and testSecret: what to do if Secrets Manager's own
   * retries of the rotation fail too (the pending version then blocks every later rotation).
   */
  readonly ifRetriesFail?: string;
  /** Throttled attempt number and the AWS error name, on retry lines. */
  readonly attempt?: number;
  readonly awsError?: string;
}

/** Where log lines go. */
export type RotationLog = (entry: RotationLogEntry) => void;

/** One JSON object per line on stdout/stderr, which Lambda sends to the function's log group. */
export const consoleRotationLog: RotationLog = (entry) => {
  const line = JSON.stringify(entry);
  if (entry.level === 'error') console.error(line);
  else if (entry.level === 'warn') console.warn(line);
  else console.info(line);
};
