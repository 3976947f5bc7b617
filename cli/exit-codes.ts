import { KccError } from '@kcc-redis/client';
import { LocalDirBusyError } from '../local/dir-lock.js';
import { LocalStateError } from '../local/local-state.js';
import { LocalDirNameError, PortInUseError } from '../local/run-local.js';
import { printable } from './terminal-text.js';

/**
 * Exit codes of every command:
 * - 0: the command did its job and found nothing wrong;
 * - 1: it did its job and found problems (a failed probe, drift, a degraded ring);
 * - 2: it could not do its job: a usage error, unreadable input, Redis or AWS out of reach, a
 *   confirmation declined. Nothing was changed: a command that stored its change (rotate-keys,
 *   revoke) exits 0 even when a later step (a read back, closing) fails.
 */
export const EXIT = { ok: 0, problems: 1, failed: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The command line is wrong: the message says what and how to call it. Exit 2. */
export class CliUsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` to point at. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** The command could not do its job (input, connection, AWS); the message names what and the fix. Exit 2. */
export class CliFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliFailure';
  }
}

/** Errors whose messages are written for operators (and never carry secrets): shown as they are. */
const OPERATOR_ERRORS = [CliUsageError, CliFailure, KccError, LocalStateError, LocalDirBusyError, LocalDirNameError, PortInUseError];

/** The message an error leaves on stderr: ours and the client's as they are, anything else by class and message. */
export function describeError(error: unknown): string {
  if (OPERATOR_ERRORS.some((type) => error instanceof type)) return (error as Error).message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** The longest {@link errorReason}. */
const MAX_REASON_LENGTH = 300;

/**
 * Why a part of a command's work failed, as one line for a table cell or a JSON field: {@link
 * describeError} (name and message only, never other fields: an ioredis error carries the command's
 * arguments), line breaks and control characters escaped, at most 300 characters.
 */
export function errorReason(error: unknown): string {
  const line = printable(describeError(error));
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line;
}
