import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** `npx kcc-redis …` runs bin/kcc-redis.mjs (package.json "bin"), which starts the TypeScript CLI through tsx. */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

async function launch(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['bin/kcc-redis.mjs', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('the kcc-redis launcher (npx kcc-redis)', () => {
  it('runs the CLI: --help exits 0 and names every command', async () => {
    const { code, stdout } = await launch(['--help']);
    expect(code).toBe(0);
    for (const command of ['local', 'check', 'drift', 'status', 'plan', 'rotate-keys', 'revoke']) expect(stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('passes the CLI exit code through: a usage error is 2', async () => {
    const { code, stderr } = await launch(['no-such-command']);
    expect(code).toBe(2);
    expect(stderr).toContain('no-such-command');
  });
});
