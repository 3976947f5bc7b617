/**
 * An on-call review: the docs say "pass your own logger (pino, console)", and Fastify's `app.log`
 * (pino) type-checks as a KccLogger, but pino reads an object after the message as printf arguments
 * and drops it: every warning lost its cause (`{"msg":"reading the revocation log failed"}`, no
 * error). A pino logger is now given the context first. Real pino, writing to a stream read back.
 */
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type KccLogger, defaultLogger, kccLogger } from '../../../client/src/logger.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';

function pinoLines(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'info' }, stream);
  return { logger, lines: () => written.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('a pino logger', () => {
  it('gets the context of a warning and of an info line as its merging object, the message as msg', () => {
    const { logger, lines } = pinoLines();
    const kcc = kccLogger(logger);
    kcc.warn('reading the revocation log failed', { error: 'ECONNREFUSED 127.0.0.1:6379' });
    kcc.info('works again', { after: 3 });
    kcc.warn('no context');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 40, msg: 'reading the revocation log failed', error: 'ECONNREFUSED 127.0.0.1:6379' }),
      expect.objectContaining({ level: 30, msg: 'works again', after: 3 }),
      expect.objectContaining({ level: 40, msg: 'no context' }),
    ]);
  });

  it("Fastify's app.log (a pino child) likewise; a child logger's bindings stay", () => {
    const { logger, lines } = pinoLines();
    const app = Fastify({ loggerInstance: logger });
    kccLogger(app.log.child({ component: 'kcc' }) as unknown as KccLogger).warn('the realm JWKS is unavailable', { error: 'fetch failed' });
    expect(lines().at(-1)).toEqual(expect.objectContaining({ msg: 'the realm JWKS is unavailable', error: 'fetch failed', component: 'kcc' }));
  });

  it('is wrapped where a connection takes it: every warning of the connection, key ring and revocations goes through it', async () => {
    const { logger, lines } = pinoLines();
    const connection = await resolveConnection({ url: 'rediss://127.0.0.1:6379', username: 'shop-prod', password: 'p', logger: logger as unknown as KccLogger, env: {} });
    connection.logger.warn('from the connection', { cause: 'one' });
    expect(lines()).toContainEqual(expect.objectContaining({ msg: 'from the connection', cause: 'one' }));
  });

  it('any other logger is used as it is: console-like loggers take the context second', () => {
    const calls: unknown[][] = [];
    const plain: KccLogger = { warn: (...args) => void calls.push(args), info: () => undefined };
    expect(kccLogger(plain)).toBe(plain);
    expect(kccLogger(defaultLogger)).toBe(defaultLogger);
    kccLogger(plain).warn('m', { error: 'e' });
    expect(calls).toEqual([['m', { error: 'e' }]]);
  });
});
