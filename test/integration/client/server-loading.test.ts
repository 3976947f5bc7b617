import { appendFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { untilAsync } from '../../support/events.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';
const KEYS = 20_000;

/** Whether something accepts TCP connections on `port` (the server listens while it loads). */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

describe('a server still loading its dataset after a restart', () => {
  let server: LocalRedis;

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] }); // append-only file: the data survives a restart
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('commands and scripts through run() wait until the load ends instead of failing with LOADING', async () => {
    const writer = await KccRedis.connect(kccOptions(server, USER));
    const key = writer.key('greeting');
    await writer.run(async (r) => {
      const pipeline = r.pipeline();
      for (let i = 0; i < KEYS; i++) pipeline.set(writer.key(`filler:${i}`), 'x');
      pipeline.set(key, 'hi');
      await pipeline.exec();
    });
    await writer.close();
    // The append-only file rewritten as a snapshot, whose load the server can be told to slow down
    // (key-load-delay, in µs per key; events handled every 1,024 bytes loaded): about 2 s of LOADING.
    const admin = await server.admin();
    await admin.call('BGREWRITEAOF');
    await untilAsync(async () => /aof_rewrite_in_progress:0/.test(String(await admin.call('INFO', 'persistence'))) && /aof_rewrite_scheduled:0/.test(String(await admin.call('INFO', 'persistence'))), 'the rewrite');
    await admin.quit();
    await appendFile(join(dirname(server.logFile), 'redis.conf'), 'key-load-delay 100\nloading-process-events-interval-bytes 1024\n');

    await server.kill(); // gone before the restart, so that only the restarted server can answer below
    const restarted = server.restart(); // resolves once the load has ended
    try {
      await untilAsync(() => listening(server.port), 'the restarted server to listen', 10_000, 5);
      // The premise: a client that does not wait (no ready check, no retry) is refused.
      const probe = new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, protocol: 2, enableReadyCheck: false, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      await probe.connect();
      await expect(probe.get(key)).rejects.toThrow(/^LOADING/);
      probe.disconnect();

      const redis = await KccRedis.connect(kccOptions(server, USER));
      try {
        const [value, scripted] = await Promise.all([
          redis.run((r) => r.get(key)),
          redis.script<string>("return redis.call('GET', KEYS[1])", [key], []),
        ]);
        expect([value, scripted]).toEqual(['hi', 'hi']);
      } finally {
        await redis.close();
      }
    } finally {
      await restarted;
    }
  }, 60_000);
});
