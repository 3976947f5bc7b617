import { createInterface } from 'node:readline';
import type { PlanIo } from '../infra/plan/index.js';
import { stopRace } from '../client/src/stop-race.js';
import { terminalSafe } from './terminal-text.js';

/**
 * Where a command reads and writes. The CLI passes the process's streams ({@link processIo});
 * tests pass their own, so that commands run in-process (with AWS mocked) and their output is
 * captured.
 */
export interface CliIo extends PlanIo {
  /** Whether stdin is a terminal: only then is an operator asked to confirm. */
  readonly stdinIsTTY: boolean;
  /** Asks a question on the terminal and resolves with the answer line: '' when input ends (Ctrl-D) or on Ctrl-C. */
  ask(question: string): Promise<string>;
  /**
   * Resolves with the first SIGINT/SIGTERM from now on (`status --watch`, `local`); from then on a
   * repeat does not end the process by the signal: the stop under way finishes with its exit code.
   */
  nextStop(): Promise<string>;
  /** Waits `ms`, or less when a stop arrives first (resolves true then). */
  sleep(ms: number): Promise<boolean>;
  /** The time, ms since the epoch (`status --watch`'s clock: tests move it with their sleeps). */
  now(): number;
}

/** The process's streams, environment and signals. */
export function processIo(): CliIo {
  let stop: Promise<string> | undefined;
  let sleepUntilStopped: ((elapsed: Promise<boolean>) => Promise<boolean>) | undefined;
  const nextStop = () => {
    stop ??= new Promise((resolve) => {
      // Kept after the first signal. Through the launcher (npx kcc-redis, bin/kcc-redis.mjs) a Ctrl-C
      // reaches this process twice, from the terminal and forwarded by the launcher: with the
      // listeners gone, the second ended the process by the signal (130 in a shell) before the stop
      // under way (status --watch's exit with its last code, local's clean stop) could finish.
      const on = (signal: NodeJS.Signals) => resolve(signal);
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
        let settled = false;
        const settle = (answer: string) => {
          if (settled) return;
          settled = true;
          rl.close();
          resolve(answer);
        };
        // Ctrl-D (end of input) or Ctrl-C leaves no answer: a decline. Unsettled, the promise would
        // let the event loop drain and the process exit 0 as if the change had been made.
        const noAnswer = () => {
          if (!settled) process.stderr.write('\n');
          settle('');
        };
        rl.on('SIGINT', noAnswer);
        rl.on('close', noAnswer);
        rl.question(question, settle);
      }),
    nextStop,
    sleep: (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const elapsed = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
      sleepUntilStopped ??= stopRace(nextStop().then(() => true));
      return sleepUntilStopped(elapsed).finally(() => clearTimeout(timer));
    },
    now: () => Date.now(),
  };
}

/**
 * `io` with everything written through it made {@link terminalSafe}: stdout, stderr and the
 * question asked on the terminal. Text from Redis reaches the output in many places (a refused
 * ring's message, a kid, an error's reason); escaping it here, once, covers them all. Only stdout
 * keeps the CLI's own color and clear-screen sequences, and only on a terminal.
 */
export function terminalSafeIo(io: CliIo): CliIo {
  const own = { colors: useColor(io), clearScreen: io.isTTY };
  const none = { colors: false, clearScreen: false };
  return {
    stdinIsTTY: io.stdinIsTTY,
    isTTY: io.isTTY,
    env: io.env,
    stdout: (text) => io.stdout(terminalSafe(text, own)),
    stderr: (text) => io.stderr(terminalSafe(text, none)),
    ask: (question) => io.ask(terminalSafe(question, none)),
    nextStop: () => io.nextStop(),
    sleep: (ms) => io.sleep(ms),
    now: () => io.now(),
  };
}

/** Whether to print ANSI colors: on a terminal, unless NO_COLOR is set (https://no-color.org). */
export function useColor(io: CliIo): boolean {
  return io.isTTY && !io.env.NO_COLOR;
}
