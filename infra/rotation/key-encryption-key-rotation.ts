import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { ISecret, RotationSchedule } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_KEK_ROTATION_DAYS, KEK_ROTATION_TAG_KEY, KEK_ROTATION_TIMEOUT_SECONDS } from './rotation-contract.js';
import { createRotationFunction, restrictInvokeToOwnAccount, scheduleRotation, type RotationSettings } from './rotation-function.js';

export interface KeyEncryptionKeyRotationProps extends RotationSettings {
  /** The key-encryption-key secrets that rotate, by app-env name (`<app>-<env>`). */
  readonly secrets: ReadonlyMap<string, ISecret>;
  /**
   * Time between two automatic rotations of each key-encryption key (1 to 1000 days).
   * @default Duration.days(90)
   */
  readonly automaticallyAfter?: Duration;
}

/**
 * Rotates the key-encryption keys (KEKs) of the app-envs' signing-key rings on a schedule: each
 * rotation puts a new `kek` into the secret and keeps the one it replaces at the front of `previous`
 * (`KeyEncryptionKeySecret`), so a ring encrypted under an earlier key stays readable.
 *
 * A function of its own, not the password function dispatching on a tag: IAM privileges belong to a
 * function's role, so one function would hold both ElastiCache's ModifyUser and the KEKs, and a flaw
 * in either path would reach both. This one may touch exactly the KEK secrets (granted by each
 * schedule), its log group and, with a customer key, that key through Secrets Manager; never Redis or
 * ElastiCache. Outside any VPC: it calls the Secrets Manager API only.
 *
 * @example
 * new KeyEncryptionKeyRotation(this, 'KekRotation', {
 *   secrets: new Map([...cache.keyEncryptionKeys].map(([name, kek]) => [name, kek.secret])),
 *   rotationTag: 'kcc-redis',
 * });
 */
export class KeyEncryptionKeyRotation extends Construct {
  readonly function: lambda.IFunction;
  readonly role: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  /** The rotation schedules, by app-env name. */
  readonly schedules: ReadonlyMap<string, RotationSchedule>;

  constructor(scope: Construct, id: string, props: KeyEncryptionKeyRotationProps) {
    super(scope, id);
    if (props.secrets.size === 0) throw new TypeError('KeyEncryptionKeyRotation: "secrets" is empty; give it the key-encryption-key secrets that rotate');

    const parts = createRotationFunction(this, {
      entry: 'key-encryption-key-rotation-handler.ts',
      description: 'kcc-redis: rotates the key-encryption keys of the signing-key rings (Secrets Manager rotation)',
      roleDescription: 'kcc-redis key-encryption-key rotation: its log group and the key-encryption-key secrets, nothing else',
      timeout: Duration.seconds(KEK_ROTATION_TIMEOUT_SECONDS),
      rotationTag: props.rotationTag,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    const schedules = new Map<string, RotationSchedule>();
    for (const [name, secret] of props.secrets) {
      schedules.set(
        name,
        scheduleRotation(parts.function, secret, {
          automaticallyAfter: props.automaticallyAfter ?? Duration.days(DEFAULT_KEK_ROTATION_DAYS),
          tagKey: KEK_ROTATION_TAG_KEY,
          rotationTag: props.rotationTag,
        }),
      );
    }
    restrictInvokeToOwnAccount(parts.function);

    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    this.schedules = schedules;
  }
}
