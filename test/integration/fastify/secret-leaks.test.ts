/**
 * The plugin's failure paths and its decoration hold no secret: a registration refused for a wrong
 * password, and `fastify.kcc` (connection, key ring, revocations) printed, inspected or serialized.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { fastifyKcc } from '../../../client/src/fastify/index.js';
import { secretsIn } from '../../support/secret-scan.js';
import { KEY_RING, USER, appWith, connectionTo, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

describe('Fastify plugin: no secret in its errors or its decoration', () => {
  const { server, realm } = useRedisAndRealm();

  it('a registration refused for a wrong password: the error Fastify reports and the log carry no password', async () => {
    const wrong = 'Wrong-plugin-password-that-must-not-leak-0123';
    const logger = recordingLogger();
    const app = Fastify();
    app.register(fastifyKcc, pluginOptions(server, realm, { connection: { ...connectionTo(server, logger), password: wrong }, logger }));
    const error = await app.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED' });
    expect(secretsIn(error, [wrong], { coerce: true })).toEqual([]);
    expect(secretsIn(logger.lines, [wrong])).toEqual([]);
    await app.close();
  });

  it('fastify.kcc printed, inspected and serialized shows no password and no key-encryption key', async () => {
    const app = await appWith(pluginOptions(server, realm));
    try {
      const secrets = [server.users.get(USER)!.password, KEY_RING.keyEncryptionKey!];
      expect(secretsIn(app.kcc, secrets)).toEqual([]);
      expect(secretsIn(app.kcc.health(), secrets)).toEqual([]);
      expect(JSON.parse(JSON.stringify(app.kcc))).toMatchObject({ redis: { username: USER }, keyRing: { health: { status: 'ready' } }, revocations: { stale: false } });
    } finally {
      await app.close();
    }
  });
});
