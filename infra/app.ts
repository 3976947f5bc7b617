import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, type KccConfig, parseConfig } from './config.js';
import { KccRedisStack } from './kcc-redis-stack.js';

export interface BuiltApp {
  readonly app: App;
  readonly config: KccConfig;
  readonly stack: KccRedisStack;
}

/**
 * The CDK app: config from the `kcc` context, one {@link KccRedisStack}, and cdk-nag's
 * AwsSolutions checks as a validation plugin, so any unacknowledged finding fails synth.
 * `bin/app.ts` calls this; tests call it with their own context.
 */
export function buildApp(props: AppProps = {}): BuiltApp {
  const app = new App(props);
  const config = parseConfig(app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const stack = new KccRedisStack(app, config.stackName, {
    config,
    // A VPC lookup needs a concrete account and region; the default config needs neither.
    env: config.vpcId ? { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } : undefined,
    description: 'kcc-redis: locked-down ElastiCache (RBAC, TLS required) for Keycloak connector cluster sync',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, config, stack };
}
