import { CfnElement, CfnOutput, CfnResource, type Stack } from 'aws-cdk-lib';
import { MAX_USERS_PER_GROUP } from './elasticache-rules.js';

/**
 * CloudFormation's per-template quotas that a big config can reach. CDK uploads every template to
 * the bootstrap bucket, so the 1 MB limit of a template in S3 applies, not the 51,200 bytes of a
 * template passed in the API call.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
 */
export const CLOUDFORMATION_LIMITS = {
  resources: 500,
  outputs: 200,
  templateBytes: 1_000_000,
} as const;

/**
 * What one app-env adds to the template, by resource type: its ElastiCache user, the user's password
 * secret and the key-encryption-key secret, each secret's rotation schedule, and the resource policy
 * CDK puts on every rotated secret (it denies DeleteSecret to the account root). The one place this is
 * counted; `test/unit/infra/limits.test.ts` checks it against synthesized templates, so a new
 * per-app-env resource fails that test until it is counted here.
 */
export const PER_APP_ENV_RESOURCES = {
  'AWS::ElastiCache::User': 1,
  'AWS::SecretsManager::Secret': 2,
  'AWS::SecretsManager::RotationSchedule': 2,
  'AWS::SecretsManager::ResourcePolicy': 2,
} as const satisfies Record<string, number>;

export const RESOURCES_PER_APP_ENV: number = Object.values(PER_APP_ENV_RESOURCES).reduce((a, b) => a + b, 0);

/** One JSON output per app-env (`AppEnv<Name>`): what its instances need, in one place. */
export const OUTPUTS_PER_APP_ENV = 1;

/**
 * Resources the stack has besides the app-envs', with every option on (new VPC, interface endpoints,
 * bastion, alarms with a topic) and up to 10 cache nodes: 54 measured, plus the key-encryption-key
 * rotation function (function, role, policy, log group, permission) and its alarm, plus headroom.
 * A test synthesizes that config and keeps the real count at or below it.
 */
export const STACK_RESOURCE_BUDGET = 75;
/** Outputs besides the app-envs' (endpoints, ids, network), with headroom. */
export const STACK_OUTPUT_BUDGET = 20;

/**
 * The most app-envs one stack holds: the user group takes 100 users (the default user + 99), and
 * CloudFormation 500 resources and 200 outputs.
 */
export const MAX_APP_ENVS: number = Math.min(
  MAX_USERS_PER_GROUP - 1,
  Math.floor((CLOUDFORMATION_LIMITS.resources - STACK_RESOURCE_BUDGET) / RESOURCES_PER_APP_ENV),
  Math.floor((CLOUDFORMATION_LIMITS.outputs - STACK_OUTPUT_BUDGET) / OUTPUTS_PER_APP_ENV),
);

export interface TemplateCounts {
  readonly resources: number;
  readonly outputs: number;
}

/** The resources and outputs `stack` will synthesize to (CloudFormation elements of the construct tree). */
export function countTemplate(stack: Stack): TemplateCounts {
  const inStack = stack.node.findAll().filter((c): c is CfnElement => CfnElement.isCfnElement(c) && c.stack === stack);
  return {
    resources: inStack.filter((c) => c instanceof CfnResource).length,
    outputs: inStack.filter((c) => c instanceof CfnOutput).length,
  };
}

/**
 * What is past CloudFormation's limits in `counts` for a config of `appEnvs` app-envs, with how many
 * app-envs this config would allow; empty when within them.
 */
export function templateLimitProblems(counts: TemplateCounts, appEnvs: number): string[] {
  const problems: string[] = [];
  const check = (kind: 'resources' | 'outputs', perAppEnv: number) => {
    const limit = CLOUDFORMATION_LIMITS[kind];
    if (counts[kind] <= limit) return;
    const fixed = counts[kind] - appEnvs * perAppEnv;
    const allowed = Math.max(0, Math.floor((limit - fixed) / perAppEnv));
    problems.push(
      `apps: ${appEnvs} app-envs make ${counts[kind]} CloudFormation ${kind}; a stack holds at most ${limit}. ` +
        `With this config at most ${allowed} app-envs fit (each adds ${perAppEnv}); split the apps over two stacks`,
    );
  };
  check('resources', RESOURCES_PER_APP_ENV);
  check('outputs', OUTPUTS_PER_APP_ENV);
  return problems;
}
