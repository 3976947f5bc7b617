import { CliFailure, CliUsageError } from './exit-codes.js';
import type { CliIo } from './io.js';

/**
 * Asks the operator to confirm a change on a terminal (`y` or `yes`; anything else, Ctrl-D or
 * Ctrl-C declines), or goes on at once with `--yes`. Without a terminal and without `--yes` it refuses: a change to every
 * instance is never made by a script that forgot to say so.
 *
 * @throws CliUsageError without a terminal and without --yes; CliFailure when declined.
 */
export async function confirmChange(io: CliIo, command: string, what: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!io.stdinIsTTY) {
    throw new CliUsageError(`${command} changes every running instance; stdin is not a terminal to confirm on, so pass --yes to go ahead (${what})`, command);
  }
  const answer = (await io.ask(`${what}\nProceed? [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new CliFailure('not confirmed; nothing was changed');
}
