import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KccRotationError } from '../errors.js';
import { callAws, errorName, redact } from './aws-call.js';
import { ROTATION_STEPS, ROTATION_TAG_ENV, type RotationStep, STAGE } from './rotation-contract.js';
import type { RotationLog, RotationLogEntry } from './rotation-log.js';
import { type SecretFormat, type SecretVersion, SecretVersions } from './secret-versions.js';

/**
 * The event Secrets Manager invokes a rotation function with
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda.html).
 */
export interface RotationEvent {
  readonly Step: string;
  readonly SecretId: string;
  /** The id of the version being rotated in; every step (and every retry) of one rotation gets the same. */
  readonly ClientRequestToken: string;
  readonly RotationToken?: string;
}

/** The part of Lambda's context object the functions use. */
export interface RotationInvocationContext {
  /** Milliseconds before Lambda stops this invocation. */
  getRemainingTimeInMillis(): number;
}

/** A rotation function: Lambda calls it with the event and its context. */
export type RotationHandler = (event: RotationEvent, context?: RotationInvocationContext) => Promise<void>;

/** Fields of a log line besides the level and the message. */
export type StepLogFields = Pick<RotationLogEntry, 'userId' | 'attempt' | 'awsError'>;

/** What every step gets from the frame, once the guards passed. */
export interface FrameContext<T> {
  readonly step: RotationStep;
  /** The version being rotated in (the event's ClientRequestToken). */
  readonly token: string;
  /** The secret's versions and their stages (DescribeSecret's VersionIdsToStages). */
  readonly stages: Readonly<Record<string, readonly string[]>>;
  readonly secrets: SecretVersions<T>;
  /**
   * The event's version, read with AWSPENDING; `undefined` when that version holds no value: GetSecretValue
   * answers ResourceNotFoundException (as for RotateSecret's new version before createSecret), or a
   * SecretString that is absent or blank and no SecretBinary. A value that is there but does not parse
   * fails as `secrets.get` does (KCC_ROTATION_SECRET_INVALID, naming the fields). For testSecret, whose
   * caller may be Secrets Manager's configuration test: see {@link pendingUnlessEmpty}.
   */
  readonly pendingUnlessEmpty: () => Promise<SecretVersion<T> | undefined>;
  /** `secret <arn> (<step>)`, for messages. */
  readonly where: string;
  /** Logs one line (never a value of the secret). */
  readonly log: (level: 'info' | 'warn', message: string, fields?: StepLogFields) => void;
  /** Milliseconds left in this invocation, when Lambda says. */
  readonly remainingMs: () => number | undefined;
}

/** What distinguishes one rotation function from another. */
export interface RotationFrameSpec<T> {
  /** The tag key a secret must carry, with the value {@link rotationTag}. */
  readonly tagKey: string;
  /** @default the `KCC_ROTATION_TAG` environment variable */
  readonly rotationTag: string | undefined;
  readonly format: SecretFormat<T>;
  readonly secretsManager: () => SecretsManagerClient;
  readonly log: RotationLog;
  /** Runs one step. */
  readonly run: (ctx: FrameContext<T>) => Promise<void>;
}

/**
 * The frame every kcc-redis rotation function runs its steps in, after AWS's own rotation
 * functions (aws-samples/aws-secrets-manager-rotation-lambdas, SecretsManagerRotationTemplate and
 * SecretsManagerElasticacheUserRotation): the event is checked, then three guards (the secret carries
 * the function's tag and value, rotation is enabled, the event's version carries AWSPENDING), and a
 * version that already carries AWSCURRENT needs nothing but finishSecret. Logs name the secret ARN
 * and the step, never a value; every secret value seen is blanked out of any error before it leaves,
 * and the original error is not attached (the Lambda runtime would log it, inputs and all).
 */
