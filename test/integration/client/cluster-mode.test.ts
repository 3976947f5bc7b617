import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { Bus } from '../../../client/src/bus.js';
import { EventLog } from '../../../client/src/event-log.js';
import { Locks } from '../../../client/src/lock.js';
import { Store } from '../../../client/src/store.js';
import { LocalCluster } from '../../../local/local-cluster.js';
import { until } from '../../support/events.js';

describe('Redis Cluster mode (3 TLS primaries, cluster-mode ACL users)', () => {
  let dir: string;
  let cluster: LocalCluster;
  let redis: KccRedis;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-cluster-test-'));
    cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'my-app', env: 'prod' }, { app: 'other-app', env: 'prod' }], persistence: 'none' });
    const { password } = cluster.users.get('my-app-prod')!;
    redis = await KccRedis.connect({ url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: 'my-app-prod', password, clusterMode: true, env: {} });
  });
  afterAll(async () => {
    await redis?.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('discovers the topology with CLUSTER SLOTS as the app user', () => {
    expect(redis.client).toBeInstanceOf(Cluster);
    expect((redis.client as Cluster).nodes('master')).toHaveLength(3);
  });

  it('gives every node connection the socket timeout, so a node that vanishes without a reset is left after socketTimeoutMs', async () => {
    await redis.run((r) => r.get(redis.key('touch')));
    const nodes = (redis.client as Cluster).nodes('all');
    expect(nodes.length).toBeGreaterThanOrEqual(3);
    for (const node of nodes) expect(node.options.socketTimeout).toBe(10_000);
  });

  it('runs every primitive, multi-key scripts included, in one slot per app-env', async () => {
    const store = new Store(redis);
    await store.set('a', '1');
    expect(await store.get('a')).toBe('1');
    // setIfAbsent writes the value and its writer's nonce in one script: two keys, one slot.
    expect(await store.setIfAbsent('once', '1')).toBe(true);
    expect(await store.setIfAbsent('once', '2')).toBe(false);
    const log = new EventLog<{ v: number }>(redis, { maxAgeMs: 60_000 });
    const seen: number[] = [];
    const tail = await log.tail((event) => {
      seen.push(event.data.v);
    });
    // The versioned value and the event log are two keys in one script: same hash tag, same slot.
    expect(await store.compareAndSet('ring', 0, 'first', { event: log.eventFor('ring-changed', { v: 1 }) })).toEqual({ ok: true, version: 1 });
    expect(await store.compareAndSet('ring', 0, 'fork', { event: log.eventFor('ring-changed', { v: 99 }) })).toEqual({ ok: false, currentVersion: 1 });
    await log.append('ring-changed', { v: 2 });
    await until(() => seen.length === 2, 'two events');
    expect(seen).toEqual([1, 2]);
    await tail.stop();
    const lock = await new Locks(redis).acquire('rotation', 5_000);
    expect(lock).toBeDefined();
    expect(await new Locks(redis).acquire('rotation', 5_000)).toBeUndefined();
    expect(await lock!.release()).toBe(true);
    // Delete and force-release keep a key of the call's own beside the key: two keys, one slot.
    expect(await store.delete('once')).toBe(true);
    expect(await store.delete('once')).toBe(false);
    expect(await new Locks(redis).acquire('rotation', 5_000)).toBeDefined();
    expect(await new Locks(redis).forceRelease('rotation')).toBe(true);
    expect(await new Locks(redis).acquire('rotation', 5_000)).toBeDefined();
  });

  it('survives a password rotation on every node with zero failed commands', async () => {
    const user = 'other-app-prod';
    const oldPassword = cluster.users.get(user)!.password;
    const newPassword = 'C'.repeat(32) + 'c'.repeat(32);
    let secret = { username: user, password: oldPassword };
    const rotating = await KccRedis.connect({ url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, credentialsProvider: async () => secret, clusterMode: true, credentialRefreshMinIntervalMs: 20, env: {} });
    let ok = 0;
    const failures: unknown[] = [];
    let running = true;
    // Plain prefixed keys (no hash tag) so that the commands reach every shard.
    const worker = async () => {
      for (let i = 0; running; i++) {
        try {
          await rotating.run((r) => r.set(`${rotating.keyPrefix}k${i % 50}`, String(i)));
          ok++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const workers = [worker(), worker()];
    await until(() => ok > 50, 'commands before the rotation');
    for (const node of cluster.nodes) await node.setPasswords(user, [oldPassword, newPassword]);
    secret = { username: user, password: newPassword };
    for (const node of cluster.nodes) await node.setPasswords(user, [newPassword]);
    for (const node of cluster.nodes) {
      const admin = await node.admin();
      await admin.call('CLIENT', 'KILL', 'USER', user);
      await admin.quit();
    }
    const target = ok + 200;
    await until(() => ok >= target || failures.length > 0, 'commands after the rotation', 30_000);
    running = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(rotating.stats.credentialRefreshes).toBeGreaterThanOrEqual(1);
    await rotating.close();
  });

  it('delivers pub/sub across nodes', async () => {
    const other = await KccRedis.connect({ url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: 'my-app-prod', password: cluster.users.get('my-app-prod')!.password, clusterMode: true, env: {} });
    const heard: string[] = [];
    await new Bus<string>(redis).subscribe((m) => heard.push(m.data));
    await new Bus<string>(other).publish('hello', 'from another instance');
    await until(() => heard.length === 1, 'the message');
    expect(heard).toEqual(['from another instance']);
    await other.close();
  });
});
