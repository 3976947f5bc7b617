import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { LocalRedis, type LocalRedisOptions } from '../../infra/local/local-redis.js';

/** A LocalRedis in a fresh temporary folder; `stop()` also removes the folder. */
export async function startTestRedis(options: Omit<LocalRedisOptions, 'dir'>): Promise<LocalRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-redis-test-'));
  const server = await LocalRedis.start({ ...options, dir });
  const stop = server.stop.bind(server);
  server.stop = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  return server;
}

/**
 * A raw ioredis client (no retries, no offline queue) authenticated as `username`, for checks that
 * must see every error as it is.
 */
export async function connectAs(server: LocalRedis, username: string, options: { password?: string } = {}): Promise<Redis> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    tls: { ca: server.ca, servername: 'localhost' },
    username,
    password: options.password ?? server.users.get(username)?.password,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    protocol: 2,
  });
  client.on('error', () => {});
  await client.connect();
  return client;
}
