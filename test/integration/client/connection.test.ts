import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccClosedError, KccConnectionError, KccRedis, type KccLogger } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';
import { until, untilAsync } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'my-app-prod';

describe('connection behaviour (real redis-server, TLS)', () => {
  let server: LocalRedis;
  let redis: KccRedis;
  const logged: string[] = [];
  const logger: KccLogger = {
    warn: (message, context) => logged.push(message + JSON.stringify(context ?? {})),
    info: (message, context) => logged.push(message + JSON.stringify(context ?? {})),
  };
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }], persistence: 'none' });
    redis = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-7', logger }));
  });
  afterAll(async () => {
    await redis?.close();
    await server?.stop();
  });

  it('names its connection for CLIENT LIST', async () => {
    const admin = await server.admin();
    const list = String(await admin.call('CLIENT', 'LIST'));
    await admin.quit();
    expect(list).toContain('name=kcc:my-app-prod:instance-7:commands');
    expect(list).toMatch(/user=my-app-prod/);
  });

  it('surfaces NOPERM as an error and does not reconnect on it', async () => {
    const before = redis.stats.reconnects;
    await expect(redis.run((r) => r.get('other-app-prod:x'))).rejects.toThrow(/NOPERM/);
    await expect(redis.run((r) => r.eval("return redis.call('GET', KEYS[1])", 1, 'other-app-prod:x'))).rejects.toThrow(/NOPERM|No permissions/);
    await expect(redis.run((r) => r.eval('this is not lua', 0))).rejects.toThrow(/ERR/);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(redis.stats.reconnects).toBe(before);
  });

  it('closed while the server has stopped answering, just after the subscriber came back: nothing is left behind as an unhandled rejection', async () => {
    // ioredis re-subscribes by itself on reconnect without handling the reply; if the connection is
    // then closed before the reply, that rejection is unhandled, which ends a Node process by default.
    const proxy = await TcpProxy.start(server.port);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const isolated = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, instanceId: 'instance-blackhole', heartbeat: false, logger }));
      await isolated.subscribe(isolated.channel('bus'), () => {});
      // The connections as ioredis objects, to wait for their end once closed.
      const clients = [...(Reflect.get(isolated, 'clients') as Map<Redis, string>).keys()];
      // When the subscriber is ready again (it has just sent SUBSCRIBE), nothing more gets through.
      const back = new Promise<void>((resolve) =>
        isolated.on('ready', (role) => {
          if (role !== 'subscriber') return;
          proxy.blackhole();
          resolve();
        }),
      );
      const admin = await server.admin();
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'USER', USER);
      await admin.quit();
      await back;
      await isolated.close();
      await Promise.all(clients.map((client) => (client.status === 'end' ? undefined : once(client, 'end'))));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await proxy.stop();
    }
  });

  it("a subscriber connection the app opens itself (dedicated) is subscribed again by ioredis after a reconnect, as documented", async () => {
    const own = await redis.dedicated('subscriber');
    const channel = redis.channel('own');
    const received: string[] = [];
    own.on('message', (_channel: string, message: string) => received.push(message));
    await own.subscribe(channel);
    const back = once(own, 'ready');
    const admin = await server.admin();
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'USER', USER);
    await back;
    // The re-subscription ioredis sends on 'ready' is answered before this PUBLISH is (one server, in order).
    await untilAsync(async () => Number(await admin.call('PUBSUB', 'NUMSUB', channel).then((r) => (r as unknown[])[1])) === 1, 'subscribed again');
    await admin.call('PUBLISH', channel, 'after the reconnect');
    await admin.quit();
    await until(() => received.includes('after the reconnect'), 'the message published after the reconnect');
  });

  describe('prewarmed dedicated connections', () => {
    /**
     * Connects with a prewarmed reader through a proxy that parks the reader's handshake. The command
     * connection is opened first and, to an IP literal (no lookup), reaches the proxy first: it passes.
     */
    async function withParkedReader(instanceId: string, connectTimeoutMs: number, run: (redis: KccRedis, proxy: TcpProxy) => Promise<void>): Promise<void> {
      const proxy = await TcpProxy.start(server.port);
      try {
        proxy.hold(1, 1);
        const isolated = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, instanceId, heartbeat: false, connectTimeoutMs, logger }), ['reader']);
        try {
          expect(proxy.heldCount).toBe(1);
          await run(isolated, proxy);
        } finally {
          await isolated.close();
        }
      } finally {
        await proxy.stop();
      }
    }

    it('connect resolves once commands can be sent; a prewarmed connection still in its handshake is handed over by dedicated() when ready', async () => {
      await withParkedReader('instance-prewarm', 10_000, async (isolated, proxy) => {
        expect(await isolated.run((r) => r.ping())).toBe('PONG');
        const reader = isolated.dedicated('reader');
        proxy.release();
        expect((await reader).status).toBe('ready');
      });
    });

    it('a prewarmed connection that cannot connect: dedicated() rejects with why, naming its role', async () => {
      // The connect timeout also bounds the command connection's handshake: generous, for a busy machine.
      await withParkedReader('instance-prewarm-fails', 3_000, async (isolated) => {
        const reader = isolated.dedicated('reader');
        await expect(reader).rejects.toThrow(KccConnectionError);
        await expect(reader).rejects.toThrow(/reader connection to 127\.0\.0\.1:\d+ not ready after 3000 ms/);
      });
    });

    it('a prewarmed connection that failed before anyone asked for it: logged once, nothing unhandled, and the next dedicated() opens a new one instead of handing over the old failure', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        await withParkedReader('instance-prewarm-unclaimed', 3_000, async (isolated, proxy) => {
          await until(() => logged.some((line) => line.includes("prewarmed reader connection failed; the next dedicated('reader') opens a new one")), 'the failed prewarm logged');
          proxy.release();
          expect((await isolated.dedicated('reader')).status).toBe('ready');
        });
        await new Promise((resolve) => setImmediate(resolve));
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });

    it('many dedicated connections opened at once: no listener-leak warning (each waits on close() with its own listener)', async () => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      try {
        const clients = await Promise.all(Array.from({ length: 12 }, () => redis.dedicated('reader')));
        expect(clients.every((client) => client.status === 'ready')).toBe(true);
        clients.forEach((client) => client.disconnect());
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
      } finally {
        process.off('warning', onWarning);
      }
    });

    // Its own timeout, far under the connect timeout, so that losing the end of the wait fails fast.
    it('closed while a prewarmed connection is still connecting: a caller waiting for it gets KccClosedError at once, not at the connect timeout', { timeout: 15_000 }, async () => {
      // A timeout longer than the test's: without the end of the wait on close, this test times out.
      await withParkedReader('instance-prewarm-closed', 600_000, async (isolated) => {
        const reader = isolated.dedicated('reader');
        reader.catch(() => undefined);
        await isolated.close();
        await expect(reader).rejects.toThrow(KccClosedError);
        await expect(reader).rejects.toThrow('reader connection closed before it was ready');
      });
    });
  });

  it('keeps keys in its namespace with one hash tag', () => {
    expect(redis.key('keyring')).toBe('my-app-prod:{my-app-prod}:keyring');
    expect(redis.channel('bus')).toBe('my-app-prod:bus');
  });
});
