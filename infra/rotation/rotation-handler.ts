import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KccRotationError } from '../errors.js';
import { redact } from './aws-call.js';
import { ElastiCacheUser } from './elasticache-user.js';
import { ROTATION_STEPS, ROTATION_TAG_ENV, ROTATION_TAG_KEY, ROTATION_TIMING, type RotationStep, STAGE } from './rotation-contract.js';
import { type RotationLog, consoleRotationLog } from './rotation-log.js';
import { type StepContext, createSecret, finishSecret, setSecret, testSecret } from './rotation-steps.js';
import { SecretVersions } from './secret-versions.js';

/** The event Secrets Manager invokes a rotation function with. */
export interface RotationEvent {
  readonly Step: string;
  readonly SecretId: string;
  /** The id of the version being rotated in. */
  readonly ClientRequestToken: string;
  readonly RotationToken?: string;
}

/** Everything the handler depends on; tests replace the clients, the clock and the log. */
export interface RotationHandlerOptions {
  /** @default a client for the function's region */
  readonly secretsManager?: SecretsManagerClient;
  /** @default a client for the function's region */
  readonly elastiCache?: ElastiCacheClient;
  /** Value of the `kcc-redis:password-rotation` tag a secret must carry. @default the `KCC_ROTATION_TAG` environment variable */
  readonly rotationTag?: string;
  /** @default ROTATION_TIMING */
  readonly timing?: Partial<Pick<typeof ROTATION_TIMING, 'userActiveTimeoutMs' | 'pollIntervalMs' | 'throttleAttempts' | 'throttleBaseDelayMs' | 'throttleMaxDelayMs'>>;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default one JSON line per entry on the console */
  readonly log?: RotationLog;
}

const STEPS: Record<RotationStep, (ctx: StepContext) => Promise<void>> = { createSecret, setSecret, testSecret, finishSecret };

/**
 * Builds the rotation function: the four Secrets Manager steps for a kcc-redis user secret, each
 * idempotent, behind three guards (the secret carries this stack's rotation tag, rotation is
 * enabled, the event's version carries AWSPENDING). A version that already carries AWSCURRENT
 * needs nothing but finishSecret's password drop. Logs name the secret ARN, the step and the user
 * id, never a value; every password seen is blanked out of any error before it leaves.
 *
 * @example
 * export const handler = createRotationHandler();
 */
export function createRotationHandler(options: RotationHandlerOptions = {}): (event: RotationEvent) => Promise<void> {
  let secretsManager = options.secretsManager;
  let elastiCache = options.elastiCache;
  const timing = { ...ROTATION_TIMING, ...options.timing };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const write = options.log ?? consoleRotationLog;

  return async (event: RotationEvent): Promise<void> => {
    const secretArn = typeof event?.SecretId === 'string' ? event.SecretId : '';
    const stepName = typeof event?.Step === 'string' ? event.Step : '';
    const seen = new Set<string>();
    try {
      const { step, token } = validEvent(event);
      const where = `secret ${secretArn} (${step})`;
      const log = (level: 'info' | 'warn', message: string, fields: { userId?: string; attempt?: number; awsError?: string } = {}) =>
        write({ level, message, secretArn, step, ...fields });
      secretsManager ??= new SecretsManagerClient({});
      elastiCache ??= new ElastiCacheClient({});
      const secrets = new SecretVersions(secretsManager, secretArn, where, seen);
      const stages = await guard(secrets, token, options.rotationTag ?? process.env[ROTATION_TAG_ENV], where);
      if (stages[token]?.includes(STAGE.current) && step !== 'finishSecret') {
        log('info', `version already carries ${STAGE.current}: this rotation is finished; nothing to do`);
        return;
      }
      log('info', 'step started');
      const deadline = now() + timing.userActiveTimeoutMs;
      const client = elastiCache;
      const ctx: StepContext = {
        step,
        token,
        stages,
        secrets,
        where,
        log: (message, userId) => log('info', message, { userId }),
        user: (userId) =>
          new ElastiCacheUser(client, userId, {
            where,
            deadline,
            now,
            sleep,
            pollIntervalMs: timing.pollIntervalMs,
            retry: {
              attempts: timing.throttleAttempts,
              baseDelayMs: timing.throttleBaseDelayMs,
              maxDelayMs: timing.throttleMaxDelayMs,
              sleep,
              onRetry: (attempt, awsError) => log('warn', 'ElastiCache refused the call for now; backing off', { userId, attempt, awsError }),
            },
          }),
      };
      await STEPS[step](ctx);
      log('info', 'step done');
    } catch (error) {
      const safe = sanitized(error, [...seen]);
      write({ level: 'error', message: safe.message, secretArn, step: stepName, code: safe.code });
      throw safe;
    }
  };
}

/** The Lambda entry point (`index.handler` in the bundle). */
export const handler = createRotationHandler();

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
async function guard(secrets: SecretVersions, token: string, rotationTag: string | undefined, where: string): Promise<Record<string, string[]>> {
  if (!rotationTag) {
    throw new KccRotationError(
      'KCC_ROTATION_NOT_MANAGED',
      `${where}: the function has no ${ROTATION_TAG_ENV} environment variable, so it rotates no secret; deploy it with the kcc-redis stack`,
    );
  }
  const description = await secrets.describe();
  const tag = description.Tags?.find((t) => t.Key === ROTATION_TAG_KEY)?.Value;
  if (tag !== rotationTag) {
    throw new KccRotationError(
      'KCC_ROTATION_NOT_MANAGED',
      `${where}: this function rotates only secrets tagged ${ROTATION_TAG_KEY}=${rotationTag}, and this one is ` +
        `${tag === undefined ? 'not tagged' : `tagged ${ROTATION_TAG_KEY}=${tag}`}; point the secret's rotation at its own stack's function`,
    );
  }
  if (description.RotationEnabled !== true) {
    throw new KccRotationError('KCC_ROTATION_DISABLED', `${where}: rotation is not enabled on the secret; enable it (the stack's rotation schedule does) before rotating`);
  }
  const stages = description.VersionIdsToStages ?? {};
  const tokenStages = stages[token];
  if (!tokenStages) {
    throw new KccRotationError('KCC_ROTATION_WRONG_STAGE', `${where}: version ${token} is not a version of this secret`);
  }
  if (!tokenStages.includes(STAGE.pending) && !tokenStages.includes(STAGE.current)) {
    throw new KccRotationError(
      'KCC_ROTATION_WRONG_STAGE',
      `${where}: version ${token} carries ${tokenStages.length > 0 ? tokenStages.join(', ') : 'no stage'}, not ${STAGE.pending}; ` +
        'a rotation step works on the pending version only: start a new rotation (aws secretsmanager rotate-secret)',
    );
  }
  return stages;
}

/** The error to log and throw: a KccRotationError with every password seen blanked out, without the original (its inputs could hold one). */
function sanitized(error: unknown, passwords: readonly string[]): KccRotationError {
  if (error instanceof KccRotationError) return new KccRotationError(error.code, redact(error.message, passwords));
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return new KccRotationError('KCC_ROTATION_UNEXPECTED', `unexpected ${name}: ${redact(message, passwords)}`);
}
