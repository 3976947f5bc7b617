import { Template } from 'aws-cdk-lib/assertions';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { type BuiltApp, buildApp } from '../../infra/index.js';

/** The context of cdk.json (feature flags included) with the `kcc` config replaced. */
export function contextWith(kcc: unknown): Record<string, unknown> {
  return { ...cdkJson.context, kcc };
}

export interface Synthesized extends BuiltApp {
  readonly template: Template;
}

/** Builds the app exactly as `bin/app.ts` does, with the given `kcc` config, and synthesizes it. */
export function synth(kcc: unknown = cdkJson.context.kcc): Synthesized {
  const built = buildApp({ context: contextWith(kcc) });
  return { ...built, template: Template.fromStack(built.stack) };
}
