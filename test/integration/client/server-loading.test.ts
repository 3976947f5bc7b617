import { appendFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccConnectionError, KccRedis } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { untilAsync } from '../../support/events.js';
import { secretsIn } from '../../support/secret-scan.js';
import { connectAs, kccOptions, startTestRedis } from '../../support/redis.js';

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
  let key: string;

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] }); // append-only file: the data survives a restart
    const writer = await KccRedis.connect(kccOptions(server, USER));
    key = writer.key('greeting');
    await writer.run(async (r) => {
      const pipeline = r.pipeline();
      for (let i = 0; i < KEYS; i++) pipeline.set(writer.key(`filler:${i}`), 'x');
      pipeline.set(key, 'hi');
      await pipeline.exec();
    });
    await writer.close();
    // The append-only file rewritten as a snapshot, whose load the server can be told to slow down:
    // key-load-delay (µs per key, slept: a lower bound on the load's length), events handled every 1,024 bytes.
    const admin = await server.admin();
    await admin.call('BGREWRITEAOF');
    await untilAsync(async () => {
      const persistence = String(await admin.call('INFO', 'persistence'));
      return /aof_rewrite_in_progress:0/.test(persistence) && /aof_rewrite_scheduled:0/.test(persistence);
    }, 'the rewrite');
    await admin.quit();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Kills the server and starts it again with each key's load delayed by `delayUs`; resolves while it loads, with the restart's end. */
  async function restartLoading(delayUs: number): Promise<{ loaded: Promise<void> }> {
    await appendFile(join(dirname(server.logFile), 'redis.conf'), `key-load-delay ${delayUs}\nloading-process-events-interval-bytes 1024\n`);
    await server.kill(); // gone first, so that only the restarted server can answer below
    const loaded = server.restart(); // resolves once the load has ended
    loaded.catch(() => undefined);
    await untilAsync(() => listening(server.port), 'the restarted server to listen', 10_000, 5);
    // The premise: a client that does not wait (no ready check, no retry) is refused.
    const probe = await connectAs(server, USER, { readyCheck: false });
    try {
      await expect(probe.get(key)).rejects.toThrow(/^LOADING/);
    } finally {
      probe.disconnect();
    }
    return { loaded };
  }

  it('a new connection: commands and scripts through run() wait until the load ends instead of failing with LOADING', async () => {
    // At least 2 s of loading (20,000 keys × 100 µs); connectTimeoutMs bounds the wait, so it is generous here.
    const { loaded } = await restartLoading(100);
    try {
      const redis = await KccRedis.connect(kccOptions(server, USER, { connectTimeoutMs: 60_000 }));
      try {
        const attempts: number[] = [];
        const [value, scripted] = await Promise.all([
          redis.run((r) => {
            attempts.push(performance.now());
            return r.get(key);
          }),
          redis.script<string>("return redis.call('GET', KEYS[1])", [key], []),
        ]);
        expect([value, scripted]).toEqual(['hi', 'hi']);
        expect(attempts.length).toBeGreaterThan(1); // it did meet LOADING, and retried
        // The retries back off (notNowDelay): waits of at least 50, 100, 200, 400, then 500 ms each, so
        // no more tries than that allows in the time they took (a busy machine makes fewer, never more).
        // Retried every 100 ms, as before the server-load review, a 2 s load took about 20.
        const spentMs = attempts.at(-1)! - attempts[0]!;
        expect(attempts.length).toBeLessThanOrEqual(5 + spentMs / 500);
      } finally {
        await redis.close();
      }
    } finally {
      await loaded;
    }
  }, 90_000);

  it('a load longer than connectTimeoutMs on a new connection: a KccConnectionError that says so, with neither the password nor the command\'s values in it or its cause', async () => {
    const { loaded } = await restartLoading(200); // at least 4 s
    try {
      const redis = await KccRedis.connect(kccOptions(server, USER, { connectTimeoutMs: 300 }));
      try {
        const secretValue = 'value-that-must-not-leak-4e1d';
        const error = await redis.run((r) => r.set(key, secretValue)).then(() => undefined, (caught: unknown) => caught);
        expect(error).toBeInstanceOf(KccConnectionError);
        expect(error).toMatchObject({ code: 'KCC_CONNECTION_FAILED', message: expect.stringMatching(/still loading its dataset \(LOADING\) after 300 ms \(connectTimeoutMs\); the command was not run/) });
        expect(secretsIn(error, [secretValue, server.users.get(USER)!.password], { coerce: true })).toEqual([]);
      } finally {
        await redis.close();
      }
    } finally {
      await loaded;
    }
    const check = await KccRedis.connect(kccOptions(server, USER));
    try {
      expect(await check.run((r) => r.get(key))).toBe('hi'); // not run: the value is unchanged
    } finally {
      await check.close();
    }
  }, 90_000);

  it('a running app whose server restarts: commands wait for the whole load, also longer than connectTimeoutMs and on the raw client', async () => {
    const redis = await KccRedis.connect(kccOptions(server, USER, { connectTimeoutMs: 300 }));
    try {
      expect(await redis.run((r) => r.get(key))).toBe('hi');
      // At least 4 s of loading (20,000 keys × 200 µs), far past connectTimeoutMs: only the ready check,
      // back for reconnects, holds the commands until the load ends.
      const { loaded } = await restartLoading(200);
      try {
        const [viaRun, viaClient] = await Promise.all([redis.run((r) => r.get(key)), redis.client.get(key)]);
        expect([viaRun, viaClient]).toEqual(['hi', 'hi']);
      } finally {
        await loaded;
      }
    } finally {
      await redis.close();
    }
  }, 90_000);
});
