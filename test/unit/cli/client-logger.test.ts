/**
 * The client's warnings on the CLI's connections go through the CLI's io, escaped like everything
 * else it writes; never through console.warn (the client's default), which bypasses the escaping.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cliLogger } from '../../../cli/connect.js';
import { type CliIo, terminalSafeIo } from '../../../cli/io.js';

afterEach(() => vi.restoreAllMocks());

describe('cliLogger', () => {
  it('writes warnings to the CLI\'s stderr, escaped, marked as the client\'s; drops info', () => {
    const consoleWarn = vi.spyOn(console, 'warn');
    const err: string[] = [];
    const raw: CliIo = {
      stdout: () => undefined,
      stderr: (text) => err.push(text),
      isTTY: true,
      stdinIsTTY: false,
      env: {},
      ask: async () => '',
      nextStop: () => new Promise(() => undefined),
      sleep: async () => false,
      now: () => Date.now(),
    };
    const logger = cliLogger(terminalSafeIo(raw));
    logger.warn('key ring sync failed; will retry', { error: 'ReplyError: \u001b[2Jforged' });
    logger.warn('host \u001b]52;c;ZWNobw==\u0007 in a message');
    logger.warn('retired key(s) left the JWKS: kid-1\nkcc-redis rotate-keys --app shop --env dev --immediate');
    logger.info('not shown');
    expect(err).toEqual([
      'kcc-redis (client): key ring sync failed; will retry {"error":"ReplyError: \\u001b[2Jforged"}',
      'kcc-redis (client): host \\u001b]52;c;ZWNobw==\\u0007 in a message',
      // A line break from Redis stays on the warning's line (every command's client warnings).
      'kcc-redis (client): retired key(s) left the JWKS: kid-1\\u000akcc-redis rotate-keys --app shop --env dev --immediate',
    ]);
    expect(consoleWarn).not.toHaveBeenCalled();
  });
});
