import { CfnElement, CfnOutput, CfnResource, type Stack } from 'aws-cdk-lib';
import { APP_ENV_AUTHS, AppEnvAuth, hasPasswordUser, usersPerAppEnv } from './app-env-auth.js';
import { MAX_USERS_PER_GROUP } from './elasticache-rules.js';

/**
 * CloudFormation's per-template quotas that a big config can reach. CDK uploads every template to
 * the bootstrap bucket, so the 1 MB limit of a template in S3 applies, not the 51,200 bytes of a
 * template passed in the API call.
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
 *
 * `dynamicReferences`: the quotas page above, "Dynamic references per template: The maximum number
 * of dynamic references allowed in a single CloudFormation stack template. 60 dynamic references in
 * a stack template"; and https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references.html,
 * "General considerations": up to 60 dynamic references in a stack template. Each password user's
 * password reaches its `AWS::ElastiCache::User` as one `{{resolve:secretsmanager:…}}`
 * (`RbacPasswordUser`), so this caps the password users before the resource count does.
 */
export const CLOUDFORMATION_LIMITS = {
  resources: 500,
  outputs: 200,
  dynamicReferences: 60,
  templateBytes: 1_000_000,
} as const;

/**
 * What one app-env with password authentication (the default) adds to the template, by resource
 * type: its ElastiCache user, the user's password secret and the key-encryption-key secret, each
 * secret's rotation schedule, and the resource policy CDK puts on every rotated secret (it denies
 * DeleteSecret to the account root). The one place this is counted; `test/unit/infra/limits.test.ts`
 * checks it against synthesized templates, so a new per-app-env resource fails that test until it is
 * counted here.
 */
export const PER_APP_ENV_RESOURCES = {
  'AWS::ElastiCache::User': 1,
  'AWS::SecretsManager::Secret': 2,
  'AWS::SecretsManager::RotationSchedule': 2,
  'AWS::SecretsManager::ResourcePolicy': 2,
} as const satisfies Record<string, number>;

/**
 * {@link PER_APP_ENV_RESOURCES} for each kind of authentication: an IAM app-env has its IAM user and
 * its key-encryption-key secret (with schedule and policy), no password secret; a "password+iam" one
 * has both users. Checked against synthesized templates by the same test.
 */
export const PER_APP_ENV_RESOURCES_BY_AUTH: Readonly<Record<AppEnvAuth, Readonly<Record<string, number>>>> = {
  [AppEnvAuth.PASSWORD]: PER_APP_ENV_RESOURCES,
  [AppEnvAuth.IAM]: {
    'AWS::ElastiCache::User': 1,
    'AWS::SecretsManager::Secret': 1,
    'AWS::SecretsManager::RotationSchedule': 1,
    'AWS::SecretsManager::ResourcePolicy': 1,
  },
  [AppEnvAuth.PASSWORD_AND_IAM]: {
    'AWS::ElastiCache::User': 2,
    'AWS::SecretsManager::Secret': 2,
    'AWS::SecretsManager::RotationSchedule': 2,
    'AWS::SecretsManager::ResourcePolicy': 2,
  },
};

/** Resources one app-env of this kind adds. */
export function resourcesPerAppEnv(auth: AppEnvAuth): number {
  return Object.values(PER_APP_ENV_RESOURCES_BY_AUTH[auth]).reduce((a, b) => a + b, 0);
}

export const RESOURCES_PER_APP_ENV: number = resourcesPerAppEnv(AppEnvAuth.PASSWORD);

/** One JSON output per app-env (`AppEnv<Name>`): what its instances need, in one place. */
export const OUTPUTS_PER_APP_ENV = 1;

/**
 * Dynamic references (`{{resolve:…}}`) one app-env of this kind adds to the template: one for its
 * password user's password (`RbacPasswordUser`), none for an IAM user (no password) or for the
 * key-encryption-key secret (the template never reads its value). Checked against synthesized
 * templates by `test/unit/infra/limits.test.ts`, which counts `{{resolve:` in them.
 */
export function dynamicReferencesPerAppEnv(auth: AppEnvAuth): number {
  return hasPasswordUser(auth) ? 1 : 0;
}

/** Dynamic references besides the app-envs': the default user's password (it always exists, enabled or not). */
export const STACK_DYNAMIC_REFERENCES = 1;

/**
 * Resources the stack has besides the app-envs', with every option on (new VPC, interface endpoints,
 * bastion, alarms with a topic) and up to 10 cache nodes: 54 measured, plus the key-encryption-key
 * rotation function (function, role, policy, log group, permission) and its alarm, plus headroom.
 * A test synthesizes that config and keeps the real count at or below it.
 */
export const STACK_RESOURCE_BUDGET = 75;
/** Outputs besides the app-envs' (endpoints, ids, network), with headroom. */
export const STACK_OUTPUT_BUDGET = 20;

const RESOURCE_ROOM = CLOUDFORMATION_LIMITS.resources - STACK_RESOURCE_BUDGET;
const OUTPUT_ROOM = CLOUDFORMATION_LIMITS.outputs - STACK_OUTPUT_BUDGET;
const USER_ROOM = MAX_USERS_PER_GROUP - 1;
const DYNAMIC_REFERENCE_ROOM = CLOUDFORMATION_LIMITS.dynamicReferences - STACK_DYNAMIC_REFERENCES;

