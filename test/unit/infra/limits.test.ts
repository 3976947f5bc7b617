import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import {
  APP_ENV_AUTHS,
  AppEnvAuth,
  CLOUDFORMATION_LIMITS,
  KccStackConfigError,
  MAX_APP_ENVS,
  MAX_APP_ENVS_BY_AUTH,
  PER_APP_ENV_RESOURCES,
  PER_APP_ENV_RESOURCES_BY_AUTH,
  RESOURCES_PER_APP_ENV,
  dynamicReferencesPerAppEnv,
  resourcesPerAppEnv,
} from '../../../infra/index.js';
import { STACK_DYNAMIC_REFERENCES, STACK_OUTPUT_BUDGET, STACK_RESOURCE_BUDGET } from '../../../infra/limits.js';
import { build } from '../../support/synth.js';

vi.setConfig({ testTimeout: 180_000 });

/** Every option on that adds stack-level resources, with 10 nodes (the most one alarm covers). */
const EVERYTHING = {
  interfaceEndpoints: true,
  bastion: true,
  alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' },
  shards: 2,
  replicas: 4,
};
const apps = (n: number, auth: AppEnvAuth = AppEnvAuth.PASSWORD, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ name: `app${from + i}`, envs: ['prod'], auth }));

type TemplateJson = { Resources: Record<string, { Type: string }>; Outputs: Record<string, unknown> };

function template(appCount: number, auth: AppEnvAuth = AppEnvAuth.PASSWORD, config: object = EVERYTHING): TemplateJson {
  return templateOf({ ...config, apps: apps(appCount, auth) });
}

function templateOf(config: object): TemplateJson {
  return Template.fromStack(build(config).stack).toJSON() as TemplateJson;
}

/** CloudFormation dynamic references in the template: every `{{resolve:` (secretsmanager, ssm, ssm-secure), wherever it is. */
function dynamicReferences(t: object): number {
  return JSON.stringify(t).split('{{resolve:').length - 1;
}

function configError(config: object): KccStackConfigError {
  try {
    build(config);
  } catch (e) {
    return e as KccStackConfigError;
  }
  throw new Error('expected a config error');
}

/** Within every per-template limit CloudFormation has that a big config reaches. */
function expectWithinLimits(t: TemplateJson) {
  expect(Object.keys(t.Resources).length).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.resources);
  expect(Object.keys(t.Outputs).length).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.outputs);
  expect(dynamicReferences(t)).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.dynamicReferences);
  expect(Buffer.byteLength(JSON.stringify(t))).toBeLessThan(CLOUDFORMATION_LIMITS.templateBytes);
}

function countByType(t: { Resources: Record<string, { Type: string }> }): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of Object.values(t.Resources)) counts[r.Type] = (counts[r.Type] ?? 0) + 1;
  return counts;
}

