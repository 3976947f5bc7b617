import { CliFailure, CliUsageError } from './exit-codes.js';
import type { CliIo } from './io.js';

/**
 * Refuses a change nobody can confirm: without a terminal and without `--yes` (a change to every
 * instance is never made by a script that forgot to say so). Runs before anything is read, so that
 * such a script learns it at once.
 *
 * @throws CliUsageError without a terminal and without --yes
 */
export function requireConfirmable(io: CliIo, command: string, what: string, yes: boolean): void {
  if (yes || io.stdinIsTTY) return;
  throw new CliUsageError(`${command} changes every running instance; stdin is not a terminal to confirm on, so pass --yes to go ahead (${what})`, command);
}

/**
 * Asks the operator to confirm a change on a terminal (`y` or `yes`; anything else, Ctrl-D or
 * Ctrl-C declines), or goes on at once with `--yes`. Without a terminal and without `--yes` it
 * refuses ({@link requireConfirmable}). Every check that can refuse the change runs before this: a
 * "yes" is never followed by a refusal a check could have made first.
 *
 * @throws CliUsageError without a terminal and without --yes; CliFailure when declined.
 */
export async function confirmChange(io: CliIo, command: string, what: string, yes: boolean): Promise<void> {
  requireConfirmable(io, command, what, yes);
  if (yes) return;
  const answer = (await io.ask(`${what}\nProceed? [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new CliFailure('not confirmed; nothing was changed');
}
