/**
 * How `kcc-redis check` reads the replies it did not expect: a command that does not exist on the
 * server counts as refused only for the exact unknown-command (or unknown-subcommand) reply of
 * that command, in the forms Redis 7 / Valkey and Redis 6 write it; and the secrets a server may
 * echo are redacted from the report, also cut short (Redis repeats 128 characters of an argument).
 */
import { describe, expect, it } from 'vitest';
import { unavailableReply } from '../../../cli/check/acl-probes.js';
import { redactSecrets } from '../../../cli/check/redact.js';

const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });

describe('unavailableReply', () => {
  it.each([
    ['Redis 7 / Valkey', "ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory' ", ['CONFIG', 'GET', 'maxmemory'], "unknown command 'CONFIG'"],
    ['Redis 6', 'ERR unknown command `CONFIG`, with args beginning with: `GET`, `maxmemory`, ', ['CONFIG', 'GET', 'maxmemory'], "unknown command 'CONFIG'"],
    ['the name in another case', "ERR unknown command 'keys', with args beginning with: 'kcc-check-1*' ", ['KEYS', 'kcc-check-1*'], "unknown command 'KEYS'"],
    ['a container without the subcommand', "ERR unknown subcommand 'LIST'. Try CLIENT HELP.", ['CLIENT', 'LIST'], "unknown subcommand 'CLIENT LIST'"],
    ['the container itself unknown', "ERR unknown command 'CLIENT', with args beginning with: 'LIST' ", ['CLIENT', 'LIST'], "unknown command 'CLIENT'"],
  ])('%s: counted as not available', (_name, message, command, expected) => {
    expect(unavailableReply(reply(message), command)).toBe(expected);
  });

  it.each([
    ['NOPERM', "NOPERM this user has no permissions to run the 'config|get' command", ['CONFIG', 'GET', 'maxmemory']],
    ['another command unknown', "ERR unknown command 'KEYS', with args beginning with: 'x' ", ['CONFIG', 'GET', 'maxmemory']],
    ['a command whose name only starts the same', "ERR unknown command 'CONFIGX', with args beginning with: ", ['CONFIG', 'GET', 'maxmemory']],
    ['another subcommand unknown', "ERR unknown subcommand 'KILL'. Try CLIENT HELP.", ['CLIENT', 'LIST']],
    ['the subcommand reply with more after it', "ERR unknown subcommand 'LIST'. Try CLIENT HELP. Or not.", ['CLIENT', 'LIST']],
    ['not at the start of the reply', "MOVED 1 ERR unknown command 'CONFIG', with args beginning with: ", ['CONFIG', 'GET', 'maxmemory']],
    ['a wrong number of arguments', "ERR wrong number of arguments for 'config|get' command", ['CONFIG', 'GET', 'maxmemory']],
    ['a disabled command', "ERR This Redis command is not allowed from script", ['CONFIG', 'GET', 'maxmemory']],
  ])('%s: not counted', (_name, message, command) => {
    expect(unavailableReply(reply(message), command)).toBeUndefined();
  });
});

describe('redactSecrets', () => {
  const password = 'Vq2sV7f9kPz3LmN8xR4tY6wB1cD5eF0gH2jK4lM6nP8qR0sT2uV4wX6yZ8aB0cD2';
  const token = `kcc-redis/?Action=connect&User=my-app-prod&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA${'A'.repeat(120)}&X-Amz-Signature=abc`;

  it('replaces every appearance of a secret, whole or cut after at least 16 characters', () => {
    expect(redactSecrets(`args beginning with: 'default' '${password}' and again ${password}`, [password])).toBe("args beginning with: 'default' '[redacted]' and again [redacted]");
    expect(redactSecrets(`'${token.slice(0, 128)}'`, [token])).toBe("'[redacted]'");
    expect(redactSecrets(`x${password.slice(0, 16)}y`, [password])).toBe('x[redacted]y');
  });

  it('leaves text without a secret, and shorter pieces of one, as they are', () => {
    expect(redactSecrets('WRONGPASS invalid username-password pair or user is disabled.', [password, token])).toBe('WRONGPASS invalid username-password pair or user is disabled.');
    expect(redactSecrets(`x${password.slice(0, 15)}y`, [password])).toBe(`x${password.slice(0, 15)}y`);
    // The cache name a token starts with, alone, is not a piece of it.
    expect(redactSecrets('cache kcc-redis/ of eu-west-1', [token])).toBe('cache kcc-redis/ of eu-west-1');
    expect(redactSecrets('short', ['short'])).toBe('[redacted]');
    expect(redactSecrets('anything', [''])).toBe('anything');
  });
});
