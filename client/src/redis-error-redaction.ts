const REDACTED = '[redacted]';
/** What {@link redactCommandArguments} leaves in place of a command's arguments. */
const REDACTED_ARGUMENTS = /^\[\d+ arguments? redacted\]$/;
/** How deep a chain of nested errors is followed (cause, lastNodeError, errors). */
const MAX_DEPTH = 8;

/**
 * ioredis attaches the failed command to a reply error (`error.command.args`), and nests errors
 * (a cluster's `lastNodeError`, `cause`, an AggregateError's `errors`, a transaction's
 * `previousErrors`); for AUTH and HELLO those arguments hold the password or IAM token. Replaces
 * them in place, through every nested error, before the error reaches a listener, a caller, a log
 * or another error's `cause`.
 *
 * The stand-in the connection hands ioredis does not protect an error: ioredis turns it into the
 * secret string when it builds the AUTH or HELLO command (`Command.stringifyArguments`), so
 * `command.args` holds the secret itself. What keeps it out of ioredis' own errors first is
 * ioredis (from 6.1, the range the client requires): the two places that attach a command to an
 * error (a reply error, a command aborted by a closed connection) attach
 * `Command.redactSensitiveArgs(name, args)`. This is the second layer, for any error shaped so that
 * does not pass through those two places (an older or patched ioredis, another library, a wrapper).
 */
export function redactAuthArguments(error: unknown): void {
  eachCommand(error, redactCommand);
}

/**
 * Replaces the arguments of every command attached to `error` (and to the errors nested in it) by
 * their count: what a caller gets from a failed command. A command's values can be anything the app
 * stores (a refresh token cached by the keycloak-connector, a session id), and a logger that prints
 * an error prints them (pino's error serializer does).
 */
export function redactCommandArguments(error: unknown): void {
  eachCommand(error, (command) => {
    const args = (command as { args?: unknown }).args;
    if (Array.isArray(args) && !(args.length === 1 && typeof args[0] === 'string' && REDACTED_ARGUMENTS.test(args[0]))) {
      args.splice(0, args.length, `[${args.length} argument${args.length === 1 ? '' : 's'} redacted]`);
    }
  });
}

function eachCommand(error: unknown, visit: (command: object) => void, depth = 0, seen = new Set<unknown>()): void {
  if (typeof error !== 'object' || error === null || seen.has(error) || depth > MAX_DEPTH) return;
  seen.add(error);
  const command = (error as { command?: unknown }).command;
  if (typeof command === 'object' && command !== null) visit(command);
  const nested = error as { cause?: unknown; lastNodeError?: unknown; errors?: unknown; previousErrors?: unknown };
  for (const inner of [nested.cause, nested.lastNodeError]) eachCommand(inner, visit, depth + 1, seen);
  for (const list of [nested.errors, nested.previousErrors]) {
    if (Array.isArray(list)) for (const inner of list) eachCommand(inner, visit, depth + 1, seen);
  }
}

function redactCommand(command: object): void {
  const { name, args } = command as { name?: unknown; args?: unknown };
  if (!Array.isArray(args)) return;
  const lower = String(name).toLowerCase();
  if (lower === 'auth' && args.length > 0) {
    args[args.length - 1] = REDACTED;
  } else if (lower === 'hello') {
    const at = args.findIndex((arg) => typeof arg === 'string' && arg.toUpperCase() === 'AUTH');
    if (at >= 0 && at + 2 < args.length) args[at + 2] = REDACTED;
  }
}

/**
 * A copy of a Redis error to carry as another error's `cause`: its name, message and the failed
 * command's name, nothing else (no arguments, no nested errors, no socket or connection objects).
 */
export function redisErrorSummary(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const summary = new Error(error.message);
  summary.name = error.name;
  const command = (error as { command?: { name?: unknown } }).command;
  if (command && typeof command.name === 'string') Object.defineProperty(summary, 'command', { value: { name: command.name }, enumerable: true });
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.defineProperty(summary, 'code', { value: code, enumerable: true });
  return summary;
}

/** The error's name and message, at most 300 characters, for a log line: never its other fields (an ioredis error carries the command's arguments). */
export function errorLine(error: unknown): string {
  // ioredis' own words point at an option the client sets, not at the cause.
  if (error instanceof Error && error.name === 'MaxRetriesPerRequestError') return 'Redis unreachable: the command was not sent, its connection did not come back within its reconnect attempts (MaxRetriesPerRequestError)';
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 300);
}
