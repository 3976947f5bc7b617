/**
 * `npx cdk synth` as users run it, through the real CDK CLI (no AWS account needed): the config
 * given on the command line as JSON is accepted, and a bad config is one clean list on stderr.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CDK = join(ROOT, 'node_modules', '.bin', 'cdk');
const out = mkdtempSync(join(tmpdir(), 'kcc-cdk-synth-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

async function synth(context: string): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(CDK, ['synth', '--quiet', '-o', out, '-c', `kcc=${context}`], { cwd: ROOT, timeout: 170_000, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stderr: failed.stderr ?? '' };
  }
}

describe('cdk synth -c kcc=\'<json>\'', () => {
  it('accepts the config as JSON on the command line', async () => {
    const { code, stderr } = await synth('{"apps":["from-cli"]}');
    expect(stderr).not.toContain('Invalid kcc config');
    expect(code).toBe(0);
  }, 180_000);

  it('reports a bad config as one list: no stack trace, nothing twice, counted right, blaming -c rather than cdk.json', async () => {
    const { code, stderr } = await synth('{"apps":["from-cli"],"port":0,"replicas":99}');
    expect(code).toBe(1);
    const ours = stderr.split('\n').filter((line) => !line.includes('Subprocess exited with error'));
    expect(ours.join('\n').trim()).toBe('Invalid kcc config (-c kcc=…): 2 problems:\n  - replicas: 99 must be a whole number from 0 to 5\n  - port: 0 must be a whole number from 1 to 65535');
  }, 180_000);
});
