import { ArnFormat, Stack } from 'aws-cdk-lib';
import { CfnUser } from 'aws-cdk-lib/aws-elasticache';
import { Construct } from 'constructs';
import type { CacheEngine } from './engine.js';

export interface RbacIamUserProps {
  readonly engine: CacheEngine;
  /** User id and user name: ElastiCache requires them equal for IAM authentication. */
  readonly userName: string;
  /** ACL access string, built by the naming module. */
  readonly accessString: string;
  /** Key prefix the access string allows (the client is given it; the name does not carry it). */
  readonly keyPrefix: string;
}

/**
 * An ElastiCache RBAC user that authenticates with IAM (`AuthenticationMode` type `iam`): no password
 * and no secret. An instance logs in with a short-lived SigV4 token signed by its role, which needs
 * `elasticache:Connect` on the cache and on this user
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html). Its id equals its name,
 * as IAM authentication requires.
 */
export class RbacIamUser extends Construct {
  readonly userId: string;
  readonly userName: string;
  readonly keyPrefix: string;
  /** ARN of the ElastiCache user, known at synth: `arn:<partition>:elasticache:<region>:<account>:user:<id>`. */
  readonly userArn: string;
  readonly resource: CfnUser;

  constructor(scope: Construct, id: string, props: RbacIamUserProps) {
    super(scope, id);
    this.userId = props.userName;
    this.userName = props.userName;
    this.keyPrefix = props.keyPrefix;
    this.userArn = Stack.of(this).formatArn({
      service: 'elasticache',
      resource: 'user',
      resourceName: props.userName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.resource = new CfnUser(this, 'Resource', {
      engine: props.engine,
      userId: this.userId,
      userName: this.userName,
      accessString: props.accessString,
      authenticationMode: { Type: 'iam' },
    });
  }
}
