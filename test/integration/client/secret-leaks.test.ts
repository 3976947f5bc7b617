/**
 * No password and no key-encryption key in any error (with its cause chain and nested errors), log
 * line, or printed, inspected or serialized public object, on every failure path of a connection:
 * a wrong password at connect, WRONGPASS after a rotation (commands rejected while reconnecting),
 * NOAUTH, timeouts. Real redis-server, TLS, the stack's ACL users.
 */
import { hkdfSync } from 'node:crypto';
import { type Server, type Socket, createServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Command, type Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger, KeyRing, Revocations } from '../../../client/src/index.js';
import { AuthStrippingProxy } from '../../support/auth-stripping-proxy.js';
import { nextEvent } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { secretsIn } from '../../support/secret-scan.js';

const USER = 'leak-prod';
const KEK = 'leak-test-key-encryption-key-0123456789abcdefghijklmnopqrstuv';
const server = useTestRedis({ appEnvs: [{ app: 'leak', env: 'prod' }], persistence: 'none' });

function recorder(): KccLogger & { lines: string[] } {
  const lines: string[] = [];
  const record = (level: string) => (message: string, context?: Record<string, unknown>) => lines.push(`${level} ${message} ${JSON.stringify(context ?? {})}`);
  return { lines, warn: record('warn'), info: record('info') };
}

