import { Redis } from 'ioredis';
import type { LocalRedis } from '../../local/local-redis.js';

/**
 * The start-up baseline: `count` bare ioredis TLS connections as `username`, opened in parallel;
 * resolves once all are ready, with the function that disconnects them. `readyCheck: false` is the
 * context baseline: ready once AUTH is answered, as the client's new connections are (ioredis'
 * default also sends INFO and parses its reply).
 */
export async function bareConnect(server: LocalRedis, username: string, password: string, count: number, readyCheck = true): Promise<() => Promise<void>> {
  const clients = Array.from({ length: count }, () =>
    new Redis({ host: server.host, port: server.port, tls: { ca: server.ca }, username, password, protocol: 2, disableClientInfo: true, lazyConnect: true, enableReadyCheck: readyCheck }));
  await Promise.all(clients.map((c) => c.connect()));
  return async () => clients.forEach((c) => c.disconnect());
}