export function rotationFrame<T>(spec: RotationFrameSpec<T>): RotationHandler {
  return async (event, context) => {
    const secretArn = typeof event?.SecretId === 'string' ? event.SecretId : '';
    const stepName = typeof event?.Step === 'string' ? event.Step : '';
    const seen = new Set<string>();
    try {
      const { step, token } = validEvent(event);
      const where = `secret ${secretArn} (${step})`;
      const log = (level: 'info' | 'warn', message: string, fields: StepLogFields = {}) => spec.log({ level, message, secretArn, step, ...fields });
      const client = spec.secretsManager();
      const secrets = new SecretVersions(client, secretArn, spec.format, where, seen);
      const stages = await guard(secrets, token, spec.tagKey, spec.rotationTag ?? process.env[ROTATION_TAG_ENV], where);
      if (stages[token]?.includes(STAGE.current) && step !== 'finishSecret') {
        log('info', `version already carries ${STAGE.current}: this rotation is finished; nothing to do`);
        return;
      }
      log('info', 'step started');
      const pending = () => pendingUnlessEmpty(client, secrets, token, where);
      await spec.run({ step, token, stages, secrets, pendingUnlessEmpty: pending, where, log, remainingMs: () => context?.getRemainingTimeInMillis() });
      log('info', 'step done');
    } catch (error) {
      const safe = sanitized(error, [...seen]);
      const token = typeof event?.ClientRequestToken === 'string' ? event.ClientRequestToken : '';
      spec.log({ level: 'error', message: safe.message, secretArn, step: stepName, code: safe.code, ...stalePendingHint(stepName, secretArn, token) });
      throw safe;
    }
  };
}

/**
 * A failed createSecret, setSecret or testSecret leaves AWSPENDING on the new version. Secrets Manager
 * retries the rotation; once those retries fail too, RotateSecret answers "A previous rotation isn't
 * complete" to every later call until the label is removed by hand (API_RotateSecret; the fix as
 * API_CancelRotateSecret describes it; docs/operations-rotation.md, "A leftover AWSPENDING"). A failed
 * finishSecret is not included: its version's password may already be on the user, and another
 * attempt is what finishes it.
 */
function stalePendingHint(step: string, secretArn: string, token: string): { ifRetriesFail?: string } {
  if (!['createSecret', 'setSecret', 'testSecret'].includes(step) || secretArn === '' || token === '') return {};
  return {
    ifRetriesFail:
      `remove AWSPENDING from this version, then rotate again: aws secretsmanager update-secret-version-stage --secret-id ${secretArn} ` +
      `--version-stage AWSPENDING --remove-from-version-id ${token}`,
  };
}

function validEvent(event: RotationEvent): { step: RotationStep; token: string } {
  const problems: string[] = [];
  if (typeof event?.SecretId !== 'string' || event.SecretId === '') problems.push('SecretId is missing');
  if (typeof event?.ClientRequestToken !== 'string' || event.ClientRequestToken === '') problems.push('ClientRequestToken is missing');
  const step = event?.Step;
  if (!(ROTATION_STEPS as readonly string[]).includes(step)) {
    problems.push(`Step ${JSON.stringify(step)} is not one of ${ROTATION_STEPS.join(', ')}`);
  }
  if (problems.length > 0) {
    throw new KccRotationError(
      'KCC_ROTATION_BAD_EVENT',
      `not a Secrets Manager rotation event: ${problems.join('; ')}. Only Secrets Manager invokes this function (aws secretsmanager rotate-secret --secret-id <arn>)`,
    );
  }
  return { step: step as RotationStep, token: event.ClientRequestToken };
}

