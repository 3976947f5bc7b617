/**
 * close() in cluster mode (every serverless deployment) while the cluster waits to reconnect, with a
 * command queued on it: the command settles (rejected, as closed) instead of staying pending.
 *
 * Found by a review (2026-12-03): ioredis' Cluster.disconnect() on a cluster with no node connected
 * resets an empty pool, so no 'close' follows and its offline queue is never flushed; a revocation
 * write waiting there never failed, so it was never kept to be written again, and the request that
 * made it hung.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccClosedError, KccRedis } from '../../../client/src/index.js';
import { LocalCluster } from '../../../local/local-cluster.js';
import { until } from '../../support/events.js';

describe('close() of a cluster connection waiting to reconnect', () => {
  let dir: string;
  let cluster: LocalCluster;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-cluster-close-'));
    cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'my-app', env: 'prod' }], persistence: 'none' });
  });
  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a healthy cluster: the next command of a run() in progress at close() is refused, not left waiting', async () => {
    // (First: the other test kills the nodes.) Found by a review (2026-12-03): after close() the
    // cluster's nodes end one by one, and a node ending after the first sets the cluster back to
    // 'close', where a command waits in the offline queue for a reconnect that never comes. Whether a
    // node ends late depends on the sockets: several rounds (one in three was left pending before).
    const { password } = cluster.users.get('my-app-prod')!;
    for (let round = 0; round < 6; round++) {
      const redis = await KccRedis.connect({
        url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: 'my-app-prod', password, clusterMode: true, heartbeat: false, env: {},
      });
      for (let k = 0; k < 20; k++) await redis.run((r) => r.set(`${redis.keyPrefix}k${k}`, '1')); // a connection to every node
      let outcome: unknown = 'pending';
      const operation = redis.run(async (r) => {
        await r.get(`${redis.keyPrefix}k1`);
        await new Promise((resolve) => setTimeout(resolve, 300)); // close() comes meanwhile
        return r.get(`${redis.keyPrefix}k2`);
      }).then((value) => (outcome = { value }), (error: unknown) => (outcome = error));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await redis.close();
      await until(() => outcome !== 'pending', `round ${round}: the second command settled`, 5_000);
      await operation;
      expect(outcome).toBeInstanceOf(Error);
    }
  });

  it('rejects the command queued on it', async () => {
    const { password } = cluster.users.get('my-app-prod')!;
    const redis = await KccRedis.connect({
      url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: 'my-app-prod', password,
      clusterMode: true, reconnectBaseDelayMs: 200, reconnectMaxDelayMs: 1_000, heartbeat: false, env: {},
    });
    await redis.run((r) => r.set(`${redis.keyPrefix}x`, '1'));
    const reconnecting = once(redis.client, 'reconnecting');
    await Promise.all(cluster.nodes.map((node) => node.kill()));
    // A command finds every node gone: the cluster closes its pool and waits to reconnect, the command queued.
    let outcome: unknown = 'pending';
    const queued = redis.run((r) => r.get(`${redis.keyPrefix}x`)).then((value) => (outcome = { value }), (error: unknown) => (outcome = error));
    await reconnecting;
    await until(() => redis.client.status === 'reconnecting', 'the cluster between two reconnect attempts', 20_000);
    const client = redis.client;
    await redis.close();
    await until(() => outcome !== 'pending', 'the queued command settled', 10_000);
    await queued;
    // Rejected: by us (KccClosedError) or by ioredis, whichever ends it first; never left pending.
    expect(outcome).toBeInstanceOf(Error);
    expect(client.status).toBe('end');
  });
});
