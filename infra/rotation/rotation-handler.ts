import { ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type RedisUserSecret, USER_SECRET_PASSWORD_FIELD, parseRedisUserSecret } from '@kcc-redis/client/contract';
import { ElastiCacheUser } from './elasticache-user.js';
import { type PasswordStepContext, createSecret, finishSecret, setSecret, testSecret } from './password-rotation-steps.js';
import { ROTATION_TAG_KEY, ROTATION_TIMING, type RotationStep } from './rotation-contract.js';
import { type FrameContext, type RotationHandler, rotationFrame } from './rotation-frame.js';
import { type RotationLog, consoleRotationLog } from './rotation-log.js';
import type { SecretFormat } from './secret-versions.js';

export type { RotationEvent, RotationHandler, RotationInvocationContext } from './rotation-frame.js';

/** Everything the handler depends on; tests replace the clients, the clock and the log. */
export interface RotationHandlerOptions {
  /** @default a client for the function's region */
  readonly secretsManager?: SecretsManagerClient;
  /** @default a client for the function's region */
  readonly elastiCache?: ElastiCacheClient;
  /** Value of the `kcc-redis:password-rotation` tag a secret must carry. @default the `KCC_ROTATION_TAG` environment variable */
  readonly rotationTag?: string;
  /** @default ROTATION_TIMING */
  readonly timing?: Partial<Omit<typeof ROTATION_TIMING, 'functionTimeoutSeconds'>>;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default one JSON line per entry on the console */
  readonly log?: RotationLog;
}

/** The Redis user secret, as the stack writes it. */
export const REDIS_USER_SECRET_FORMAT: SecretFormat<RedisUserSecret> = {
  expected: `{ username, ${USER_SECRET_PASSWORD_FIELD}, keyPrefix, userArn, replicationGroupId }`,
  parse: parseRedisUserSecret,
  values: (secret) => [secret.password],
};

const STEPS: Record<RotationStep, (ctx: PasswordStepContext) => Promise<void>> = { createSecret, setSecret, testSecret, finishSecret };

/**
 * Builds the password rotation function: the four Secrets Manager steps for a kcc-redis Redis user
 * secret, each idempotent, inside the {@link rotationFrame} (event check, tag, rotation enabled,
 * pending stage; no secret in any log or error). Every wait for the ElastiCache user shares one
 * deadline per invocation: {@link ROTATION_TIMING.userActiveTimeoutMs}, cut to what Lambda leaves
 * minus {@link ROTATION_TIMING.reserveMs}, so that the calls after a wait still fit.
 *
 * @example
 * export const handler = createRotationHandler();
 */
export function createRotationHandler(options: RotationHandlerOptions = {}): RotationHandler {
  let secretsManager = options.secretsManager;
  let elastiCache = options.elastiCache;
  const timing = { ...ROTATION_TIMING, ...options.timing };
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  return rotationFrame<RedisUserSecret>({
    tagKey: ROTATION_TAG_KEY,
    rotationTag: options.rotationTag,
    format: REDIS_USER_SECRET_FORMAT,
    secretsManager: () => (secretsManager ??= new SecretsManagerClient({})),
    log: options.log ?? consoleRotationLog,
    run: (frame: FrameContext<RedisUserSecret>) => {
      const client = (elastiCache ??= new ElastiCacheClient({}));
      const remaining = frame.remainingMs();
      const budget = remaining === undefined ? timing.userActiveTimeoutMs : Math.min(timing.userActiveTimeoutMs, remaining - timing.reserveMs);
      const deadline = now() + Math.max(0, budget);
      const user = (userId: string) =>
        new ElastiCacheUser(client, userId, {
          where: frame.where,
          deadline,
          now,
          sleep,
          pollIntervalMs: timing.pollIntervalMs,
          retry: {
            attempts: timing.throttleAttempts,
            baseDelayMs: timing.throttleBaseDelayMs,
            maxDelayMs: timing.throttleMaxDelayMs,
            sleep,
            onRetry: (attempt, awsError) => frame.log('warn', 'ElastiCache refused the call for now; backing off', { userId, attempt, awsError }),
          },
        });
      return STEPS[frame.step]({ ...frame, user });
    },
  });
}

/** The Lambda entry point (`index.handler` in the bundle). */
export const handler = createRotationHandler();
