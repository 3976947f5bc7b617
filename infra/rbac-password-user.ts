import { ArnFormat, Aws, Fn, Stack } from 'aws-cdk-lib';
import { CfnUser } from 'aws-cdk-lib/aws-elasticache';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type RedisUserSecret,
  USER_SECRET_PASSWORD_FIELD,
  USER_SECRET_PASSWORD_LENGTH,
} from '@kcc-redis/client/contract';
import type { CacheEngine } from './engine.js';

export interface RbacPasswordUserProps {
  readonly engine: CacheEngine;
  /** ElastiCache user id (unique in the region). */
  readonly userId: string;
  /** Name the user logs in with (`AUTH <userName> <password>`). */
  readonly userName: string;
  /** ACL access string, built by the naming module. */
  readonly accessString: string;
  /** Key prefix the access string allows; empty for the default user. */
  readonly keyPrefix: string;
  /** Replication group the user is meant for, written into the secret for endpoint discovery. */
  readonly replicationGroupId: string;
  /**
   * KMS key that encrypts the secret.
   * @default - the account's `aws/secretsmanager` key
   */
  readonly encryptionKey?: IKey;
}

/**
 * An ElastiCache RBAC user with password authentication, and the Secrets Manager secret that
 * holds its generated password in the {@link RedisUserSecret} shape. The password reaches
 * CloudFormation only as a dynamic reference: it never appears in the template.
 */
export class RbacPasswordUser extends Construct {
  readonly userId: string;
  readonly userName: string;
  /** ARN of the ElastiCache user, known at synth (no dependency on the user resource). */
  readonly userArn: string;
  readonly secret: ISecret;
  readonly resource: CfnUser;

  constructor(scope: Construct, id: string, props: RbacPasswordUserProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.userId = props.userId;
    this.userName = props.userName;
    this.userArn = stack.formatArn({
      service: 'elasticache',
      resource: 'user',
      resourceName: props.userId,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });

    // Any change to the template makes CloudFormation generate a new password (GenerateSecretString),
    // while the user keeps the old one: its dynamic reference is resolved again only when the user
    // itself changes. So nothing in it may follow the stack's environment: the ARN is built from
    // the pseudo parameters whether or not the stack has an account and region (formatArn writes them
    // out when it has, so adding `env`, which any lookup needs, changed every app's password).
    const template: Omit<RedisUserSecret, typeof USER_SECRET_PASSWORD_FIELD> = {
      username: props.userName,
      keyPrefix: props.keyPrefix,
      userArn: Fn.join('', ['arn:', Aws.PARTITION, ':elasticache:', Aws.REGION, ':', Aws.ACCOUNT_ID, ':user:', props.userId]),
      replicationGroupId: props.replicationGroupId,
    };
    this.secret = new Secret(this, 'Secret', {
      description: `Password of ElastiCache user "${props.userId}" (kcc-redis)`,
      encryptionKey: props.encryptionKey,
      generateSecretString: {
        secretStringTemplate: stack.toJsonString(template),
        generateStringKey: USER_SECRET_PASSWORD_FIELD,
        passwordLength: USER_SECRET_PASSWORD_LENGTH,
        excludePunctuation: true,
        includeSpace: false,
        requireEachIncludedType: true,
      },
    });

    this.resource = new CfnUser(this, 'Resource', {
      engine: props.engine,
      userId: props.userId,
      userName: props.userName,
      accessString: props.accessString,
      authenticationMode: {
        Type: 'password',
        Passwords: [this.secret.secretValueFromJson(USER_SECRET_PASSWORD_FIELD).unsafeUnwrap()],
      },
    });
  }
}
