import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TSX_NODE_ARGS } from './tsx.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A running `kcc-redis` child process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout and stderr lines so far. */
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first line starting with `prefix`; rejects if the CLI exits first or after `timeoutMs`. */
  lineStartingWith(prefix: string, timeoutMs?: number): Promise<string>;
}

/** Starts `bin/kcc-redis.ts` with tsx as a child process (as `npm run kcc-redis --` does), collecting its output lines. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const child = spawn(process.execPath, [...TSX_NODE_ARGS, 'bin/kcc-redis.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
      for (const line of lines) listener(line);
      void exited.then((code) => done(new Error(`the CLI exited (${code}) before printing "${prefix}…":\n${lines.join('\n')}`)));
    });
  return { child, lines, exited, lineStartingWith };
}

/** Runs `kcc-redis <args>` to completion as a child process: exit code, stdout, stderr. */
export async function execCli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...TSX_NODE_ARGS, 'bin/kcc-redis.ts', ...args], { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Runs a shell command line (as an operator would paste it) and resolves with its trimmed stdout. */
export async function sh(command: string): Promise<string> {
  return (await promisify(execFile)('sh', ['-c', command], { env: { PATH: process.env.PATH ?? '' } })).stdout.trim();
}
