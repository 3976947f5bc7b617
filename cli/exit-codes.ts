import { KccError } from '@kcc-redis/client';
import { LocalDirBusyError } from '../local/dir-lock.js';
import { LocalStateError } from '../local/local-state.js';
import { LocalDirNameError, PortInUseError } from '../local/run-local.js';
import { inCliTerms } from './client-advice.js';
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

/**
 * The message an error leaves on stderr: ours as it is, the client's with its advice in the CLI's
 * terms (a flag or a variable where it names a library option: {@link inCliTerms}), anything else by
 * class and message.
 */
export function describeError(error: unknown): string {
  if (error instanceof KccError) return inCliTerms(error.message);
  if (OPERATOR_ERRORS.some((type) => error instanceof type)) return (error as Error).message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** The longest {@link errorText}. */
const MAX_REASON_LENGTH = 300;

/**
 * Why a part of a command's work failed, for a JSON field or a table cell: {@link describeError}
 * (name and message only, never other fields: an ioredis error carries the command's arguments), at
 * most 300 characters, and nothing escaped: JSON escapes it its own way (a document parses back to
 * the message), and a table makes its cells printable. Escaping it here too showed a line break as
 * `\\u000a` in JSON, which parsed to the six characters instead of the line break.
 */
export function errorText(error: unknown): string {
  const text = describeError(error);
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}

/**
 * {@link errorText} as one line for a sentence the CLI writes (`…: the revocation was NOT stored:
 * writing it to Redis failed (<reason>)`): line breaks and control characters escaped, so that it
 * stays on its sentence's line.
 */
export function errorReason(error: unknown): string {
  return printable(errorText(error));
}