describe('CloudFormation limits', () => {
  const one = template(1);
  const three = template(3);
  /** Resources one app-env adds today, and the stack's own. */
  const perAppEnvNow = (Object.keys(three.Resources).length - Object.keys(one.Resources).length) / 2;
  const fixedNow = Object.keys(one.Resources).length - perAppEnvNow;

  it('counts every resource an app-env adds in PER_APP_ENV_RESOURCES (a new one fails here until counted)', () => {
    const a = countByType(one);
    const b = countByType(three);
    const perAppEnv = Object.fromEntries(
      Object.keys(b).filter((type) => b[type] !== a[type]).map((type) => [type, (b[type]! - (a[type] ?? 0)) / 2]),
    );
    // Exactly what is counted: a resource added per app-env (or one fewer) fails here until the table says so.
    expect(perAppEnv).toEqual(PER_APP_ENV_RESOURCES);
    expect(RESOURCES_PER_APP_ENV).toBe(Object.values(PER_APP_ENV_RESOURCES).reduce((x, y) => x + y, 0));
    expect(Object.keys(three.Outputs).length - Object.keys(one.Outputs).length).toBe(2);
  });

  it.each(APP_ENV_AUTHS.filter((auth) => auth !== AppEnvAuth.PASSWORD))(
    'counts every resource an app-env with auth "%s" adds in PER_APP_ENV_RESOURCES_BY_AUTH',
    (auth) => {
      const a = countByType(template(1, auth));
      const b = countByType(template(3, auth));
      const perAppEnv = Object.fromEntries(Object.keys(b).filter((type) => b[type] !== a[type]).map((type) => [type, (b[type]! - (a[type] ?? 0)) / 2]));
      expect(perAppEnv).toEqual(PER_APP_ENV_RESOURCES_BY_AUTH[auth]);
    },
  );

  it('counts the default (password) table exactly as PER_APP_ENV_RESOURCES, and fewer resources for IAM-only app-envs', () => {
    expect(PER_APP_ENV_RESOURCES_BY_AUTH[AppEnvAuth.PASSWORD]).toBe(PER_APP_ENV_RESOURCES);
    expect(resourcesPerAppEnv(AppEnvAuth.IAM)).toBeLessThan(RESOURCES_PER_APP_ENV);
    expect(MAX_APP_ENVS_BY_AUTH).toEqual({ password: MAX_APP_ENVS, iam: 99, 'password+iam': 49 });
  });

  it('keeps a serverless stack with every option on within the same stack budget', () => {
    const serverless = { ...EVERYTHING, shards: undefined, replicas: undefined, deployment: 'serverless' };
    const fixed = Object.keys(template(1, AppEnvAuth.PASSWORD, serverless).Resources).length - RESOURCES_PER_APP_ENV;
    expect(fixed).toBeLessThanOrEqual(STACK_RESOURCE_BUDGET);
  });

  it.each(APP_ENV_AUTHS)('counts every dynamic reference ({{resolve:) an app-env with auth "%s" adds, and the stack\'s own', (auth) => {
    const a = dynamicReferences(template(1, auth));
    const b = dynamicReferences(template(3, auth));
    expect((b - a) / 2).toBe(dynamicReferencesPerAppEnv(auth));
    expect(a - dynamicReferencesPerAppEnv(auth)).toBe(STACK_DYNAMIC_REFERENCES);
  });

  it('counts the stack\'s own dynamic references the same in a serverless stack and with a customer-managed key', () => {
    const serverless = { ...EVERYTHING, shards: undefined, replicas: undefined, deployment: 'serverless' };
    const kms = { ...EVERYTHING, kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555' };
    for (const config of [serverless, kms, { defaultUserEnabled: true }]) {
      expect(dynamicReferences(template(1, AppEnvAuth.PASSWORD, config))).toBe(STACK_DYNAMIC_REFERENCES + 1);
    }
  });

  it(`synthesizes the most IAM app-envs (${MAX_APP_ENVS_BY_AUTH.iam}, the user group's limit) within every limit`, () => {
    const max = template(MAX_APP_ENVS_BY_AUTH.iam, AppEnvAuth.IAM);
    expect(countByType(max)['AWS::ElastiCache::User']).toBe(MAX_APP_ENVS_BY_AUTH.iam + 1);
    expectWithinLimits(max);
  });

  it(`synthesizes the most "password+iam" app-envs (${MAX_APP_ENVS_BY_AUTH['password+iam']}, the user group's limit) within every limit`, () => {
    const max = template(MAX_APP_ENVS_BY_AUTH['password+iam'], AppEnvAuth.PASSWORD_AND_IAM);
    expect(countByType(max)['AWS::ElastiCache::User']).toBe(2 * MAX_APP_ENVS_BY_AUTH['password+iam'] + 1);
    expect(dynamicReferences(max)).toBe(MAX_APP_ENVS_BY_AUTH['password+iam'] + STACK_DYNAMIC_REFERENCES);
    expectWithinLimits(max);
  });

  it(`synthesizes a mix at the limits (${MAX_APP_ENVS} password app-envs and as many IAM ones as the resources leave room for) within every limit`, () => {
    const iam = Math.floor((CLOUDFORMATION_LIMITS.resources - STACK_RESOURCE_BUDGET - MAX_APP_ENVS * RESOURCES_PER_APP_ENV) / resourcesPerAppEnv(AppEnvAuth.IAM));
    const max = templateOf({ ...EVERYTHING, apps: [...apps(MAX_APP_ENVS), ...apps(iam, AppEnvAuth.IAM, MAX_APP_ENVS)] });
    expect(dynamicReferences(max)).toBe(CLOUDFORMATION_LIMITS.dynamicReferences);
    expectWithinLimits(max);
    // One IAM app-env more passes the resource room; one password app-env more (instead) the dynamic references.
    expect(configError({ apps: [...apps(MAX_APP_ENVS), ...apps(iam + 1, AppEnvAuth.IAM, MAX_APP_ENVS)] }).problems).toEqual([
      expect.stringMatching(/ CloudFormation resources .*past the 500 a template takes; split the apps over two stacks/),
    ]);
    expect(configError({ apps: [...apps(MAX_APP_ENVS + 1), ...apps(1, AppEnvAuth.IAM, MAX_APP_ENVS + 1)] }).problems).toEqual([
      expect.stringMatching(/: they would make 61 CloudFormation dynamic references \(\{\{resolve:secretsmanager:…\}\}, one per password user, the default user's included\), past the 60 a template takes; split the apps over two stacks, or give some apps auth "iam"/),
    ]);
  });

  it('keeps the stack-level resources and outputs within the budget MAX_APP_ENVS is derived from', () => {
    expect(fixedNow).toBeLessThanOrEqual(STACK_RESOURCE_BUDGET);
    expect(Object.keys(one.Outputs).length - 1).toBeLessThanOrEqual(STACK_OUTPUT_BUDGET);
    expect(MAX_APP_ENVS).toBe(Math.min(
      99,
      Math.floor((CLOUDFORMATION_LIMITS.resources - STACK_RESOURCE_BUDGET) / RESOURCES_PER_APP_ENV),
      CLOUDFORMATION_LIMITS.dynamicReferences - STACK_DYNAMIC_REFERENCES,
    ));
  });

  it(`synthesizes the documented maximum (${MAX_APP_ENVS} app-envs, every option on) within every limit`, () => {
    const max = template(MAX_APP_ENVS);
    const resources = Object.keys(max.Resources).length;
    const users = countByType(max)['AWS::ElastiCache::User']!;
    expect(users).toBe(MAX_APP_ENVS + 1);
    // Big configs split the rotation role's policy in two or three (IAM's size limit): the budget's headroom absorbs it.
    expect(resources - (fixedNow + MAX_APP_ENVS * perAppEnvNow)).toBeLessThanOrEqual(STACK_RESOURCE_BUDGET - fixedNow);
    // What the template may grow to within what is counted: the whole stack budget and every per-app-env resource.
    const projected = STACK_RESOURCE_BUDGET + MAX_APP_ENVS * RESOURCES_PER_APP_ENV;
    expect(projected).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.resources);
    // One {{resolve:secretsmanager:…}} per password user: CloudFormation refuses a template with more than 60.
    expect(dynamicReferences(max)).toBe(MAX_APP_ENVS + STACK_DYNAMIC_REFERENCES);
    expectWithinLimits(max);
  });

  it.each(APP_ENV_AUTHS)('refuses one app-env more than the maximum with auth "%s", naming the count, the limit passed and the fix', (auth) => {
    const over = MAX_APP_ENVS_BY_AUTH[auth] + 1;
    const error = configError({ apps: apps(over, auth) });
    expect(error).toBeInstanceOf(KccStackConfigError);
    expect(error.code).toBe('KCC_STACK_CONFIG_INVALID');
    const withAuth = auth === AppEnvAuth.PASSWORD ? '' : ` with auth "${auth}"`;
    const prefix = `apps: ${over} app-envs (${over} apps); one stack holds at most ${MAX_APP_ENVS_BY_AUTH[auth]}${withAuth}: they would make `;
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]!.slice(0, prefix.length)).toBe(prefix);
    expect(error.problems[0]).toMatch(/past the \d+ a (template|user group) takes; split the apps over two stacks/);
  });

  it('refuses 60 password app-envs (60 apps × prod, a review\'s case: it passed validation and CloudFormation refused its 61 dynamic references)', () => {
    const error = configError({ apps: apps(60) });
    expect(error.problems).toEqual([
      `apps: 60 app-envs (60 apps); one stack holds at most ${MAX_APP_ENVS}: they would make 61 CloudFormation dynamic references ` +
        `({{resolve:secretsmanager:…}}, one per password user, the default user's included), past the 60 a template takes; ` +
        'split the apps over two stacks, or give some apps auth "iam" (no password, no dynamic reference) (docs/configuration.md "Limits")',
    ]);
  });

  it('refuses a config whose alarms for hundreds of nodes push the template past 500 resources, saying how many app-envs fit', () => {
    const error = (() => {
      try {
        build({ apps: apps(40), shards: 90, replicas: 4 });
      } catch (e) {
        return e as KccStackConfigError;
      }
      throw new Error('expected a config error');
    })();
    expect(error).toBeInstanceOf(KccStackConfigError);
    expect(error.problems.join('\n')).toMatch(/^apps: 40 app-envs make \d+ CloudFormation resources; a stack holds at most 500\. With this config at most \d+ app-envs fit \(each adds 7\)/);
  });
});
