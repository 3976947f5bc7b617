import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildApp } from '../app.js';
import { type CfnTemplate, isRecord } from './cfn-template.js';
import { KccPlanError } from './plan-errors.js';

export interface SynthesizeOptions {
  /**
   * Run the app's validations (cdk-nag, CloudFormation's rules) as `cdk synth` does. They do not
   * change the template; tests that synthesize many variations turn them off.
   * @default true
   */
  readonly validate?: boolean;
}

/**
 * The template the current config would deploy, synthesized in this process with the context of
 * `cdk.json` and of `cdk.context.json` beside it (where the CDK CLI caches lookups), without asset
 * bundling (the function's code hash then differs from the deployed one; the planner reports code
 * as changing in place). Offline: a lookup missing from `cdk.context.json` is an error.
 */
export function synthesizeCurrent(configFile: string, options: SynthesizeOptions = {}): CfnTemplate {
  const context = { ...readContext(join(dirname(configFile), 'cdk.context.json'), false), ...readContext(configFile, true) };
  return synthesizeWithContext(context, options);
}

/** Builds the app as `bin/app.ts` does, with `context` (bundling skipped), and returns its stack's template. */
export function synthesizeWithContext(context: Record<string, unknown>, options: SynthesizeOptions = {}): CfnTemplate {
  const outdir = mkdtempSync(join(tmpdir(), 'kcc-plan-'));
  try {
    const built = buildApp({ context: { ...context, 'aws:cdk:bundling-stacks': [] }, outdir });
    const assembly = built.app.synth({ skipValidation: options.validate === false });
    const missing = assembly.manifest.missing ?? [];
    if (missing.length > 0) {
      throw new KccPlanError(
        'KCC_PLAN_SYNTH_FAILED',
        `synth needs lookups that cdk.context.json does not hold (${missing.map((m) => m.provider).join(', ')}); run \`npx cdk synth\` once with AWS credentials so that the CDK CLI caches them, then plan again`,
      );
    }
    return assembly.getStackByName(built.stack.stackName).template as CfnTemplate;
  } catch (error) {
    if (error instanceof KccPlanError) throw error;
    throw new KccPlanError('KCC_PLAN_SYNTH_FAILED', `cannot synthesize the current config: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function readContext(file: string, required: boolean): Record<string, unknown> {
  if (!required && !existsSync(file)) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); run from the project folder or pass --config <cdk.json>`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!required) return isRecord(parsed) ? parsed : {};
  const context = isRecord(parsed) ? parsed.context : undefined;
  if (!isRecord(context)) throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `${file} has no "context" object; pass the project's cdk.json with --config`);
  return context;
}
