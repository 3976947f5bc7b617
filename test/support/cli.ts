import { type CliIo } from '../../cli/io.js';
import { runCli } from '../../cli/main.js';

/** What an in-process `kcc-redis` run printed and returned. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json<T = Record<string, unknown>>(): T;
}

/** Options of {@link runCliInProcess}. */
export interface InProcessOptions {
  /** The environment the command sees (nothing of the test process's own). @default {} */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Pretend stdin is a terminal and answer its question with this. */
  readonly answer?: string;
  /** Pretend stdout is a terminal (colors, unless NO_COLOR). */
  readonly tty?: boolean;
  /** Resolves when a `--watch` run should stop. */
  readonly stop?: Promise<unknown>;
}

/**
 * Runs `kcc-redis <argv>` in this process (so aws-sdk-client-mock sees its AWS calls), capturing
 * its output; questions asked on the "terminal" are recorded in `asked`.
 */
export async function runCliInProcess(argv: readonly string[], options: InProcessOptions = {}): Promise<CliResult & { readonly asked: readonly string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const stop = (options.stop ?? new Promise<never>(() => undefined)).then(() => 'SIGINT');
  const io: CliIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    isTTY: options.tty ?? false,
    stdinIsTTY: options.answer !== undefined,
    env: options.env ?? {},
    ask: async (question) => {
      asked.push(question);
      return options.answer ?? '';
    },
    nextStop: () => stop,
    sleep: async (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const slept = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
      const stopped = await Promise.race([slept, stop.then(() => true)]);
      clearTimeout(timer);
      return stopped;
    },
  };
  const code = await runCli(argv, io);
  const stdout = out.join('\n');
  return {
    code,
    stdout,
    stderr: err.join('\n'),
    asked,
    json: <T>() => JSON.parse(stdout) as T,
  };
}

/** The variables of an env file `kcc-redis local` wrote (`NAME=value`, values optionally in single quotes). */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  const variables: Record<string, string> = {};
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const raw = match[2]!;
    variables[match[1]!] = raw.startsWith("'") ? raw.slice(1, -1).replace(/'\\''/g, "'") : raw;
  }
  return variables;
}
