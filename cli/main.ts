import type { Command } from './command.js';
import { checkCommand } from './commands/check.js';
import { driftCommand } from './commands/drift.js';
import { localCommand } from './commands/local.js';
import { planCommand } from './commands/plan.js';
import { revokeCommand } from './commands/revoke.js';
import { rotateKeysCommand } from './commands/rotate-keys.js';
import { statusCommand } from './commands/status.js';
import { CliUsageError, EXIT, describeError } from './exit-codes.js';
import { type CliIo, terminalSafeIo } from './io.js';

/** Every command, in the order `kcc-redis --help` lists them. */
export const COMMANDS: readonly Command[] = [localCommand, checkCommand, driftCommand, statusCommand, rotateKeysCommand, revokeCommand, planCommand];

export const USAGE = `Usage: kcc-redis <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

\`kcc-redis <command> --help\` shows a command's options.

Exit codes: 0 all good; 1 problems found; 2 usage error, or what the command needs is out of reach
(nothing was changed; rotate-keys and revoke exit 0 once their change is stored).`;

/**
 * `kcc-redis`: runs the command named first in `argv` and resolves with its exit code. Never
 * throws: a usage error prints the reason and where to look (exit 2); any other failure prints its
 * message, which never holds a secret (exit 2). Everything it writes is made terminal-safe
 * ({@link terminalSafeIo}).
 */
export async function runCli(argv: readonly string[], rawIo: CliIo): Promise<number> {
  const io = terminalSafeIo(rawIo);
  const [name, ...rest] = argv;
  if (name === '-h' || name === '--help' || name === 'help') {
    io.stdout(USAGE);
    return EXIT.ok;
  }
  if (name === undefined) {
    io.stderr(USAGE);
    return EXIT.failed;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`kcc-redis: unknown command "${name}"\n\n${USAGE}`);
    return EXIT.failed;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliUsageError) {
      io.stderr(`kcc-redis ${command.name}: ${error.message}\n(kcc-redis ${command.name} --help shows the options)`);
    } else {
      io.stderr(`kcc-redis ${command.name}: ${describeError(error)}`);
    }
    // Asked for JSON: a document even for a failure (a script reads exitCode and error from stdout, as
    // documented). The error is stderr's message as it is: JSON escapes it (terminalSafeIo what JSON
    // leaves raw), so it parses back to that message, line breaks included.
    if (rest.includes('--json')) io.stdout(JSON.stringify({ v: 1, command: command.name, exitCode: EXIT.failed, error: describeError(error) }, null, 2));
    return EXIT.failed;
  }
}
