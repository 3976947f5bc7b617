const REDACTED = '[redacted]';

/**
 * ioredis attaches the failed command to a reply error (`error.command.args`); for AUTH and HELLO
 * those arguments hold the password or IAM token. Blanks them in place, before the error reaches a
 * listener, a log or another error's `cause`.
 */
export function redactAuthArguments(error: unknown): void {
  if (typeof error !== 'object' || error === null || !('command' in error)) return;
  const command = (error as { command?: { name?: unknown; args?: unknown } }).command;
  if (!command || !Array.isArray(command.args)) return;
  const name = String(command.name).toLowerCase();
  const args = command.args as unknown[];
  if (name === 'auth' && args.length > 0) {
    args[args.length - 1] = REDACTED;
  } else if (name === 'hello') {
    const at = args.findIndex((arg) => String(arg).toUpperCase() === 'AUTH');
    if (at >= 0 && at + 2 < args.length) args[at + 2] = REDACTED;
  }
}
