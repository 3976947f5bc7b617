import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KEK_SECRET_FIELD, type KeyEncryptionKeySecret, parseKeyEncryptionKeySecret } from '@kcc-redis/client/contract';
import { type KekStepContext, createSecret, finishSecret, setSecret, testSecret } from './key-encryption-key-rotation-steps.js';
import { KEK_ROTATION_TAG_KEY, type RotationStep } from './rotation-contract.js';
import { type RotationHandler, rotationFrame } from './rotation-frame.js';
import { type RotationLog, consoleRotationLog } from './rotation-log.js';
import type { SecretFormat } from './secret-versions.js';

/** Everything the handler depends on; tests replace the client and the log. */
export interface KeyEncryptionKeyRotationHandlerOptions {
  /** @default a client for the function's region */
  readonly secretsManager?: SecretsManagerClient;
  /** Value of the `kcc-redis:kek-rotation` tag a secret must carry. @default the `KCC_ROTATION_TAG` environment variable */
  readonly rotationTag?: string;
  /** @default one JSON line per entry on the console */
  readonly log?: RotationLog;
}

/** The key-encryption-key secret, as the stack writes it. */
export const KEK_SECRET_FORMAT: SecretFormat<KeyEncryptionKeySecret> = {
  expected: `{ "v": 1, "${KEK_SECRET_FIELD}": "<64 letters and digits>", "previous": [] }`,
  parse: parseKeyEncryptionKeySecret,
  values: (secret) => [secret.kek, ...secret.previous],
};

const STEPS: Record<RotationStep, (ctx: KekStepContext) => Promise<void>> = { createSecret, setSecret, testSecret, finishSecret };

/**
 * Builds the key-encryption-key rotation function: the four Secrets Manager steps for an app-env's
 * KEK secret inside the {@link rotationFrame} (event check, `kcc-redis:kek-rotation` tag, rotation
 * enabled, pending stage; no key in any log or error). It calls Secrets Manager only: it never
 * touches Redis or ElastiCache.
 *
 * @example
 * export const handler = createKeyEncryptionKeyRotationHandler();
 */
export function createKeyEncryptionKeyRotationHandler(options: KeyEncryptionKeyRotationHandlerOptions = {}): RotationHandler {
  let secretsManager = options.secretsManager;
  return rotationFrame<KeyEncryptionKeySecret>({
    tagKey: KEK_ROTATION_TAG_KEY,
    rotationTag: options.rotationTag,
    format: KEK_SECRET_FORMAT,
    secretsManager: () => (secretsManager ??= new SecretsManagerClient({})),
    log: options.log ?? consoleRotationLog,
    run: (frame) => STEPS[frame.step](frame),
  });
}

/** The Lambda entry point (`index.handler` in the bundle). */
export const handler = createKeyEncryptionKeyRotationHandler();
