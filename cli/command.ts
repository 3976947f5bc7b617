import type { CliIo } from './io.js';

/** One subcommand of `kcc-redis`. */
export interface Command {
  readonly name: string;
  /** One line for `kcc-redis --help`. */
  readonly summary: string;
  /** The command's `--help`. */
  readonly usage: string;
  /** Runs with the arguments after the command's name; resolves with the exit code (see exit-codes.ts). */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}
