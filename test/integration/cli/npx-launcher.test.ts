import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { createInterface } from 'node:readline';
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

  it('ends by the signal that ended the CLI: a Ctrl-C while it runs is never exit 0', async () => {
    // A Redis that accepts and never answers: the CLI waits on it, with no handler for SIGINT.
    const sockets: Socket[] = [];
    const hanging = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const connected = once(hanging, 'connection');
      const env = { PATH: process.env.PATH ?? '', KCC_REDIS_URL: `rediss://127.0.0.1:${(hanging.address() as AddressInfo).port}`, KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: 'x'.repeat(64) };
      const launcher = spawn(process.execPath, ['bin/kcc-redis.mjs', 'status'], { cwd: ROOT, env, stdio: 'ignore' });
      const exited = once(launcher, 'exit');
      await connected;
      launcher.kill('SIGINT'); // forwarded to the CLI, which the signal ends
      // The launcher exited 0 here: re-raised with its own forwarding listener still on, the signal only called it.
      expect(await exited).toEqual([null, 'SIGINT']);
    } finally {
      for (const socket of sockets) socket.destroy();
      hanging.close();
    }
  });

  it('status --watch: a Ctrl-C to the whole process group (as a terminal sends it) exits with the last refresh\'s code', async () => {
    // Nothing listens on port 1: every refresh shows the app-env unreadable, exit 2.
    const env = { PATH: process.env.PATH ?? '', KCC_REDIS_URL: 'rediss://127.0.0.1:1', KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: 'x'.repeat(64) };
    // Its own process group (the launcher leads it), as a shell's foreground job: the group's signal reaches the launcher and the CLI.
    const launcher = spawn(process.execPath, ['bin/kcc-redis.mjs', 'status', '--watch', '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    const exited = once(launcher, 'exit');
    const [line] = (await once(createInterface({ input: launcher.stdout! }), 'line')) as [string];
    expect(JSON.parse(line)).toMatchObject({ command: 'status', exitCode: 2 });
    process.kill(-launcher.pid!, 'SIGINT');
    // The CLI gets the Ctrl-C twice (from the group and forwarded by the launcher): the second must not end it by the signal.
    expect(await exited).toEqual([2, null]);
  });
});
