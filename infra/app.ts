import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, type KccConfig, parseConfig } from './config.js';
import { KccStackConfigError } from './errors.js';
import { KccRedisStack } from './kcc-redis-stack.js';
import { countTemplate, resourcesPerAppEnv, templateLimitProblems } from './limits.js';

export interface BuiltApp {
  readonly app: App;
  readonly config: KccConfig;
  readonly stack: KccRedisStack;
}

/**
 * The CDK app: config from the `kcc` context, one {@link KccRedisStack}, and cdk-nag's
 * AwsSolutions checks as a validation plugin, so any unacknowledged finding fails synth.
 * A config whose template would pass CloudFormation's limits fails here, with a
 * `KCC_STACK_CONFIG_INVALID` error that says how many app-envs fit, not at deploy time.
 * `bin/app.ts` calls this; tests call it with their own context.
 */
export function buildApp(props: AppProps = {}): BuiltApp {
  const app = new App(props);
  const config = parseConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const lookup = config.vpcId !== undefined && config.subnetIds === undefined;
  const stack = new KccRedisStack(app, config.stackName, {
    config,
    // Only a VPC lookup (vpcId without subnetIds) needs a concrete account and region.
    env: lookup ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } : undefined,
    description: 'kcc-redis: locked-down ElastiCache (RBAC, TLS required) for Keycloak connector cluster sync',
  });
  const perAppEnv = Math.max(...config.appEnvs.map((a) => resourcesPerAppEnv(a.auth)));
  const problems = templateLimitProblems(countTemplate(stack), config.appEnvs.length, perAppEnv);
  if (problems.length > 0) throw new KccStackConfigError(problems);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, config, stack };
}
