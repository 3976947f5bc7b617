import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KccClosedError, KccRedis, type KccConnectionOptions } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { type FakeClock, HOUR, fakeClock } from '../../support/fake-clock.js';
import { IamProxy, type IamProxyCredential } from '../../support/iam-proxy.js';
import { startTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';
const CACHE = 'kcc-redis';
const REGION = 'eu-central-1';
const KEY_1: IamProxyCredential = { accessKeyId: 'AKIAKCCTESTKEY000001', secretAccessKey: 'kcc/test/secret/one/aaaaaaaaaaaaaaaaaaaaaaaa' };

type Outcome<T> = { v: T } | { e: unknown };

/** What `promise` came to, without throwing: `{ v }` or `{ e }`. */
function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then((v) => ({ v }), (e: unknown) => ({ e }));
}

/** `promise`'s outcome, failing the test when it is still pending after `timeoutMs` (a bound, not a timing assertion). */
async function settled<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still pending after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the commands a replaced or closed connection still holds are settled (IAM stand-in, real redis-server)', () => {
  let server: LocalRedis;
  let clock: FakeClock;
  let proxy: IamProxy;
  const opened: KccRedis[] = [];

  async function connect(extra: Partial<KccConnectionOptions> = {}): Promise<KccRedis> {
    const redis = await KccRedis.connect({
      url: proxy.url,
      tls: { ca: server.ca, servername: 'localhost' },
      auth: 'iam',
      username: USER,
      keyPrefix: `${USER}:`,
      region: REGION,
      env: {},
      heartbeat: false,
      logger: { info: () => {}, warn: () => {} },
      ...extra,
      iam: { cacheName: CACHE, credentials: KEY_1, now: clock.now, checkIntervalMs: 20 },
    });
    opened.push(redis);
    return redis;
  }

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }], persistence: 'none' });
  });
  beforeEach(async () => {
    clock = fakeClock();
    proxy = await IamProxy.start({ upstream: server, cacheName: CACHE, region: REGION, serverless: false, credentials: [KEY_1], iamUsers: [USER], now: clock.now });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((redis) => redis.close()));
    await proxy.stop();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a command waiting for the old command connection to reconnect runs when the renewal replaces that connection', async () => {
    const redis = await connect({ reconnectBaseDelayMs: 2_000, reconnectMaxDelayMs: 2_000 });
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    proxy.dropAll();
    await until(() => old.status === 'reconnecting', 'the old connection waiting to reconnect');
    const key = redis.key('queued-before-renewal');
    const queued = outcome(redis.run((r) => r.set(key, '1')));
    clock.advance(11 * HOUR); // past the renewal point (9 to 10.8 hours)
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    expect(await settled(queued, 'the command queued on the replaced connection')).toEqual({ v: 'OK' });
    expect(await redis.run((r) => r.get(key))).toBe('1');
    await until(() => old.status === 'end', 'the replaced connection to end');
  });

  it('a command still running on the old command connection (BLPOP 3 s) finishes there; the renewal does not cut it', async () => {
    const redis = await connect();
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    const blpop = outcome(redis.run((r) => r.blpop(redis.key('empty-list'), 3)));
    await until(() => old.commandQueue.length === 1, 'BLPOP sent');
    clock.advance(11 * HOUR);
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    expect(redis.client).not.toBe(old);
    expect(await settled(blpop, 'BLPOP')).toEqual({ v: null });
    await until(() => old.status === 'end', 'the replaced connection to quit after it');
    expect(redis.stats.renewalFailures).toBe(0);
  });

  it('close() during a renewal that waits for a long command on the old connection ends that connection too', async () => {
    const redis = await connect();
    await redis.run((r) => r.ping());
    const old = redis.client as Redis; // a single node: its queues are visible
    const blpop = outcome(redis.run((r) => r.blpop(redis.key('empty-list'), 60)));
    await until(() => old.commandQueue.length === 1, 'BLPOP sent');
    clock.advance(11 * HOUR);
    await until(() => redis.stats.renewals >= 1, 'the renewal');
    // The renewal would wait minutes for BLPOP; close() cuts that wait short.
    await settled(redis.close(), 'close()');
    expect(await settled(blpop, 'BLPOP')).toMatchObject({ e: expect.any(Error) });
    await until(() => old.status === 'end' && proxy.openConnections === 0, 'every connection closed');
  });

  it('close() while the command connection waits to reconnect settles the commands queued on it', async () => {
    const redis = await connect({ reconnectBaseDelayMs: 5_000, reconnectMaxDelayMs: 5_000 });
    await redis.run((r) => r.ping());
    const client = redis.client;
    proxy.dropAll();
    await until(() => client.status === 'reconnecting', 'the connection waiting to reconnect');
    const queued = outcome(redis.run((r) => r.set(redis.key('queued-before-close'), '1')));
    await settled(redis.close(), 'close()');
    const result = await settled(queued, 'the command queued before close()');
    expect(result).toMatchObject({ e: expect.any(KccClosedError) });
    expect(String((result as { e: unknown }).e)).toMatch(/closed .*while .*waited for a reconnect/);
    expect(client.status).toBe('end');
    // Nothing more waits on it: a later command on the old object is refused at once.
    expect(await settled(outcome(client.ping()), 'a command after close()')).toMatchObject({ e: expect.any(Error) });
  });
});
