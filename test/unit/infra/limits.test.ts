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
  resourcesPerAppEnv,
} from '../../../infra/index.js';
import { STACK_OUTPUT_BUDGET, STACK_RESOURCE_BUDGET } from '../../../infra/limits.js';
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
const apps = (n: number, auth: AppEnvAuth = AppEnvAuth.PASSWORD) => Array.from({ length: n }, (_, i) => ({ name: `app${i}`, envs: ['prod'], auth }));

function template(appCount: number, auth: AppEnvAuth = AppEnvAuth.PASSWORD, config: object = EVERYTHING) {
  const built = build({ ...config, apps: apps(appCount, auth) });
  return Template.fromStack(built.stack).toJSON() as { Resources: Record<string, { Type: string }>; Outputs: Record<string, unknown> };
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

  it(`synthesizes the most IAM app-envs (${MAX_APP_ENVS_BY_AUTH.iam}, the user group's limit) within every limit`, () => {
    const max = template(MAX_APP_ENVS_BY_AUTH.iam, AppEnvAuth.IAM);
    expect(countByType(max)['AWS::ElastiCache::User']).toBe(MAX_APP_ENVS_BY_AUTH.iam + 1);
    expect(Object.keys(max.Resources).length).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.resources);
    expect(Object.keys(max.Outputs).length).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.outputs);
  });

  it('keeps the stack-level resources and outputs within the budget MAX_APP_ENVS is derived from', () => {
    expect(fixedNow).toBeLessThanOrEqual(STACK_RESOURCE_BUDGET);
    expect(Object.keys(one.Outputs).length - 1).toBeLessThanOrEqual(STACK_OUTPUT_BUDGET);
    expect(MAX_APP_ENVS).toBe(Math.min(99, Math.floor((CLOUDFORMATION_LIMITS.resources - STACK_RESOURCE_BUDGET) / RESOURCES_PER_APP_ENV)));
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
    expect(resources).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.resources);
    expect(projected).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.resources);
    expect(Object.keys(max.Outputs).length).toBeLessThanOrEqual(CLOUDFORMATION_LIMITS.outputs);
    expect(Buffer.byteLength(JSON.stringify(max))).toBeLessThan(CLOUDFORMATION_LIMITS.templateBytes);
  });

  it('refuses one app-env more with our config error naming the apps and the limit', () => {
    const error = (() => {
      try {
        build({ apps: apps(MAX_APP_ENVS + 1) });
      } catch (e) {
        return e as KccStackConfigError;
      }
      throw new Error('expected a config error');
    })();
    expect(error).toBeInstanceOf(KccStackConfigError);
    expect(error.code).toBe('KCC_STACK_CONFIG_INVALID');
    expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^apps: ${MAX_APP_ENVS + 1} app-envs \\(${MAX_APP_ENVS + 1} apps\\); one stack holds at most ${MAX_APP_ENVS}`))]);
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