function maxAppEnvs(auth: AppEnvAuth): number {
  const refs = dynamicReferencesPerAppEnv(auth);
  return Math.min(
    Math.floor(USER_ROOM / usersPerAppEnv(auth)),
    Math.floor(RESOURCE_ROOM / resourcesPerAppEnv(auth)),
    Math.floor(OUTPUT_ROOM / OUTPUTS_PER_APP_ENV),
    refs === 0 ? Infinity : Math.floor(DYNAMIC_REFERENCE_ROOM / refs),
  );
}

/**
 * The most app-envs one stack holds when all authenticate the same way: the user group takes 100
 * users (the default user + 99), and CloudFormation 500 resources, 200 outputs and 60 dynamic
 * references (one per password user, the default user's included). Password: 59 (the dynamic
 * references bind); IAM: 99 (the user group binds); password+iam: 49 (two users each).
 */
export const MAX_APP_ENVS_BY_AUTH: Readonly<Record<AppEnvAuth, number>> = Object.fromEntries(
  APP_ENV_AUTHS.map((auth) => [auth, maxAppEnvs(auth)]),
) as Record<AppEnvAuth, number>;

/** The most app-envs one stack holds with password authentication (the default). */
export const MAX_APP_ENVS: number = MAX_APP_ENVS_BY_AUTH[AppEnvAuth.PASSWORD];

/**
 * What is past the limits for these app-envs (users in the user group, resources within the stack's
 * budget, outputs, dynamic references), naming each limit passed, the count and how many fit; empty
 * when they fit. A mix of authentications is counted app-env by app-env.
 */
export function appEnvLimitProblems(appEnvs: readonly { readonly auth: AppEnvAuth }[], appCount: number): string[] {
  const resources = appEnvs.reduce((n, { auth }) => n + resourcesPerAppEnv(auth), 0);
  const users = appEnvs.reduce((n, { auth }) => n + usersPerAppEnv(auth), 0);
  const refs = appEnvs.reduce((n, { auth }) => n + dynamicReferencesPerAppEnv(auth), 0);
  const passed = [
    resources > RESOURCE_ROOM &&
      `${resources + STACK_RESOURCE_BUDGET} CloudFormation resources (the stack's own counted at their budget, ${STACK_RESOURCE_BUDGET}), past the ${CLOUDFORMATION_LIMITS.resources} a template takes`,
    users > USER_ROOM && `${users + 1} ElastiCache users with the default user, past the ${MAX_USERS_PER_GROUP} a user group takes`,
    refs > DYNAMIC_REFERENCE_ROOM &&
      `${refs + STACK_DYNAMIC_REFERENCES} CloudFormation dynamic references ({{resolve:secretsmanager:…}}, one per password user, the default user's included), ` +
        `past the ${CLOUDFORMATION_LIMITS.dynamicReferences} a template takes`,
    appEnvs.length * OUTPUTS_PER_APP_ENV > OUTPUT_ROOM &&
      `${appEnvs.length * OUTPUTS_PER_APP_ENV + STACK_OUTPUT_BUDGET} CloudFormation outputs (the stack's own counted at their budget, ${STACK_OUTPUT_BUDGET}), past the ${CLOUDFORMATION_LIMITS.outputs} a template takes`,
  ].filter((p): p is string => typeof p === 'string');
  if (passed.length === 0) return [];
  const auths = [...new Set(appEnvs.map((a) => a.auth))];
  const why = `they would make ${passed.join('; and ')}`;
  const fix = refs > DYNAMIC_REFERENCE_ROOM
    ? 'split the apps over two stacks, or give some apps auth "iam" (no password, no dynamic reference) (docs/configuration.md "Limits")'
    : 'split the apps over two stacks (docs/configuration.md "Limits")';
  if (auths.length === 1) {
    const auth = auths[0]!;
    const withAuth = auth === AppEnvAuth.PASSWORD ? '' : ` with auth "${auth}"`;
    return [`apps: ${appEnvs.length} app-envs (${appCount} apps); one stack holds at most ${MAX_APP_ENVS_BY_AUTH[auth]}${withAuth}: ${why}; ${fix}`];
  }
  const each = APP_ENV_AUTHS.map((a) => `"${a}" ${resourcesPerAppEnv(a)}, ${usersPerAppEnv(a)} and ${dynamicReferencesPerAppEnv(a)}`).join('; ');
  return [
    `apps: ${appEnvs.length} app-envs (${appCount} apps) need ${resources} resources, ${users} users and ${refs} dynamic references; one stack has room for ` +
      `${RESOURCE_ROOM} resources, ${USER_ROOM} users and ${DYNAMIC_REFERENCE_ROOM} dynamic references besides its own ` +
      `(per app-env, resources, users and dynamic references: ${each}): ${why}; ${fix}`,
  ];
}

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
export function templateLimitProblems(counts: TemplateCounts, appEnvs: number, resourcesPerEach: number = RESOURCES_PER_APP_ENV): string[] {
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
  check('resources', resourcesPerEach);
  check('outputs', OUTPUTS_PER_APP_ENV);
  return problems;
}
