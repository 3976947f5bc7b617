/**
 * A plugin start that outlasts Fastify's `pluginTimeout` (from a review of the plugin, confirmed
 * against a real redis-server): ready() rejects with FST_ERR_PLUGIN_TIMEOUT while the start goes
 * on, here waiting for the key ring's creation lock, held by an instance that died.
 *
 * Before the fix the plugin added its onClose hook only once its start had finished, so app.close()
 * returned at once and the start finished later on a closed app: with no routes to mount, nothing
 * failed and nothing closed its three connections (nor its heartbeat entry): the process would not
 * exit; with the default routes, mounting one on the closed app threw, the start closed what it
 * had opened, and the error was lost. Now the hook is added before connecting, and app.close()
 * cuts the start short: it closes the plugin's own connection at once (which closes the ring and
 * revocations being started on it), waits for the start to settle, and the start mounts and
 * decorates nothing once the app is closing (a review of that fix: waiting for the start held
 * app.close() until the dead lock expired, up to twice lockTtlMs, 60 s by default). A start that
 * fails after the timeout says why (ready() reported only the timeout). On a connection the app
 * passed in, the plugin does not close the connection: app.close() aborts the ring and revocations
 * being started instead (before, that start was waited for, up to twice lockTtlMs).
 *
 * Real redis-server (TLS, ACL users, no persistence).
 */
