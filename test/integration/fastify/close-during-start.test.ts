/**
 * A plugin start that outlasts Fastify's `pluginTimeout` (from a review of the plugin, confirmed
 * against a real redis-server): ready() rejects with FST_ERR_PLUGIN_TIMEOUT while the start goes
 * on, here waiting for the key ring's creation lock, held by an instance that died.
 *
 * Before the fix the plugin added its onClose hook only once its start had finished, so app.close()
 * returned at once and the start finished later on a closed app: with no routes to mount, nothing
 * failed and nothing closed its three connections (nor its heartbeat entry): the process would not
 * exit; with the default routes, mounting one on the closed app threw, the start closed what it
 * had opened, and the error was lost. Now the hook is added before connecting: app.close() waits
 * for the start to settle and closes what it opened, and the start mounts and decorates nothing
 * once the app is closing.
 *
 * Real redis-server (TLS, ACL users, no persistence).
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { fastifyKcc } from '../../../client/src/fastify/index.js';
import type { KccFastifyOptions } from '../../../client/src/fastify/index.js';
import { Locks } from '../../../client/src/lock.js';
import { KEY_RING_KEYS } from '../../../client/src/keyring/ring-keys.js';
import { untilAsync } from '../../support/events.js';
import { USER, connectionTo, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

/** The dead instance's lock: the start cannot create the ring before it expires, well past the plugin timeout. */
const DEAD_LOCK_MS = 2_000;
const PLUGIN_TIMEOUT_MS = 500;

describe('Fastify plugin: app.close() after a start that outlasted pluginTimeout', () => {
  const { server, realm } = useRedisAndRealm();

  /** Connections of the app-env's user whose name contains `marker` (CLIENT LIST through the admin user). */
  const connectionsNamed = async (marker: string): Promise<number> => {
    const admin = await server.admin();
    try {
      const list = (await admin.call('CLIENT', 'LIST')) as string;
      return list.split('\n').filter((line) => line.includes(`user=${USER}`) && line.includes(marker)).length;
    } finally {
      admin.disconnect();
    }
  };

  /** The server drops a connection just after answering its QUIT: allow it a moment (bounded), without sleeping. */
  const expectConnections = async (marker: string, expected: number): Promise<void> => {
    const deadline = performance.now() + 5_000;
    let count = await connectionsNamed(marker);
    while (count !== expected && performance.now() < deadline) count = await connectionsNamed(marker);
    expect(count, `connections named ${marker} after app.close()`).toBe(expected);
  };

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
  it.each(cases)('with %s: close() waits for the start, then closes what it opened; nothing is mounted or decorated', async (_what, marker, routes) => {
    const ringKey = await ringLockedByDeadInstance();
    const logger = recordingLogger();
    const app = Fastify({ pluginTimeout: PLUGIN_TIMEOUT_MS });
    const options = pluginOptions(server, realm, { connection: { ...connectionTo(server, logger), instanceId: marker }, logger, ...(routes ? { routes } : {}) });
    app.register(fastifyKcc, options);
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_TIMEOUT' });
    // The start goes on: connected (commands, subscriber, reader), waiting for the lock.
    await untilAsync(async () => (await connectionsNamed(marker)) === 3, 'the start connected');
    expect(await ringExists(ringKey)).toBe(false);

    await app.close();
    // close() waited for the start, which created the ring once the dead lock expired (before: close() returned at once).
    const startSettledFirst = await ringExists(ringKey);
    await untilAsync(() => ringExists(ringKey), 'the start created the ring');
    // Whatever the start opened is closed: no connection left (the server drops one just after answering its QUIT).
    await expectConnections(marker, 0);
    expect(startSettledFirst, 'app.close() resolved only after the start settled').toBe(true);
    expect(app.hasDecorator('kcc')).toBe(false);
    expect(logger.lines).toContain(`info @kcc-redis/client: the app closed before the plugin's start finished; what it opened is closed, nothing was mounted after`);
    expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });
});
