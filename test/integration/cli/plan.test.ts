import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { synthesizeWithContext } from '../../../infra/plan/index.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

/** `kcc-redis plan` as an operator runs it: a child process through bin/kcc-redis.ts, two runs. */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kcc-plan-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...TSX_NODE_ARGS, 'bin/kcc-redis.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 170_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('kcc-redis plan (CLI)', () => {
  it('another port on the deployed default stack: the table shows the group blocked, exit 1', async () => {
    const previous = join(dir, 'deployed.json');
    writeFileSync(previous, JSON.stringify(synthesizeWithContext({ ...cdkJson.context, kcc: { apps: ['my-app'] } }, { validate: false })));
    const config = join(dir, 'cdk.json');
    writeFileSync(config, JSON.stringify({ ...cdkJson, context: { ...cdkJson.context, kcc: { apps: ['my-app'], port: 6380 } } }));

    const { code, stdout, stderr } = await cli(['plan', '--previous', previous, '--config', config]);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^CHANGE\s+RESOURCE\s+TYPE\s+DETAILS$/m);
    expect(stdout).toMatch(/^BLOCKED\s+\S+\s+AWS::ElastiCache::ReplicationGroup\s+Port: 6379 → 6380; create-only/m);
    expect(stdout).toMatch(/blocked: ReplicationGroupId "kcc-redis" is a custom name/);
    expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^Not safe to deploy as is: 1 blocked/);
    expect(code).toBe(1);
  }, 180_000);

  it('redis → valkey on the deployed stack: blocked for the stack\'s reasons, Engine itself updates in place, exit 1', async () => {
    const previous = join(dir, 'deployed-redis.json');
    writeFileSync(previous, JSON.stringify(synthesizeWithContext({ ...cdkJson.context, kcc: { apps: ['my-app'], engine: 'redis' } }, { validate: false })));
    const config = join(dir, 'cdk-valkey.json');
    writeFileSync(config, JSON.stringify({ ...cdkJson, context: { ...cdkJson.context, kcc: { apps: ['my-app'], engine: 'valkey' } } }));

    const { code, stdout, stderr } = await cli(['plan', '--previous', previous, '--config', config]);
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^BLOCKED\s+\S+\s+AWS::ElastiCache::User\s+Engine: "redis" → "valkey"; updates in place \(AWS's resource schema has not marked it create-only since 2024-11-18; the bundled service spec still does\)$/m);
    expect(stdout).toMatch(/blocked: Engine redis → valkey: ElastiCache keeps Valkey users in Valkey user groups only/);
    expect(stdout).toMatch(/blocked: Engine redis → valkey: ElastiCache attaches Valkey user groups to Valkey caches only/);
    expect(stdout).toMatch(/deploy a second stack with the new engine/);
    expect(stdout).not.toMatch(/create-only \(Engine\)/);
    expect(code).toBe(1);
  }, 180_000);

  it('a --previous that is not a template: a one-line error, exit 2', async () => {
    const previous = join(dir, 'describe-stacks.json');
    writeFileSync(previous, JSON.stringify({ Stacks: [{ StackName: 'KccRedis' }] }));
    const { code, stdout, stderr } = await cli(['plan', '--previous', previous]);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^kcc-redis plan: .*describe-stacks\.json is not a CloudFormation template: it has no "Resources" object/);
    expect(code).toBe(2);
  }, 180_000);
});
