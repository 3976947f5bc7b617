import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvUserName, keyPrefix } from '../../../client/src/contract/naming.js';
import { READY_LINE_PREFIX } from '../../../local/run-local.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const APP_ENV = { app: 'shop', env: 'dev' };

interface CliRun {
  readonly child: ChildProcess;
  /** stdout and stderr lines so far. */
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first line starting with `prefix`; rejects if the CLI exits first or after `timeoutMs`. */
  lineStartingWith(prefix: string, timeoutMs?: number): Promise<string>;
}

/** Runs `bin/kcc-redis.ts` with tsx as a child process, collecting its output lines. */
function runCli(args: string[]): CliRun {
  const child = spawn(process.execPath, [...TSX_NODE_ARGS, 'bin/kcc-redis.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const onLine = new Set<(line: string) => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const listener of onLine) listener(line);
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lineStartingWith = (prefix: string, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const done = (error?: Error, line?: string) => {
        clearTimeout(timer);
        onLine.delete(listener);
        if (error) reject(error);
        else resolve(line!);
      };
      const listener = (line: string) => {
        if (line.startsWith(prefix)) done(undefined, line);
      };
      const timer = setTimeout(() => done(new Error(`no "${prefix}…" line within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
      onLine.add(listener);
      void exited.then((code) => done(new Error(`the CLI exited (${code}) before printing "${prefix}…":\n${lines.join('\n')}`)));
    });
  return { child, lines, exited, lineStartingWith };
}

describe('kcc-redis local (the CLI app developers run)', () => {
  let dir: string;
  let config: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-cli-test-'));
    config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: APP_ENV.app, envs: [APP_ENV.env] }], aclProfile: 'hardened' } } }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts from the cdk.json config, prints env lines that work, and stops cleanly on SIGINT', async () => {
    const run = runCli(['local', '--port', '0', '--dir', join(dir, 'local'), '--config', config]);
    try {
      await run.lineStartingWith(READY_LINE_PREFIX);
      const env = Object.fromEntries(run.lines.filter((l) => l.startsWith('KCC_REDIS_')).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
      expect(Object.keys(env).sort()).toEqual(['KCC_REDIS_CA_FILE', 'KCC_REDIS_PASSWORD', 'KCC_REDIS_PREFIX', 'KCC_REDIS_URL', 'KCC_REDIS_USERNAME']);
      expect(env.KCC_REDIS_USERNAME).toBe(appEnvUserName(APP_ENV));
      expect(env.KCC_REDIS_PREFIX).toBe(keyPrefix(APP_ENV));
      expect(env.KCC_REDIS_URL).toMatch(/^rediss:\/\/127\.0\.0\.1:\d+$/);
      expect(run.lines.join('\n')).toContain('ACL profile "hardened"');
      expect(run.lines.some((l) => l.includes('redis-cli --tls --cacert') && l.includes(`--user ${env.KCC_REDIS_USERNAME}`))).toBe(true);

      const url = new URL(env.KCC_REDIS_URL!);
      const client = new Redis({
        host: url.hostname,
        port: Number(url.port),
        tls: { ca: await readFile(env.KCC_REDIS_CA_FILE!, 'utf8'), servername: 'localhost' },
        username: env.KCC_REDIS_USERNAME,
        password: env.KCC_REDIS_PASSWORD,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      try {
        await client.connect();
        await client.set(`${env.KCC_REDIS_PREFIX}hello`, 'world');
        expect(await client.get(`${env.KCC_REDIS_PREFIX}hello`)).toBe('world');
        await expect(client.get('other-app-dev:hello')).rejects.toThrow(/^NOPERM/);
      } finally {
        client.disconnect();
      }
    } finally {
      run.child.kill('SIGINT');
    }
    expect(await run.exited).toBe(0);
    expect(run.lines.at(-1)).toBe('kcc-redis local: stopped (SIGINT)');
  });

  it('fails with a clear message suggesting --port when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const run = runCli(['local', '--port', String(port), '--dir', join(dir, 'busy'), '--config', config]);
      expect(await run.exited).toBe(1);
      expect(run.lines.join('\n')).toContain(`port ${port} on 127.0.0.1 is in use; pass --port <n> (or --port 0 for any free port)`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('prints its usage with --help', async () => {
    const run = runCli(['--help']);
    expect(await run.exited).toBe(0);
    expect(run.lines[0]).toBe('Usage: kcc-redis <command> [options]');
  });
});
