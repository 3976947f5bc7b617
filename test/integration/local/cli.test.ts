import { access, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { appEnvUserName, keyPrefix } from '../../../client/src/contract/naming.js';
import { LOCK_FILE } from '../../../local/dir-lock.js';
import { LOCAL_STATE_FILE, readLocalState } from '../../../local/local-state.js';
import { READY_LINE_PREFIX } from '../../../local/run-local.js';
import { readEnvFile } from '../../support/cli.js';
import { sh, spawnCli } from '../../support/cli-process.js';

const APP_ENV = { app: 'shop', env: 'dev' };
const USER = appEnvUserName(APP_ENV);

const runCli = (args: string[]) => spawnCli(args);

describe('kcc-redis local (the CLI app developers run)', () => {
  let dir: string;
  let config: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-cli-test-'));
    config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: APP_ENV.app, envs: [APP_ENV.env] }], aclProfile: 'hardened' } } }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts from cdk.json, writes an owner-only env file an app starts with (KEK included), prints its path but no secret, and stops cleanly on SIGINT', async () => {
    const folder = join(dir, 'local');
    const run = runCli(['local', '--port', '0', '--dir', folder, '--config', config]);
    try {
      const ready = await run.lineStartingWith(READY_LINE_PREFIX);
      expect(ready).toMatch(/^kcc-redis local: ready on rediss:\/\/127\.0\.0\.1:\d+ /);
      const envFile = join(folder, `${USER}.env`);
      expect((await stat(envFile)).mode & 0o777).toBe(0o600);
      expect((await stat(join(folder, LOCAL_STATE_FILE))).mode & 0o777).toBe(0o600);
      const env = await readEnvFile(envFile);
      expect(Object.keys(env).sort()).toEqual(['KCC_KEYRING_KEK', 'KCC_REDIS_CA_FILE', 'KCC_REDIS_PASSWORD', 'KCC_REDIS_PREFIX', 'KCC_REDIS_URL', 'KCC_REDIS_USERNAME']);
      expect(env).toMatchObject({ KCC_REDIS_USERNAME: USER, KCC_REDIS_PREFIX: keyPrefix(APP_ENV), KCC_REDIS_URL: ready.split(' ')[4] });
      expect(env.KCC_KEYRING_KEK!.length).toBeGreaterThanOrEqual(32);

      const output = run.lines.join('\n');
      expect(output).toContain(envFile);
      expect(output).toContain('ACL profile "hardened"');
      const state = await readLocalState(folder);
      for (const secret of [env.KCC_KEYRING_KEK!, env.KCC_REDIS_PASSWORD!, state.admin.password, state.defaultUser.password]) expect(output).not.toContain(secret);
      expect(output).not.toContain('--pass');

      // An app with exactly these variables connects and starts its key ring (the KEK is accepted).
      const redis = await KccRedis.connect({ env, heartbeat: false });
      try {
        const ring = await KeyRing.start(redis, { env });
        expect(ring.health().status).toBe('ready');
        await ring.close();
      } finally {
        await redis.close();
      }
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(run.lines.at(-1)).toBe('kcc-redis local: stopped (SIGINT)');
    await expect(access(join(folder, LOCK_FILE))).rejects.toThrow(/ENOENT/);
  });

  it('prints redis-cli lines that authenticate through REDISCLI_AUTH (no password on the command line) and work as printed', async () => {
    const folder = join(dir, 'cli-lines');
    const run = runCli(['local', '--port', '0', '--dir', folder, '--config', config]);
    try {
      await run.lineStartingWith(READY_LINE_PREFIX);
      const commandOf = (prefix: string) => run.lines.find((l) => l.startsWith(prefix))!.slice(prefix.length);
      const asUser = commandOf(`# redis-cli as ${USER}: `);
      const asAdmin = commandOf('# redis-cli as kcc-local-admin: ');
      for (const line of [asUser, asAdmin]) expect(line).toMatch(/REDISCLI_AUTH="\$[A-Z_]+" redis-cli --tls --cacert \S+ -h 127\.0\.0\.1 -p \d+ --user \S+\)$/);
      expect(await sh(asUser.replace(/\)$/, ' PING)'))).toBe('PONG');
      expect(await sh(asAdmin.replace(/\)$/, ' ACL WHOAMI)'))).toBe('kcc-local-admin');
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
  });

  it('a second run on the same folder refuses with the fix, even on another port; the first keeps running', async () => {
    const folder = join(dir, 'shared');
    const first = runCli(['local', '--port', '0', '--dir', folder, '--config', config]);
    try {
      const url = (await first.lineStartingWith(READY_LINE_PREFIX)).split(' ')[4]!;
      const second = runCli(['local', '--port', '0', '--dir', folder, '--config', config]);
      expect(await second.exited).toBe(2);
      const message = second.lines.join('\n');
      expect(message).toContain(`${folder} is in use by another local server (pid ${first.child.pid} serving ${url})`);
      expect(message).toContain('give this one its own folder (--dir <another folder>)');
      expect(first.child.exitCode).toBeNull();
    } finally {
      first.child.kill('SIGINT');
    }
    expect(await first.exited).toBe(0);
  });

  it('a restart keeps passwords and keys: the env file stays valid', async () => {
    const folder = join(dir, 'restart');
    const once = async () => {
      const run = runCli(['local', '--port', '0', '--dir', folder, '--config', config]);
      try {
        await run.lineStartingWith(READY_LINE_PREFIX);
        return await readFile(join(folder, `${USER}.env`), 'utf8');
      } finally {
        run.child.kill('SIGINT');
        await run.exited;
      }
    };
    const strip = (text: string) => text.replace(/KCC_REDIS_URL=.*\n/, '');
    expect(strip(await once())).toBe(strip(await once()));
  });

  it('fails with a clear message suggesting --port when the port is taken (exit 2)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const run = runCli(['local', '--port', String(port), '--dir', join(dir, 'busy'), '--config', config]);
      expect(await run.exited).toBe(2);
      expect(run.lines.join('\n')).toContain(`port ${port} on 127.0.0.1 is in use; pass --port <n> (or --port 0 for any free port)`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('prints its usage with --help; a usage error exits 2', async () => {
    const help = runCli(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.lines[0]).toBe('Usage: kcc-redis <command> [options]');
    const wrong = runCli(['local', '--port', 'abc']);
    expect(await wrong.exited).toBe(2);
    expect(wrong.lines[0]).toBe('kcc-redis local: --port "abc" must be a whole number from 0 to 65535');
    const unknown = runCli(['frobnicate']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.lines[0]).toBe('kcc-redis: unknown command "frobnicate"');
  });
});
