import type { ParseArgsConfig } from 'node:util';

/** The options of `kcc-redis plan`, in a module without aws-cdk-lib: the CLI checks them before it loads the planner. */
export const PLAN_OPTIONS = {
  previous: { type: 'string' },
  config: { type: 'string', default: 'cdk.json' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;
