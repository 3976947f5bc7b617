import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { RotationSchedule } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IDependable } from 'constructs';
import type { RbacPasswordUser } from '../rbac-password-user.js';
import { ROTATION_TAG_KEY, ROTATION_TIMING } from './rotation-contract.js';
import { createRotationFunction, restrictInvokeToOwnAccount, scheduleRotation, type RotationSettings } from './rotation-function.js';

export { ROTATION_RUNTIME } from './rotation-function.js';

export interface RedisPasswordRotationProps extends RotationSettings {
  /** The users whose secrets rotate: each gets a rotation schedule and the tag the function checks. */
  readonly users: readonly RbacPasswordUser[];
  /** Time between two automatic rotations of each secret (1 to 1000 days). */
  readonly automaticallyAfter: Duration;
}

/**
 * Rotates the password of every given ElastiCache RBAC user on a schedule: one Lambda function and
 * one Secrets Manager rotation schedule per user secret. The function's timeout is Lambda's
 * maximum, 15 minutes (AWS asks at least 12 for ElastiCache users: {@link ROTATION_TIMING}).
 *
 * Least privilege: a role of its own (no AWS-managed policy) that may write its own log group,
 * describe and modify exactly these users, and (granted by each schedule) read and stage exactly
 * these secrets. The one `*` is `secretsmanager:GetRandomPassword`, which has no resource to scope to.
 *
 * @example
 * const rotation = new RedisPasswordRotation(this, 'PasswordRotation', {
 *   users: [cache.defaultUser, ...cache.appEnvUsers.values()],
 *   automaticallyAfter: Duration.days(30),
 *   rotationTag: 'kcc-redis',
 * });
 * rotation.startAfter(replicationGroup);
 */
export class RedisPasswordRotation extends Construct {
  readonly function: lambda.IFunction;
  readonly role: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  /** The rotation schedules, by user id. */
  readonly schedules: ReadonlyMap<string, RotationSchedule>;

  constructor(scope: Construct, id: string, props: RedisPasswordRotationProps) {
    super(scope, id);
    if (props.users.length === 0) throw new TypeError('RedisPasswordRotation: "users" is empty; give it the users whose passwords rotate');

    const parts = createRotationFunction(this, {
      entry: 'rotation-handler.ts',
      description: 'kcc-redis: rotates the password of the ElastiCache RBAC users (Secrets Manager rotation)',
      roleDescription: 'kcc-redis password rotation: its log group, its ElastiCache users, their secrets',
      timeout: Duration.seconds(ROTATION_TIMING.functionTimeoutSeconds),
      rotationTag: props.rotationTag,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention,
    });
    parts.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['elasticache:DescribeUsers', 'elasticache:ModifyUser'],
        resources: props.users.map((user) => user.userArn),
      }),
    );

    const schedules = new Map<string, RotationSchedule>();
    for (const user of props.users) {
      const schedule = scheduleRotation(parts.function, user.secret, {
        automaticallyAfter: props.automaticallyAfter,
        tagKey: ROTATION_TAG_KEY,
        rotationTag: props.rotationTag,
      });
      schedule.node.addDependency(user.resource);
      schedules.set(user.userId, schedule);
    }
    restrictInvokeToOwnAccount(parts.function);

    this.function = parts.function;
    this.role = parts.role;
    this.logGroup = parts.logGroup;
    this.schedules = schedules;
  }

  /**
   * Creates the schedules only after `dependables` (the replication group that uses the users).
   * Creating a schedule makes Secrets Manager run its configuration test, whose testSecret waits for
   * the user to be `active`; while the replication group is created with the user group, the users
   * may stay `modifying` longer than one invocation may wait, and the test would fail.
   */
  startAfter(...dependables: IDependable[]): void {
    for (const schedule of this.schedules.values()) schedule.node.addDependency(...dependables);
  }
}
