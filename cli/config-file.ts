import { readFile } from 'node:fs/promises';
import type { KccConfig } from '../infra/config.js';
import { CliFailure } from './exit-codes.js';
import { plural } from './table.js';

/**
 * The validated `kcc` config of a cdk.json, as the stack reads it (infra/config.ts, loaded on use:
 * it brings the infra modules). Every problem is one line of one CliFailure.
 */
export async function readKccConfig(file: string): Promise<KccConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliFailure(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)}); run from the project folder or pass --config <cdk.json>`);
  }
  let cdkJson: { context?: Record<string, unknown> };
  try {
    cdkJson = JSON.parse(text) as { context?: Record<string, unknown> };
  } catch (error) {
    throw new CliFailure(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const { CONFIG_CONTEXT_KEY, parseConfig } = await import('../infra/config.js');
  try {
    return parseConfig(cdkJson.context?.[CONFIG_CONTEXT_KEY]);
  } catch (error) {
    const problems = (error as { problems?: readonly string[] }).problems;
    if (!problems) throw error;
    throw new CliFailure(`the "${CONFIG_CONTEXT_KEY}" config in ${file} has ${plural(problems.length, 'problem')}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