/** The thrown error (or undefined when it resolved). */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('no secret on any failure path of a connection', () => {
  it('a wrong password at connect: the KccAuthError, its cause and the log name the user, never the password', async () => {
    const logger = recorder();
    const wrong = 'Wrong-password-that-must-not-leak-0123456789';
    const error = await failure(KccRedis.connect(kccOptions(server, USER, { password: wrong, logger })));
    expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED', message: expect.stringMatching(/user "leak-prod"/) });
    expect((error as Error).cause).toMatchObject({ message: expect.stringMatching(/^WRONGPASS/), command: { name: 'auth' } });
    expect(secretsIn(error, [wrong], { coerce: true })).toEqual([]);
    expect(secretsIn(logger.lines, [wrong])).toEqual([]);
  });

  it('a password source that keeps giving a wrong one: the timeout error and its cause carry no password', async () => {
    const logger = recorder();
    const wrong = 'Stale-password-from-the-secret-0123456789abcdef';
    const error = await failure(
      KccRedis.connect({ ...kccOptions(server, USER, { logger, connectTimeoutMs: 500, credentialRefreshMinIntervalMs: 10 }), password: undefined, username: undefined, credentialsProvider: async () => ({ username: USER, password: wrong }) }),
    );
    expect(error).toMatchObject({ code: 'KCC_CONNECTION_FAILED', message: expect.stringMatching(/not ready after 500 ms: Redis rejected the credentials of user "leak-prod" even after re-reading them \(WRONGPASS\)/) });
    expect(secretsIn(error, [wrong], { coerce: true })).toEqual([]);
    expect(secretsIn(logger.lines, [wrong])).toEqual([]);
  });

  it('WRONGPASS after a rotation: the commands rejected while reconnecting, the connection\'s errors, the object and the log carry neither password', async () => {
    const logger = recorder();
    const old = server.users.get(USER)!.password;
    const rotated = 'R'.repeat(32) + 'r'.repeat(32);
    const redis = await KccRedis.connect({
      ...kccOptions(server, USER, { logger, reconnectBaseDelayMs: 5, reconnectMaxDelayMs: 20, credentialRefreshMinIntervalMs: 10 }),
      password: undefined,
      username: undefined,
      // The secret was not updated: it keeps giving the old password.
      credentialsProvider: async () => ({ username: USER, password: old }),
    });
    const raw: unknown[] = [];
    redis.client.on('error', (error: unknown) => raw.push(error));
    try {
      await server.setPasswords(USER, [rotated]);
      const failed = nextEvent(redis, 'auth-failure');
      const admin = await server.admin();
      await admin.call('CLIENT', 'KILL', 'USER', USER);
      await admin.quit();
      await failed;
      const error = await failure(redis.run((r) => r.set(redis.key('k'), 'v')));
      expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED', message: expect.stringMatching(/even after re-reading them \(WRONGPASS\)/) });
      expect(raw.length).toBeGreaterThan(0);
      const secrets = [old, rotated];
      expect(secretsIn(error, secrets, { coerce: true })).toEqual([]);
      expect(secretsIn(raw, secrets, { coerce: true })).toEqual([]);
      expect(secretsIn(redis, secrets)).toEqual([]);
      expect(secretsIn(logger.lines, secrets)).toEqual([]);
    } finally {
      await server.setPasswords(USER, [old]);
      await redis.close();
    }
  });

  it('NOAUTH (a connection that never authenticated): the KccAuthError and its cause carry no password', async () => {
    const proxy = await AuthStrippingProxy.start(server);
    try {
      const password = server.users.get(USER)!.password;
      // AUTH is answered (+OK, by the proxy): the connection is ready, and its first command meets NOAUTH.
      const redis = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, connectTimeoutMs: 2_000 }));
      try {
        const error = await failure(redis.run((r) => r.ping()));
        expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED', message: expect.stringMatching(/\(NOAUTH\)/) });
        expect(secretsIn(error, [password], { coerce: true })).toEqual([]);
      } finally {
        await redis.close();
      }
    } finally {
      await proxy.stop();
    }
  });

  it("an error with AUTH's or HELLO's arguments in the clear (as ioredis before 6.1 attached them): the connection blanks them before any listener after it sees the error", async () => {
    // ioredis 6.1 redacts the commands it attaches to its errors (Command.redactSensitiveArgs), so no
    // real failure reaches the client's own layer unredacted: this error is built as an ioredis
    // without that would build it, the arguments from ioredis' own Command (which turns the
    // connection's stand-in into the password), and emitted where ioredis emits its errors.
    const password = server.users.get(USER)!.password;
    const redis = await KccRedis.connect(kccOptions(server, USER));
    const seen: unknown[] = [];
    redis.client.on('error', (error: unknown) => seen.push(error));
    try {
      const auth = Object.assign(new Error('ERR unexpected'), { name: 'ReplyError', command: { name: 'auth', args: new Command('auth', [USER, password]).args } });
      const hello = Object.assign(new Error('ERR unexpected'), { name: 'ReplyError', command: { name: 'hello', args: new Command('hello', [3, 'AUTH', USER, password]).args } });
      for (const error of [auth, hello]) expect(secretsIn(error, [password], { coerce: true })).not.toEqual([]);
      redis.client.emit('error', auth);
      redis.client.emit('error', hello);
      expect(seen).toHaveLength(2);
      expect(secretsIn(seen, [password], { coerce: true })).toEqual([]);
    } finally {
      await redis.close();
    }
  });

  it('a command Redis refuses: the error the caller gets carries none of the values it was sent', async () => {
    // A value can be anything the app stores (the keycloak-connector caches refresh tokens); loggers
    // print a reply error's command arguments (pino's error serializer does).
    const VALUE = 'refresh-token-value-that-must-not-leak-0123456789';
    const admin = await server.admin();
    await admin.call('ACL', 'SETUSER', USER, '-set', '-evalsha', '-eval');
    const redis = await KccRedis.connect(kccOptions(server, USER));
    try {
      const set = await failure(redis.run((r) => r.set(redis.key('cached'), VALUE)));
      const script = await failure(redis.script("return redis.call('SET', KEYS[1], ARGV[1])", [redis.key('cached')], [VALUE]));
      for (const error of [set, script]) {
        expect(error).toMatchObject({ message: expect.stringMatching(/^NOPERM/) });
        expect(secretsIn(error, [VALUE], { coerce: true })).toEqual([]);
      }
    } finally {
      await admin.call('ACL', 'SETUSER', USER, '+set', '+evalsha', '+eval');
      await admin.quit();
      await redis.close();
    }
  });

  it('a timeout (a server that never answers): the KccConnectionError carries no password', async () => {
    const accepted: Socket[] = [];
    const silent: Server = createServer((socket) => void accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const password = server.users.get(USER)!.password;
      const url = `rediss://127.0.0.1:${(silent.address() as { port: number }).port}`;
      const error = await failure(KccRedis.connect(kccOptions(server, USER, { url, connectTimeoutMs: 300 })));
      expect(error).toMatchObject({ code: 'KCC_CONNECTION_FAILED', message: expect.stringMatching(/not ready after 300 ms/) });
      expect(secretsIn(error, [password], { coerce: true })).toEqual([]);
    } finally {
      for (const socket of accepted) socket.destroy(); // the client's half-open TLS handshake
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('no secret in the public objects', () => {
  it('KccRedis, KeyRing, Revocations and their options print, inspect and serialize without the password, the key-encryption key or keys derived from it', async () => {
    const password = server.users.get(USER)!.password;
    // The keys the ring derives from the KEK, as the bytes a dump would show.
    const derived = ['keyring private-key encryption v1', 'keyring authentication v1'].map((info) => Buffer.from(hkdfSync('sha256', KEK, 'kcc-redis', info, 32)).toString('latin1'));
    const secrets = [password, KEK, ...derived];
    const redis = await KccRedis.connect(kccOptions(server, USER), ['subscriber', 'reader']);
    try {
      const ring = await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' });
      const revocations = await Revocations.start(redis);
      for (const subject of [redis, ring, revocations, redis.config, redis.client, ring.health(), revocations.stats]) {
        expect(secretsIn(subject, secrets)).toEqual([]);
      }
      expect(JSON.parse(JSON.stringify(redis))).toMatchObject({ username: USER, keyPrefix: 'leak-prod:', auth: 'password' });
      expect(JSON.parse(JSON.stringify(ring))).toMatchObject({ health: { status: 'ready' }, kek: expect.stringMatching(/^[0-9a-f]{16}$/) });
      await Promise.all([ring.close(), revocations.close()]);
    } finally {
      await redis.close();
    }
  });

  it('the TLS session the connections resume (its resumption secret would let a man in the middle pose as the server) is in no printed, inspected, serialized or walked object', async () => {
    const redis = await KccRedis.connect(kccOptions(server, USER), ['subscriber', 'reader']);
    try {
      const reader = await redis.dedicated('reader');
      const subscriber = await redis.dedicated('subscriber');
      const later = await redis.dedicated('reader');
      expect(redis.stats.tlsResumptions).toBe(1);
      // The sessions the instance may hold: each socket's latest (the one its last ticket brought).
      const sockets = () => [redis.client, reader, subscriber, later].map((client) => (client as Redis).stream as TLSSocket);
      const sessions = sockets().map((socket) => socket.getSession()!);
      // The reader's reconnect is offered the one held now (and then gets tickets of its own).
      const ready = new Promise((resolve) => reader.once('ready', resolve));
      (reader as Redis).stream.destroy();
      await ready;
      expect(((reader as Redis).stream as TLSSocket).isSessionReused()).toBe(true);
      sessions.push(...sockets().map((socket) => socket.getSession()!));
      later.disconnect();
      // As the bytes would show: raw, hex, base64, and util.inspect's list of numbers (the first 100 bytes).
      const shown = sessions.flatMap((bytes) => [bytes.toString('latin1'), bytes.toString('hex'), bytes.toString('base64'), [...bytes.subarray(32, 64)].join(', ')]);
      for (const subject of [redis, redis.client, reader, subscriber, (redis.client as Redis).options, (reader as Redis).stream, later, ...sockets()]) {
        expect(secretsIn(subject, shown)).toEqual([]);
      }
    } finally {
      await redis.close();
    }
  });
});
