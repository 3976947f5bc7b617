import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { RotationSchedule } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { RbacPasswordUser } from '../rbac-password-user.js';
import { ROTATION_TAG_ENV, ROTATION_TAG_KEY, ROTATION_TIMING } from './rotation-contract.js';

/** The Node.js runtime of the rotation function: the latest that aws-cdk-lib knows (a test keeps it so). */
export const ROTATION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** The export condition under which the client package resolves to its TypeScript sources. */
const SOURCE_CONDITION = 'kcc-redis-source';

const HANDLER_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'rotation-handler.ts');
const REPOSITORY_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RedisPasswordRotationProps {
  /** The users whose secrets rotate: each gets a rotation schedule and the tag the function checks. */
  readonly users: readonly RbacPasswordUser[];
  /** Time between two automatic rotations of each secret (1 to 1000 days). */
  readonly automaticallyAfter: Duration;
  /**
   * Value of the `kcc-redis:password-rotation` tag that marks the secrets this function rotates;
   * unique per account and region (the replication group id is).
   */
  readonly rotationTag: string;
  /**
   * Customer-managed KMS key that encrypts the user secrets; the function may decrypt and generate
   * data keys with it, through Secrets Manager only.
   * @default - the secrets use the account's `aws/secretsmanager` key
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Rotates the password of every given ElastiCache RBAC user on a schedule: one Lambda function
 * (TypeScript, bundled with the local esbuild at synth, no Docker) and one Secrets Manager rotation
 * schedule per user secret. The function runs outside any VPC: it only calls the Secrets Manager and
 * ElastiCache APIs, which the stack's isolated subnets (no NAT, no endpoints) could not reach.
 *
 * Least privilege: a role of its own (no AWS-managed policy) that may write its own log group,
 * describe and modify exactly these users, and (granted by each schedule) read and stage exactly
 * these secrets. The one `*` is `secretsmanager:GetRandomPassword`, which has no resource to scope to.
 *
 * @example
 * new RedisPasswordRotation(this, 'PasswordRotation', {
 *   users: [cache.defaultUser, ...cache.appEnvUsers.values()],
 *   automaticallyAfter: Duration.days(30),
 *   rotationTag: 'kcc-redis',
 * });
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

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'kcc-redis password rotation: its log group, its ElastiCache users, their secrets',
    });
    // The log group's ARN attribute ends in ":*", i.e. its log streams (Lambda names them at run time).
    role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['elasticache:DescribeUsers', 'elasticache:ModifyUser'],
        resources: props.users.map((user) => user.userArn),
      }),
    );
    if (props.encryptionKey) {
      // The schedules' own KMS grant is a no-op for a key imported by ARN (its policy cannot be edited): say it here.
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [props.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }

    const fn = new NodejsFunction(this, 'Function', {
      description: 'kcc-redis: rotates the password of the ElastiCache RBAC users (Secrets Manager rotation)',
      entry: HANDLER_ENTRY,
      handler: 'handler',
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
      runtime: ROTATION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(ROTATION_TIMING.functionTimeoutSeconds),
      role,
      logGroup,
      environment: { [ROTATION_TAG_ENV]: props.rotationTag },
      bundling: {
        // esbuild from node_modules; never Docker. The runtime provides the AWS SDK v3 (left out of the bundle).
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: false,
        logLevel: LogLevel.WARNING,
        // The shared contract (@kcc-redis/client/contract) is bundled from its TypeScript sources: no client build needed.
        esbuildArgs: { '--conditions': SOURCE_CONDITION },
      },
    });

    const schedules = new Map<string, RotationSchedule>();
    for (const user of props.users) {
      Tags.of(user.secret).add(ROTATION_TAG_KEY, props.rotationTag);
      const schedule = user.secret.addRotationSchedule('Rotation', {
        rotationLambda: fn,
        automaticallyAfter: props.automaticallyAfter,
        // First rotation after one interval, not during the deploy that adds the schedule: the user
        // is fresh then, and the replication group may still be creating (users stay "modifying").
        rotateImmediatelyOnUpdate: false,
      });
      schedule.node.addDependency(user.resource);
      schedules.set(user.userId, schedule);
    }
    restrictInvokeToOwnAccount(fn);

    this.function = fn;
    this.role = role;
    this.logGroup = logGroup;
    this.schedules = schedules;
  }
}

/**
 * The schedules let Secrets Manager invoke the function; the permission they create names the
 * service only. Pinning the source account keeps another account's secret from pointing its
 * rotation at this function (confused deputy).
 */
function restrictInvokeToOwnAccount(fn: lambda.Function): void {
  for (const child of fn.node.children) {
    if (child instanceof lambda.CfnPermission && child.principal === 'secretsmanager.amazonaws.com') {
      child.sourceAccount = Stack.of(fn).account;
    }
  }
}