import { type AddressInfo, createServer } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { fastifyKcc } from '../../../client/src/fastify/index.js';
import type { KccFastifyOptions } from '../../../client/src/fastify/index.js';
import { Locks } from '../../../client/src/lock.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { until, untilAsync } from '../../support/events.js';
import { connectionsNamed, connectionTo, expectConnections, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

/** The dead instance's lock: the start cannot create the ring before it expires, well past the plugin timeout and the close. */
const DEAD_LOCK_MS = 20_000;
const PLUGIN_TIMEOUT_MS = 500;

describe('Fastify plugin: app.close() after a start that outlasted pluginTimeout', () => {
  const { server, realm } = useRedisAndRealm();

  /** The ring's key exists: some start created it. */
  const ringExists = async (ringKey: string): Promise<boolean> => {
    const admin = await server.admin();
    try {
      return (await admin.exists(ringKey)) === 1;
    } finally {
      admin.disconnect();
    }
  };

  /** No ring in Redis and its creation lock held by an instance that died (nobody releases it; it expires). Returns the ring's key. */
  const ringLockedByDeadInstance = async (): Promise<string> => {
    const dead = await KccRedis.connect(connectionTo(server));
    try {
      const admin = await server.admin();
      try {
        await admin.del(dead.key(KEY_RING_KEYS.ring), dead.key(KEY_RING_KEYS.log), dead.key(`lock:${KEY_RING_KEYS.lock}`));
      } finally {
        admin.disconnect();
      }
      expect(await new Locks(dead).acquire(KEY_RING_KEYS.lock, DEAD_LOCK_MS)).toBeDefined();
      return dead.key(KEY_RING_KEYS.ring);
    } finally {
      await dead.close();
    }
  };

  const cases: [string, string, KccFastifyOptions['routes']][] = [
    ['no routes (the start used to finish on the closed app and leave its connections open)', 'late-none', { jwks: false, backchannelLogout: false }],
    ['the default routes (the late mount used to throw, its error lost)', 'late-default', undefined],
  ];
  it.each(cases)('with %s: close() cuts the start short and closes what it opened; nothing is created, mounted or decorated', async (_what, marker, routes) => {
    const ringKey = await ringLockedByDeadInstance();
    const logger = recordingLogger();
    const app = Fastify({ pluginTimeout: PLUGIN_TIMEOUT_MS });
    const options = pluginOptions(server, realm, { connection: { ...connectionTo(server, logger), instanceId: marker }, logger, ...(routes ? { routes } : {}) });
    app.register(fastifyKcc, options);
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_TIMEOUT' });
    // The start goes on: connected (commands, subscriber, reader), waiting for the lock.
    await untilAsync(async () => (await connectionsNamed(server, marker)) === 3, 'the start connected');
    expect(await ringExists(ringKey)).toBe(false);

    await app.close();
    // Cut short: the start never got the lock, so no ring (waiting for the start, close() took until the dead lock expired and the start created one).
    expect(await ringExists(ringKey)).toBe(false);
    // Whatever the start opened is closed: no connection left (the server drops one just after answering its QUIT).
    await expectConnections(server, marker, 0);
    expect(app.hasDecorator('kcc')).toBe(false);
    expect(logger.lines).toContain(`info @kcc-redis/client: the app closed before the plugin's start finished; what it opened is closed, nothing was mounted after`);
    expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });

  it('on a connection the app passed in: close() cuts the start short too, and leaves that connection open', async () => {
    const ringKey = await ringLockedByDeadInstance();
    const logger = recordingLogger();
    const marker = 'late-passed-in';
    const redis = await KccRedis.connect({ ...connectionTo(server, logger), instanceId: marker });
    try {
      const app = Fastify({ pluginTimeout: PLUGIN_TIMEOUT_MS });
      const { connection: _unused, ...rest } = pluginOptions(server, realm, { logger });
      app.register(fastifyKcc, { ...rest, redis });
      await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_TIMEOUT' });
      // The start goes on on the app's connection (its subscriber opened), waiting for the lock.
      await until(() => redis.subscriberReady, 'the start subscribed');
      expect(await ringExists(ringKey)).toBe(false);

      await app.close();
      // Cut short: no ring (waiting for the start, close() took until the dead lock expired and the start created one).
      expect(await ringExists(ringKey)).toBe(false);
      expect(app.hasDecorator('kcc')).toBe(false);
      expect(logger.lines).toContain(`info @kcc-redis/client: the app closed before the plugin's start finished; what it opened is closed, nothing was mounted after`);
      expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
      // The connection is the app's: still open and answering.
      expect(await redis.run((client) => client.ping())).toBe('PONG');
    } finally {
      await redis.close();
    }
  });

  it('a start ended by the app closing its own connection (after pluginTimeout) is not warned as a failure', async () => {
    const ringKey = await ringLockedByDeadInstance();
    const logger = recordingLogger();
    const redis = await KccRedis.connect({ ...connectionTo(server, logger), instanceId: 'late-app-closed' });
    const app = Fastify({ pluginTimeout: PLUGIN_TIMEOUT_MS });
    const { connection: _unused, ...rest } = pluginOptions(server, realm, { logger });
    app.register(fastifyKcc, { ...rest, redis });
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_TIMEOUT' });
    await until(() => redis.subscriberReady, 'the start subscribed');
    // The app's own doing: its connection closed under the start (KccRedis.close closes the ring and revocations being started first).
    await redis.close();
    // app.close() waits for the start to settle: every line it would say is said by then.
    await app.close();
    expect(await ringExists(ringKey)).toBe(false);
    expect(app.hasDecorator('kcc')).toBe(false);
    expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });

  it('a start that fails after pluginTimeout says why (ready() rejected with the timeout only)', async () => {
    // A "Redis" that accepts connections, reads, and never answers: the connect fails after connectTimeoutMs.
    const silent = createServer((socket) => socket.resume().on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const logger = recordingLogger();
      const app = Fastify({ pluginTimeout: PLUGIN_TIMEOUT_MS });
      const options = pluginOptions(server, realm, { connection: { ...connectionTo(server, logger), url: `rediss://127.0.0.1:${port}`, connectTimeoutMs: 1_500 }, logger });
      app.register(fastifyKcc, options);
      await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_TIMEOUT' });
      await until(() => logger.lines.some((line) => line.includes('the start failed after')), 'the start failed and said so', 15_000);
      expect(logger.lines.filter((line) => line.includes('the start failed after'))).toEqual([
        expect.stringMatching(/^warn @kcc-redis\/client: the start failed after Fastify's pluginTimeout \(500 ms; ready\(\) rejected with the timeout\): KccConnectionError: commands connection to 127\.0\.0\.1:\d+ not ready after 1500 ms/),
      ]);
      await app.close();
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
