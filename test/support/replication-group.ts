import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { LOCAL_ADMIN_USER, type LocalRedis, type LocalRedisOptions } from '../../local/local-redis.js';
import { untilAsync } from './events.js';
import { startTestRedis } from './redis.js';

/**
 * A replication group without cluster mode as failover tests drive it: a primary and a replica
 * started apart, admin commands on either, replication set up by hand, and the primary endpoint.
 */

/** Runs `command` as the admin on `node` (a fresh connection each time: nodes die in failover tests). */
export async function onNode<T>(node: LocalRedis, command: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = await node.admin();
  try {
    return await command(admin);
  } finally {
    admin.disconnect();
  }
}

/** The members of the sorted set `key` stored on `node` (a replica is read with READONLY). */
export function storedMembers(node: LocalRedis, key: string): Promise<Set<string>> {
  return onNode(node, async (admin) => {
    await admin.call('READONLY').catch(() => undefined); // a cluster replica serves reads only after it (standalone: not needed)
    return new Set(await admin.zrange(key, '0', '-1'));
  });
}

export function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/**
 * A primary and its replica, in sync, without persistence, sharing the TLS material and every
 * password (`user`'s too) as an ElastiCache replication group's nodes do, and the primary endpoint
 * pointing at the primary. Closing closes the endpoint, then stops both nodes.
 */
export async function startReplicationGroup(
  appEnvs: LocalRedisOptions['appEnvs'],
  user: string,
): Promise<{ primary: LocalRedis; replica: LocalRedis; endpoint: PrimaryEndpoint; close(): Promise<unknown> }> {
  const primary = await startTestRedis({ appEnvs, persistence: 'none' });
  const replica = await startTestRedis({
    appEnvs, persistence: 'none', tlsDir: dirname(primary.tls.caFile),
    adminPassword: primary.adminPassword, defaultUserPassword: primary.defaultUserPassword, passwords: { [user]: primary.users.get(user)!.password },
  }).catch(async (error: unknown) => {
    await primary.stop();
    throw error;
  });
  const endpoint = await PrimaryEndpoint.start(primary.port);
  const close = async () => {
    await endpoint.close();
    await Promise.all([primary.stop(), replica.stop()]);
  };
  try {
    await replicaOf(replica, primary);
    await inSync(replica);
  } catch (error) {
    await close();
    throw error;
  }
  return { primary, replica, endpoint, close };
}

/** Makes `replica` replicate `primary` over TLS as the local admin user (REPLICAOF); `then` runs on the same admin connection right after. */
export async function replicaOf(replica: LocalRedis, primary: LocalRedis, then?: (admin: Redis) => Promise<unknown>): Promise<void> {
  await onNode(replica, async (admin) => {
    await admin.call('CONFIG', 'SET', 'tls-replication', 'yes');
    await admin.call('CONFIG', 'SET', 'masteruser', LOCAL_ADMIN_USER);
    await admin.call('CONFIG', 'SET', 'masterauth', primary.adminPassword);
    await admin.call('REPLICAOF', primary.host, String(primary.port));
    await then?.(admin);
  });
}

/** Waits until `replica`'s link to its primary is up and its full sync done. */
export async function inSync(replica: LocalRedis): Promise<void> {
  await untilAsync(async () => {
    const info = await onNode(replica, (admin) => admin.info('replication'));
    return infoField(info, 'master_link_status') === 'up' && infoField(info, 'master_sync_in_progress') !== '1';
  }, 'the replica in sync', 20_000);
}

/**
 * Stands in for ElastiCache's primary endpoint: a DNS name that AWS points at the new primary after
 * a failover. A loopback TCP proxy whose target can change; connections already open stay where
 * they were (they end when that server dies), new ones go to the current target.
 */
export class PrimaryEndpoint {
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    private readonly target: { port: number },
  ) {}

  static async start(port: number): Promise<PrimaryEndpoint> {
    const sockets = new Set<Socket>();
    const target = { port };
    const server = createServer((client) => {
      const upstream = connect(target.port, '127.0.0.1');
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new PrimaryEndpoint(server, sockets, target);
  }

  get url(): string {
    return `rediss://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  point(port: number): void {
    this.target.port = port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
