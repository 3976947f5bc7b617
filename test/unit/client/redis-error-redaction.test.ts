import { inspect } from 'node:util';
import { Command } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { redactAuthArguments, redactCommandArguments, redisErrorSummary } from '../../../client/src/redis-error-redaction.js';
import { secretStandIn } from '../../../client/src/secret-stand-in.js';
import { secretsIn } from '../../support/secret-scan.js';

const PASSWORD = 'Password-that-must-not-leak-0123456789';

/** A reply error as ioredis builds it: the failed command, with its arguments, attached. */
function replyError(name: string, args: unknown[], message = 'WRONGPASS invalid username-password pair or user is disabled.'): Error {
  return Object.assign(new Error(message), { name: 'ReplyError', command: { name, args } });
}

describe('the AUTH/HELLO arguments of Redis errors are blanked, however deep the error sits', () => {
  it.each([
    ['AUTH', () => replyError('auth', ['user', PASSWORD])],
    ['HELLO … AUTH', () => replyError('hello', [3, 'AUTH', 'user', PASSWORD, 'SETNAME', 'x'])],
    ["a cluster's lastNodeError (ClusterAllFailedError)", () => Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: replyError('auth', ['user', PASSWORD]) })],
    ['a cause chain', () => new Error('outer', { cause: new Error('middle', { cause: replyError('auth', ['user', PASSWORD]) }) })],
    ['an AggregateError member', () => new AggregateError([new Error('other'), replyError('auth', ['user', PASSWORD])], 'all failed')],
    ["a transaction's previousErrors", () => Object.assign(new Error('EXECABORT'), { previousErrors: [replyError('auth', ['user', PASSWORD])] })],
    ['a stand-in as the argument', () => replyError('auth', ['user', secretStandIn(() => PASSWORD)])],
    // ioredis' own Command, given the stand-in as the connection gives it: its args hold the password
    // as a string (what ioredis attached to errors before 6.1's redactSensitiveArgs).
    ["ioredis' AUTH command built from a stand-in", () => replyError('auth', new Command('auth', ['user', secretStandIn(() => PASSWORD) as unknown as string]).args)],
    ["ioredis' HELLO command built from a stand-in", () => replyError('hello', new Command('hello', [3, 'AUTH', 'user', secretStandIn(() => PASSWORD) as unknown as string]).args)],
  ])('%s', (_name, build) => {
    const error = build();
    expect(secretsIn(error, [PASSWORD], { coerce: true })).not.toEqual([]); // the case does hold the password
    redactAuthArguments(error);
    expect(secretsIn(error, [PASSWORD], { coerce: true })).toEqual([]);
  });

  it("ioredis holds the secret itself in an AUTH command's arguments; only its own redaction takes it out of the errors it builds", () => {
    // Why this layer exists: the stand-in does not survive ioredis building the command.
    const command = new Command('auth', ['user', secretStandIn(() => PASSWORD) as unknown as string]);
    expect(command.args).toEqual(['user', PASSWORD]);
    expect(Command.redactSensitiveArgs('auth', command.args)).toEqual(['[REDACTED]', '[REDACTED]']);
  });

  it('leaves the arguments of other commands alone', () => {
    const error = replyError('set', ['key', 'value'], 'NOPERM this user has no permissions to access one of the keys used as arguments');
    redactAuthArguments(error);
    expect((error as unknown as { command: { args: string[] } }).command.args).toEqual(['key', 'value']);
  });

  it('what a caller gets: every command\'s arguments replaced by their count, nested errors too (a value can be a refresh token)', () => {
    // Found by an audit (2026-12-03): the keycloak-connector's cache stores refresh tokens; a write Redis
    // refused (OOM, READONLY) reached upstream's pino logger with the token in err.command.args.
    const TOKEN = 'refresh-token-that-must-not-leak-0123456789';
    const error = Object.assign(replyError('evalsha', ['sha', 2, 'k1', 'k2', JSON.stringify({ refresh_token: TOKEN }), 60_000], 'OOM command not allowed'), {
      cause: replyError('set', ['key', TOKEN], 'READONLY'),
    });
    expect(secretsIn(error, [TOKEN], { coerce: true })).not.toEqual([]);
    redactCommandArguments(error);
    expect(secretsIn(error, [TOKEN], { coerce: true })).toEqual([]);
    expect((error as unknown as { command: { name: string; args: string[] } }).command).toEqual({ name: 'evalsha', args: ['[6 arguments redacted]'] });
    redactCommandArguments(error); // twice changes nothing
    expect((error as unknown as { command: { args: string[] } }).command.args).toEqual(['[6 arguments redacted]']);
    // A lone value that merely looks bracketed is a value.
    const bracketed = replyError('get', ['[looks-like-a-marker-0123456789]'], 'NOPERM');
    redactCommandArguments(bracketed);
    expect((bracketed as unknown as { command: { args: string[] } }).command.args).toEqual(['[1 argument redacted]']);
  });

  it('a summary keeps the name, message and command name, nothing else', () => {
    const summary = redisErrorSummary(Object.assign(replyError('auth', ['user', PASSWORD]), { code: 'X' }));
    expect(summary).toMatchObject({ name: 'ReplyError', message: expect.stringMatching(/^WRONGPASS/), command: { name: 'auth' }, code: 'X' });
    expect(secretsIn(summary, [PASSWORD], { coerce: true })).toEqual([]);
  });
});

describe('a secret stand-in', () => {
  it('reads as the secret only when coerced; printed, inspected or serialized it is redacted', () => {
    const standIn = secretStandIn(() => PASSWORD);
    expect(String(standIn)).toBe(PASSWORD);
    expect(`${standIn as unknown as string}`).toBe(PASSWORD);
    expect(inspect({ password: standIn })).not.toContain(PASSWORD);
    expect(JSON.stringify({ password: standIn })).toBe('{"password":"[redacted]"}');
    expect(secretsIn({ options: { password: standIn } }, [PASSWORD])).toEqual([]);
  });
});
