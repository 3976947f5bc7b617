import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOCAL_ADMIN_USER, LocalRedis, type LocalRedisOptions, type LocalRedisUser, randomPassword } from './local-redis.js';

const run = promisify(execFile);

export interface LocalClusterOptions extends Omit<LocalRedisOptions, 'port' | 'clusterNode' | 'clusterMode' | 'tlsDir'> {
  /** Number of primaries (no replicas). @default 3 */
  readonly primaries?: number;
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
    const others = await Promise.all(
      Array.from({ length: (options.primaries ?? 3) - 1 }, (_, i) =>
        LocalRedis.start({ ...options, dir: join(options.dir, `node-${i + 1}`), tlsDir: join(options.dir, 'tls'), clusterNode: true, clusterMode: true, adminPassword, defaultUserPassword, passwords }),
      ),
    );
    const nodes = [first, ...others];
    try {
      await run('redis-cli', [
        '--tls', '--cacert', first.tls.caFile, '--user', LOCAL_ADMIN_USER,
        '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes',
      ], { env: { ...process.env, REDISCLI_AUTH: adminPassword } }); // keeps the password off the process list
      await waitForClusterOk(first);
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

  /** A seed node URL: the client discovers the others with CLUSTER SLOTS. */
  get url(): string {
    return this.nodes[0]!.url;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
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
