import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { OrdersStack } from './orders-stack.js';

/** The repository's feature flags (cdk.json context without the kcc config): one list for both apps. */
export const FEATURE_FLAGS: Record<string, unknown> = Object.fromEntries(
  Object.entries(cdkJson.context).filter(([key]) => key !== 'kcc'),
);

/** The example app: one {@link OrdersStack}, cdk-nag's AwsSolutions checks as a validation plugin. */
export function buildExampleApp(props: AppProps = {}): { app: App; stack: OrdersStack } {
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  const stack = new OrdersStack(app, 'KccOrdersExample');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}
