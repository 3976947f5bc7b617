import { type CliIo } from '../../cli/io.js';
import { runCli } from '../../cli/main.js';

/** What an in-process `kcc-redis` run printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
  /** stdout parsed as one JSON document per line (for --watch --json runs). */
  jsonLines<T = Record<string, unknown>>(): T[];
}

/** Options of {@link runCliInProcess}. */
export interface InProcessOptions {
  /** The environment the command sees (nothing of the test process's own). @default {} */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Pretend stdin is a terminal and answer its question with this (or what this function resolves with, once asked). */
  readonly answer?: string | (() => Promise<string>);
  /** Pretend stdout is a terminal (colors, unless NO_COLOR). */
  readonly tty?: boolean;
  /**
   * For `--watch`: the run stops at the sleep after refresh number `refreshes`. Until then a sleep
   * does not wait: it runs `between(n)` (n: the refreshes so far), then moves the run's clock
   * (`io.now`, else the real one) by the time asked for. `stop` is a Ctrl-C: `io.nextStop()` resolves
   * once it settles, and a sleep from then on returns at once as stopped.
   */
  readonly watch?: { readonly refreshes: number; readonly between?: (n: number) => Promise<void>; readonly stop?: Promise<unknown> };
}

/**
 * Runs `kcc-redis <argv>` in this process (so aws-sdk-client-mock sees its AWS calls), capturing
 * its output; questions asked on the "terminal" are recorded in `asked`.
 */
export async function runCliInProcess(argv: readonly string[], options: InProcessOptions = {}): Promise<CliResult & { readonly asked: readonly string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  let clock = Date.now();
  let refreshes = 0;
  let stopped = false;
  const stop = options.watch?.stop?.then(() => {
    stopped = true;
    return 'SIGINT';
  });
  const io: CliIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    isTTY: options.tty ?? false,
    stdinIsTTY: options.answer !== undefined,
    env: options.env ?? {},
    ask: async (question) => {
      asked.push(question);
      return typeof options.answer === 'function' ? options.answer() : (options.answer ?? '');
    },
    nextStop: () => stop ?? new Promise(() => undefined),
    sleep: async (ms) => {
      if (options.watch === undefined) throw new Error('runCliInProcess: a command slept; give options.watch');
      if (stopped) return true;
      refreshes++;
      if (refreshes >= options.watch.refreshes) return true;
      await options.watch.between?.(refreshes);
      clock += ms;
      return false;
    },
    now: () => (options.watch === undefined ? Date.now() : clock),
  };
  const code = await runCli(argv, io);
  const stdout = out.join('\n');
  return {
    code,
    stdout,
    stderr: err.join('\n'),
    asked,
    json: <T>() => JSON.parse(stdout) as T,
    jsonLines: <T>() => out.map((line) => JSON.parse(line) as T),
  };
}

/** The variables of an env file `kcc-redis local` wrote, read as `node --env-file` reads it (`util.parseEnv`). */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  const { parseEnv } = await import('node:util');
  return parseEnv(await readFile(file, 'utf8')) as Record<string, string>;
}

/** The same env file's variables as a POSIX shell reads it (`set -a; . <file>`), the other way the docs offer. */
export async function readEnvFileWithShell(file: string): Promise<Record<string, string>> {
  const { execFile } = await import('node:child_process');
  const { readFile } = await import('node:fs/promises');
  const { promisify } = await import('node:util');
  const names = [...(await readFile(file, 'utf8')).matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]!);
  const script = 'set -a; . "$1"; set +a; exec "$2" -e "process.stdout.write(JSON.stringify(process.env))"';
  const { stdout } = await promisify(execFile)('sh', ['-c', script, 'sh', file, process.execPath], { env: {} });
  const all = JSON.parse(stdout) as Record<string, string>;
  return Object.fromEntries(names.map((name) => [name, all[name]!]));
}
