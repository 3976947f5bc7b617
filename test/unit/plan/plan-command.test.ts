import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { type PlanIo, runPlanCommand, synthesizeWithContext } from '../../../infra/plan/index.js';

/** `runPlanCommand` in this process, with captured output: arguments, inputs, exit codes. */
const dir = mkdtempSync(join(tmpdir(), 'kcc-plan-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function cdkJsonWith(name: string, kcc: unknown): string {
  return file(name, { ...cdkJson, context: { ...cdkJson.context, kcc } });
}

async function run(argv: string[], options: { isTTY?: boolean } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: PlanIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: options.isTTY ?? false, env: {} };
  const code = await runPlanCommand(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

let previous: string;
beforeAll(() => {
  previous = file('previous.json', synthesizeWithContext({ ...cdkJson.context, kcc: { apps: ['my-app'] } }, { validate: false }));
}, 120_000);

describe('kcc-redis plan: usage', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: kcc-redis plan --previous <template>/);
    expect(stdout).toMatch(/aws cloudformation get-template --stack-name/);
  });

  it.each([
    ['no --previous', [], /--previous <template> is required/],
    ['an unknown option', ['--previous', 'x.json', '--jsn'], /Unknown option '--jsn'/],
    ['a positional argument', ['x.json'], /Unexpected argument 'x\.json'/],
  ])('%s is a usage error: exit 2, the usage on stderr', async (_name, argv, message) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr).toContain('Usage: kcc-redis plan');
  });
});

describe('kcc-redis plan: input errors exit 2 and name the file', () => {
  it.each([
    ['an unreadable --previous', () => ['--previous', join(dir, 'missing.json')], /cannot read --previous .*missing\.json \(ENOENT\)/],
    ['a --previous that is not a template', () => ['--previous', file('stack.json', { Stacks: [] })], /stack\.json is not a CloudFormation template: it has no "Resources" object/],
    ['an unreadable --config', () => ['--previous', previous, '--config', join(dir, 'nope.json')], /cannot read .*nope\.json \(ENOENT\)/],
    ['a config that does not synthesize', () => ['--previous', previous, '--config', cdkJsonWith('bad.json', { apps: [] })], /cannot synthesize the current config: Invalid kcc config.*apps: must be a non-empty list/s],
  ])('%s', async (_name, argv, message) => {
    const { code, stdout, stderr } = await run(argv());
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});

describe('kcc-redis plan: verdicts', () => {
  it('the deployed config itself: nothing to change, exit 0', async () => {
    const { code, stdout } = await run(['--previous', previous, '--config', cdkJsonWith('same.json', { apps: ['my-app'] })]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^No resource changes\.\n\nSafe to deploy/);
  }, 120_000);

  it('a change that would fail: exit 1; --json gives the plan with its format version and exit code', async () => {
    const { code, stdout } = await run(['--previous', previous, '--config', cdkJsonWith('port.json', { apps: ['my-app'], port: 6380 }), '--json'], { isTTY: true });
    expect(code).toBe(1);
    const plan = JSON.parse(stdout) as { version: number; exitCode: number; findings: number; changes: { action: string; type: string }[] };
    expect(plan).toMatchObject({ v: 1, exitCode: 1 });
    // Port is create-only and the group keeps its name: blocked (its security group, whose description names the port, is replaced).
    expect(plan.changes).toContainEqual(expect.objectContaining({ action: 'blocked', type: 'AWS::ElastiCache::ReplicationGroup' }));
    expect(plan.findings).toBeGreaterThanOrEqual(1);
    expect(stdout).not.toContain('\u001b['); // JSON has no colors, even on a terminal
  }, 120_000);
});
