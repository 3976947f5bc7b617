/**
 * `close()` while the command connection's reconnect is still under way (its TCP or TLS handshake
 * not done): the commands in flight when the old socket dropped wait in ioredis' previous-command
 * queue for the new connection, which only a ready connection empties, and ioredis' disconnect()
 * flushes its offline and command queues but not that one. Before 2026-12-05 such a command was
 * rejected here with a bare "Connection is closed." (a review against a fake server saw it left
 * pending instead); now the client rejects it as closed by close().
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccClosedError, KccRedis } from '@kcc-redis/client';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'closing', env: 'prod' }], persistence: 'none' });
const USER = 'closing-prod';

describe('close() while the command connection reconnects', () => {
  it("a command in flight when the socket dropped, its reconnect parked mid-handshake: rejected as KccClosedError, not left pending", { timeout: 60_000 }, async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const quiet = { info() {}, warn() {} };
      const redis = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, socketTimeoutMs: 500, reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 50, heartbeat: false, logger: quiet }));
      await redis.run((r) => r.ping());
      const client = redis.client as Redis; // a single node: its queues are visible
      // New connections are parked at the proxy (connected there, never to Redis), and the open one loses every byte.
      proxy.hold(1_000);
      proxy.vanish();
      let settledWith: { error: unknown } | undefined;
      client.get(redis.key('in-flight')).then(
        () => void (settledWith = { error: undefined }),
        (error: unknown) => void (settledWith = { error }),
      );
      // The socket timeout closes the silent connection; its reconnect waits in the parked handshake.
      await until(() => proxy.heldCount > 0 && (client.status === 'connecting' || client.status === 'connect'), 'the reconnect parked mid-handshake', 30_000);
      expect((client as unknown as { prevCommandQueue?: { length: number } }).prevCommandQueue?.length).toBe(1);
      await redis.close();
      await until(() => settledWith !== undefined, 'the command in flight to settle', 15_000);
      expect(settledWith!.error).toBeInstanceOf(KccClosedError);
      // The parked handshake's socket is given up after ioredis' disconnect timeout.
      await until(() => client.status === 'end', 'the connection ended', 15_000);
    } finally {
      await proxy.stop();
    }
  });
});
