import { createInterface } from 'node:readline';
import type { PlanIo } from '../infra/plan/index.js';

/**
 * Where a command reads and writes. The CLI passes the process's streams ({@link processIo});
 * tests pass their own, so that commands run in-process (with AWS mocked) and their output is
 * captured.
 */
export interface CliIo extends PlanIo {
  /** Whether stdin is a terminal: only then is an operator asked to confirm. */
  readonly stdinIsTTY: boolean;
  /** Asks a question on the terminal and resolves with the answer line. */
  ask(question: string): Promise<string>;
  /** Resolves with the first SIGINT/SIGTERM from now on (`status --watch`, `local`). */
  nextStop(): Promise<string>;
  /** Waits `ms`, or less when a stop arrives first (resolves true then). */
  sleep(ms: number): Promise<boolean>;
}

/** The process's streams, environment and signals. */
export function processIo(): CliIo {
  let stop: Promise<string> | undefined;
  const nextStop = () => {
    stop ??= new Promise((resolve) => {
      const on = (signal: NodeJS.Signals) => {
        process.off('SIGINT', on);
        process.off('SIGTERM', on);
        resolve(signal);
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    });
    return stop;
  };
  return {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
    isTTY: process.stdout.isTTY === true,
    stdinIsTTY: process.stdin.isTTY === true,
    env: process.env,
    ask: (question) =>
      new Promise((resolve) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        rl.question(question, (answer) => {
          rl.close();
          resolve(answer);
        });
      }),
    nextStop,
    sleep: (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const elapsed = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
      return Promise.race([elapsed, nextStop().then(() => true)]).finally(() => clearTimeout(timer));
    },
  };
}

/** Whether to print ANSI colors: on a terminal, unless NO_COLOR is set (https://no-color.org). */
export function useColor(io: CliIo): boolean {
  return io.isTTY && !io.env.NO_COLOR;
}
