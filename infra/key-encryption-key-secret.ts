import { RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { KEK_SECRET_FIELD, KEK_SECRET_VERSION, type KeyEncryptionKeySecret } from '@kcc-redis/client/contract';

export interface KeyEncryptionKeySecretProps {
  /** The app-env (`<app>-<env>`) whose signing keys it protects. */
  readonly appEnvName: string;
  /** @default - the account's `aws/secretsmanager` key */
  readonly encryptionKey?: IKey;
}

/**
 * The key-encryption key of one app-env: a generated 64-character secret (`{ "kek": "…" }`) with
 * which the client encrypts private signing keys before storing them in Redis. It never goes to
 * Redis, so reading the cache alone never yields a signing key.
 *
 * Retained when deleted or replaced: without it every signing key stored in Redis (or in a snapshot
 * of it) is unreadable.
 */
export class SigningKeyEncryptionSecret extends Construct {
  readonly secret: ISecret;

  constructor(scope: Construct, id: string, props: KeyEncryptionKeySecretProps) {
    super(scope, id);
    const template: Omit<KeyEncryptionKeySecret, typeof KEK_SECRET_FIELD> = { v: KEK_SECRET_VERSION, previous: [] };
    this.secret = new Secret(this, 'Secret', {
      description: `Key-encryption key of the signing keys of ${props.appEnvName} (kcc-redis); never stored in Redis`,
      encryptionKey: props.encryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
      generateSecretString: {
        secretStringTemplate: JSON.stringify(template),
        generateStringKey: KEK_SECRET_FIELD,
        passwordLength: 64,
        excludePunctuation: true,
        includeSpace: false,
      },
    });
  }
}
