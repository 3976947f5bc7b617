import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOCAL_ADMIN_USER, LocalRedis, type LocalRedisOptions, type LocalRedisUser, randomPassword } from './local-redis.js';

const run = promisify(execFile);

export interface LocalClusterOptions extends Omit<LocalRedisOptions, 'port' | 'clusterNode' | 'clusterMode' | 'tlsDir'> {
  /** Number of primaries. @default 3 */
  readonly primaries?: number;
  /**
   * Replicas of each primary (`--cluster-replicas`), configured like the primaries; they replicate
   * as the local admin user (`masteruser`). Give `clusterNodeTimeoutMs` too (e.g. 1500) for a
   * failover within seconds of a primary's loss. @default 0
   */
  readonly replicasPerPrimary?: number;
}

/** A node's place in the cluster, as the cluster itself reports it now (`CLUSTER NODES`). */
export interface LocalClusterNodeRole {
  readonly node: LocalRedis;
  readonly role: 'primary' | 'replica';
  /** For a replica: the primary it replicates. */
  readonly primary?: LocalRedis;
  /** The cluster holds it unreachable (`fail` or `fail?`): a killed node keeps its last role until it rejoins. */
  readonly failed: boolean;
}

/**
 * A Redis Cluster of TLS-only nodes configured like the stack's cluster mode (ACL users with the
 * CLUSTER SLOTS grant), created with `redis-cli --cluster create`.
 */
export class LocalCluster {
  private constructor(readonly nodes: readonly LocalRedis[]) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const adminPassword = options.adminPassword ?? randomPassword();
    const defaultUserPassword = options.defaultUserPassword ?? randomPassword();
    const first = await LocalRedis.start({ ...options, dir: join(options.dir, 'node-0'), tlsDir: join(options.dir, 'tls'), clusterNode: true, clusterMode: true, adminPassword, defaultUserPassword });
    const passwords = Object.fromEntries([...first.users.values()].map((u) => [u.username, u.password]));
    const replicas = options.replicasPerPrimary ?? 0;
    const others = await Promise.all(
      Array.from({ length: (options.primaries ?? 3) * (1 + replicas) - 1 }, (_, i) =>
        LocalRedis.start({ ...options, dir: join(options.dir, `node-${i + 1}`), tlsDir: join(options.dir, 'tls'), clusterNode: true, clusterMode: true, adminPassword, defaultUserPassword, passwords }),
      ),
    );
    const nodes = [first, ...others];
    try {
      await run('redis-cli', [
        '--tls', '--cacert', first.tls.caFile, '--user', LOCAL_ADMIN_USER,
        '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes',
      ], { env: { ...process.env, REDISCLI_AUTH: adminPassword } }); // keeps the password off the process list
      await waitForClusterOk(first);
      if (replicas > 0) await waitForReplicasInSync(nodes);
    } catch (error) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw new Error(`could not create the local cluster: ${(error as Error).message.split('\n')[0]}`);
    }
    return new LocalCluster(nodes);
  }

  get ca(): string {
    return this.nodes[0]!.ca;
  }

  get users(): ReadonlyMap<string, LocalRedisUser> {
    return this.nodes[0]!.users;
  }

  /**
   * A seed node URL: the client discovers the others with CLUSTER SLOTS. The first node still
   * running, as ElastiCache's configuration endpoint resolves to live nodes only.
   */
  get url(): string {
    return (this.nodes.find((n) => n.pid !== undefined) ?? this.nodes[0]!).url;
  }

  /** Every node's role now, as the first running node sees it (a failover is gossiped within a second or so). */
  async roles(): Promise<LocalClusterNodeRole[]> {
    const admin = await this.running().admin();
    let text: string;
    try {
      text = String(await admin.call('CLUSTER', 'NODES'));
    } finally {
      await admin.quit();
    }
    // <id> <ip:port@cport[,hostname]> <flags> <primary id or -> …
    const rows = text.trim().split('\n').map((line) => line.split(' '));
    const byId = new Map(rows.map(([id, address]) => [id!, this.byPort(Number(address!.split('@')[0]!.split(':').pop()))]));
    return rows.map(([id, , flagList, primaryId]) => {
      const node = byId.get(id!)!;
      const flags = flagList!.split(',');
      const failed = flags.includes('fail') || flags.includes('fail?');
      if (!flags.includes('slave')) return { node, role: 'primary', failed };
      return { node, role: 'replica', primary: byId.get(primaryId!), failed };
    });
  }

  /** The replicas of `primary` now. */
  async replicasOf(primary: LocalRedis): Promise<LocalRedis[]> {
    return (await this.roles()).filter((r) => r.role === 'replica' && r.primary === primary && !r.failed).map((r) => r.node);
  }

  /**
   * Resolves once every running node reports `cluster_state:ok` and every replica's link to its
   * primary is up (after a failover, or a killed node's restart: it rejoins as a replica).
   */
  async waitUntilHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const running = this.nodes.filter((n) => n.pid !== undefined);
    for (;;) {
      const healthy = await Promise.all(
        running.map(async (node) => {
          const admin = await node.admin().catch(() => undefined);
          if (!admin) return false;
          try {
            const info = String(await admin.call('CLUSTER', 'INFO'));
            const replication = await admin.info('replication');
            return info.includes('cluster_state:ok') && (replication.includes('role:master') || replication.includes('master_link_status:up'));
          } catch {
            return false;
          } finally {
            admin.disconnect();
          }
        }),
      );
      if (healthy.every(Boolean)) return;
      if (performance.now() > deadline) throw new Error(`the local cluster was not healthy within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  private running(): LocalRedis {
    const node = this.nodes.find((n) => n.pid !== undefined);
    if (!node) throw new Error('no node of the local cluster is running');
    return node;
  }

  private byPort(port: number): LocalRedis {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of the local cluster listens on port ${port}`);
    return node;
  }
}

/** Waits until each replica's link to its primary is up and its initial sync done. */
async function waitForReplicasInSync(nodes: readonly LocalRedis[]): Promise<void> {
  for (const node of nodes) {
    const admin = await node.admin();
    try {
      for (let i = 0; ; i++) {
        const info = await admin.info('replication');
        if (info.includes('role:master') || (info.includes('master_link_status:up') && !info.includes('master_sync_in_progress:1'))) break;
        if (i >= 400) throw new Error(`replica on port ${node.port} did not sync with its primary within 20 s`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await admin.quit();
    }
  }
}

async function waitForClusterOk(node: LocalRedis): Promise<void> {
  const admin = await node.admin();
  try {
    for (let i = 0; i < 200; i++) {
      const info = String(await admin.call('CLUSTER', 'INFO'));
      if (info.includes('cluster_state:ok')) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('cluster_state did not become ok within 10 s');
  } finally {
    await admin.quit();
  }
}