/** The guards every step passes first; returns the secret's version stages. */
async function guard<T>(
  secrets: SecretVersions<T>,
  token: string,
  tagKey: string,
  rotationTag: string | undefined,
  where: string,
): Promise<Record<string, string[]>> {
  if (!rotationTag) {
    throw new KccRotationError(
      'KCC_ROTATION_NOT_MANAGED',
      `${where}: the function has no ${ROTATION_TAG_ENV} environment variable, so it rotates no secret; deploy it with the kcc-redis stack`,
    );
  }
  const description = await secrets.describe();
  const tag = description.Tags?.find((t) => t.Key === tagKey)?.Value;
  if (tag !== rotationTag) {
    throw new KccRotationError(
      'KCC_ROTATION_NOT_MANAGED',
      `${where}: this function rotates only secrets tagged ${tagKey}=${rotationTag}, and this one is ` +
        `${tag === undefined ? 'not tagged' : `tagged ${tagKey}=${tag}`}; point the secret's rotation at its own stack's function`,
    );
  }
  if (description.RotationEnabled !== true) {
    throw new KccRotationError('KCC_ROTATION_DISABLED', `${where}: rotation is not enabled on the secret; enable it (the stack's rotation schedule does) before rotating`);
  }
  const stages = description.VersionIdsToStages ?? {};
  const tokenStages = stages[token];
  if (!tokenStages || tokenStages.length === 0) {
    // DescribeSecret lists only versions that carry a stage: an unknown id and one whose AWSPENDING was removed look the same.
    throw new KccRotationError(
      'KCC_ROTATION_WRONG_STAGE',
      `${where}: version ${token} carries no stage: it is not (or no longer) a pending version of this secret; ` +
        `start a new rotation (aws secretsmanager rotate-secret --secret-id ${secrets.secretArn})`,
    );
  }
  if (!tokenStages.includes(STAGE.pending) && !tokenStages.includes(STAGE.current)) {
    throw new KccRotationError(
      'KCC_ROTATION_WRONG_STAGE',
      `${where}: version ${token} carries ${tokenStages.join(', ')}, not ${STAGE.pending}; ` +
        'a rotation step works on the pending version only: start a new rotation (aws secretsmanager rotate-secret)',
    );
  }
  return stages;
}

/**
 * The pending version `token`, or `undefined` when it holds no value.
 *
 * Why: Secrets Manager's configuration test (RotateSecret with RotateImmediately=false) "creates an
 * AWSPENDING version of the secret and then removes it", invoking testSecret alone
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html, RotateImmediately).
 * What that version holds is not documented. AWS's samples do not settle it: the ElastiCache user
 * function's test_secret reads AWSCURRENT only and never the pending version
 * (aws-samples/aws-secrets-manager-rotation-lambdas, SecretsManagerElasticacheUserRotation/lambda_function.py),
 * while the RDS ones log in with it (SecretsManagerRDSPostgreSQLRotationSingleUser/lambda_function.py).
 * So the version may be a copy of the current value, or have none; the steps must pass either way.
 *
 * A version without a value is what GetSecretValue answers ResourceNotFoundException for (AWS's
 * samples' create_secret rely on it to find RotateSecret's new version still empty). An empty
 * SecretString cannot be stored (SecretString has a minimum length of 1:
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretValueEntry.html), but costs
 * nothing to accept the same way. Only a value that fails to parse is read a second time, raw, to tell
 * blank from malformed; the raw value never leaves this function.
 */
async function pendingUnlessEmpty<T>(client: SecretsManagerClient, secrets: SecretVersions<T>, token: string, where: string): Promise<SecretVersion<T> | undefined> {
  try {
    // undefined: ResourceNotFoundException, which for a version the guard saw with AWSPENDING means no value.
    return await secrets.find(token, STAGE.pending);
  } catch (error) {
    if (error instanceof KccRotationError && error.code === 'KCC_ROTATION_SECRET_INVALID' && (await holdsNoValue(client, secrets.secretArn, token, where))) {
      return undefined;
    }
    throw error;
  }
}

async function holdsNoValue(client: SecretsManagerClient, secretArn: string, token: string, where: string): Promise<boolean> {
  const response = await callAws(
    'GetSecretValue',
    async () => {
      try {
        return await client.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: token, VersionStage: STAGE.pending }));
      } catch (error) {
        if (errorName(error) === 'ResourceNotFoundException') return undefined;
        throw error;
      }
    },
    { where },
  );
  if (response === undefined) return true;
  return (response.SecretString ?? '').trim() === '' && (response.SecretBinary?.length ?? 0) === 0;
}

/** The error to log and throw: a KccRotationError with every secret value seen blanked out, without the original (its inputs could hold one). */
function sanitized(error: unknown, values: readonly string[]): KccRotationError {
  if (error instanceof KccRotationError) return new KccRotationError(error.code, redact(error.message, values));
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return new KccRotationError('KCC_ROTATION_UNEXPECTED', `unexpected ${name}: ${redact(message, values)}`);
}
