import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { ISecret, RotationSchedule } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ROTATION_TAG_ENV } from './rotation-contract.js';

/** The Node.js runtime of the rotation functions: the latest that aws-cdk-lib knows (a test keeps it so). */
export const ROTATION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** The export condition under which the client package resolves to its TypeScript sources. */
const SOURCE_CONDITION = 'kcc-redis-source';

const ROTATION_DIR = dirname(fileURLToPath(import.meta.url));
const REPOSITORY_ROOT = join(ROTATION_DIR, '..', '..');

/** What every rotation construct (passwords, key-encryption keys) takes besides what it rotates. */
export interface RotationSettings {
  /**
   * Value of the tag that marks the secrets the function rotates (the function refuses any other
   * secret); unique per account and region (the replication group id is).
   */
  readonly rotationTag: string;
  /**
   * Customer-managed KMS key that encrypts the secrets; the function may decrypt and generate data
   * keys with it, through Secrets Manager only.
   * @default - the secrets use the account's `aws/secretsmanager` key
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** What one rotation function is: its handler file, what it says about itself, its limits. */
export interface RotationFunctionProps extends RotationSettings {
  /** Handler file in `infra/rotation/` (its `handler` export is the entry point). */
  readonly entry: string;
  /** Description of the function, and (for the role) what it may touch. */
  readonly description: string;
  readonly roleDescription: string;
  readonly timeout: Duration;
}

/** The parts of one rotation function. */
export interface RotationFunctionParts {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

/**
 * Creates, in `scope`, a rotation function (ids `Logs`, `Role`, `Function`): TypeScript bundled with
 * the local esbuild at synth (no Docker), outside any VPC (it calls only AWS APIs, which the stack's
 * isolated subnets could not reach), with a role of its own (no AWS-managed policy) that may write
 * only its own log group, and with a customer KMS key, use it through Secrets Manager only. What
 * else the function may do, its caller grants; the secrets are granted by {@link scheduleRotation}.
 */
export function createRotationFunction(scope: Construct, props: RotationFunctionProps): RotationFunctionParts {
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = new iam.Role(scope, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: props.roleDescription });
  // The log group's ARN attribute ends in ":*", i.e. its log streams (Lambda names them at run time).
  role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
  if (props.encryptionKey) {
    // The schedules' own KMS grant is a no-op for a key imported by ARN (its policy cannot be edited): say it here.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(scope).region}.amazonaws.com` } },
      }),
    );
  }
  const fn = new NodejsFunction(scope, 'Function', {
    description: props.description,
    entry: join(ROTATION_DIR, props.entry),
    handler: 'handler',
    projectRoot: REPOSITORY_ROOT,
    depsLockFilePath: join(REPOSITORY_ROOT, 'package-lock.json'),
    runtime: ROTATION_RUNTIME,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    timeout: props.timeout,
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
  return { function: fn, role, logGroup };
}

/** How {@link scheduleRotation} attaches a secret to a rotation function. */
export interface ScheduleRotationOptions {
  readonly automaticallyAfter: Duration;
  /** The tag the function checks: key and value. */
  readonly tagKey: string;
  readonly rotationTag: string;
}

/**
 * Tags `secret` for `fn` and gives it a rotation schedule (CDK grants the function read and stage
 * rights on exactly this secret, and `secretsmanager:GetRandomPassword`). The first rotation comes one
 * interval later, not during the deploy (`RotateImmediatelyOnUpdate: false`); on creation and on every
 * schedule change Secrets Manager then runs its configuration test (testSecret alone on a new
 * AWSPENDING version: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html;
 * that it holds the current value is inferred from AWS's samples, see the password rotation's testSecret).
 */
export function scheduleRotation(fn: lambda.IFunction, secret: ISecret, options: ScheduleRotationOptions): RotationSchedule {
  Tags.of(secret).add(options.tagKey, options.rotationTag);
  return secret.addRotationSchedule('Rotation', {
    rotationLambda: fn,
    automaticallyAfter: options.automaticallyAfter,
    rotateImmediatelyOnUpdate: false,
  });
}

/**
 * The schedules let Secrets Manager invoke the function; the permission they create names the
 * service only. Pinning the source account keeps another account's secret from pointing its
 * rotation at this function (confused deputy; AWS recommends aws:SourceAccount for a function that
 * rotates several secrets: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/User-Secrets-Manager.html).
 */
export function restrictInvokeToOwnAccount(fn: lambda.Function): void {
  for (const child of fn.node.children) {
    if (child instanceof lambda.CfnPermission && child.principal === 'secretsmanager.amazonaws.com') {
      child.sourceAccount = Stack.of(fn).account;
    }
  }
}
