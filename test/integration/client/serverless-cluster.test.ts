import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, type KccConnectionOptions, KeyRing, Revocations } from '../../../client/src/index.js';
import { Bus } from '../../../client/src/bus.js';
import { EventLog } from '../../../client/src/event-log.js';
import { Locks } from '../../../client/src/lock.js';
import { Store } from '../../../client/src/store.js';
import { LocalCluster } from '../../../local/local-cluster.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { startWriteWorkers } from '../../support/write-workers.js';
import { type FakeClock, HOUR, fakeClock } from '../../support/fake-clock.js';
import { IamProxy } from '../../support/iam-proxy.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';

const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const CACHE = 'kcc-serverless';
const REGION = 'eu-west-1';
const KEY = { accessKeyId: 'ASIAKCCSERVERLESS001', secretAccessKey: 'kcc/test/serverless/secret/cccccccccccccccc', sessionToken: 'FwoGZXIvYXdzEServerless==' };

/**
 * ElastiCache Serverless is one endpoint in front of shards: clients use it in cluster mode
 * (CLUSTER SLOTS, slots across shards). The local stand-in is the three-primary TLS cluster,
 * reached with `serverless: true` and no `clusterMode` option.
 */
describe('serverless: one endpoint, slots across three TLS primaries', () => {
  let dir: string;
  let cluster: LocalCluster;
  const open: { redis: KccRedis; close?: () => Promise<void> }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-serverless-test-'));
    cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'pw-app', env: 'prod' }, { app: 'iam-app', env: 'prod' }], persistence: 'none' });
  });
  // Each test's instances close when it ends: the password instances of the first, left running,
  // would follow the second's re-announced topology and present their password to its IAM proxies.
  afterEach(async () => {
    for (const { redis, close } of open.splice(0).reverse()) {
      await close?.();
      await redis.close();
    }
  });
  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Every primitive, the key ring and the revocations, across two instances of one app-env. */
  async function everyPrimitive(connect: () => Promise<KccRedis>): Promise<void> {
    const [a, b] = await Promise.all([connect(), connect()]);
    expect(a.config.clusterMode).toBe(true);
    expect(a.client).toBeInstanceOf(Cluster);
    expect((a.client as Cluster).nodes('master')).toHaveLength(3);

    const store = new Store(a);
    expect(await store.compareAndSet('doc', 0, 'v1')).toEqual({ ok: true, version: 1 });
    expect(await new Store(b).getVersioned('doc')).toMatchObject({ value: 'v1', version: 1 });
    const lock = await new Locks(a).acquire('job', 5_000);
    expect(lock).toBeDefined();
    expect(await new Locks(b).acquire('job', 5_000)).toBeUndefined();
    expect(await lock!.release()).toBe(true);

    // Plain prefixed keys (no hash tag) spread over the shards.
    for (let i = 0; i < 30; i++) await a.run((r) => r.set(`${a.keyPrefix}spread-${i}`, String(i)));
    expect(await b.run((r) => r.get(`${a.keyPrefix}spread-29`))).toBe('29');
    const sizes = await Promise.all((a.client as Cluster).nodes('master').map((node) => node.dbsize()));
    expect(sizes.filter((size) => size > 0).length).toBeGreaterThan(1);

    const heard: string[] = [];
    await new Bus<string>(b, { channel: 'hints' }).subscribe((m) => heard.push(m.data));
    await new Bus<string>(a, { channel: 'hints' }).publish('hint', 'hello');
    await until(() => heard.includes('hello'), 'a bus message across instances');

    const log = new EventLog<number>(a, { name: 'events', maxAgeMs: 60_000 });
    const seen: number[] = [];
    const tail = await new EventLog<number>(b, { name: 'events', maxAgeMs: 60_000 }).tail((event) => {
      seen.push(event.data);
    });
    await log.append('n', 1);
    await log.append('n', 2);
    await until(() => seen.length === 2, 'two events on the other instance');
    expect(seen).toEqual([1, 2]);
    await tail.stop();

    const [ringA, ringB] = await Promise.all([KeyRing.start(a, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' }), KeyRing.start(b, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' })]);
    open.push({ redis: a, close: () => ringA.close() }, { redis: b, close: () => ringB.close() });
    expect(ringB.signingKey().kid).toBe(ringA.signingKey().kid);
    const changed = nextEvent(ringB, 'change');
    const { kid } = await ringA.rotate();
    await changed;
    expect(ringB.jwks().keys.map((k) => k.kid)).toContain(kid);

    const [revA, revB] = await Promise.all([Revocations.start(a), Revocations.start(b)]);
    open.push({ redis: a, close: () => revA.close() }, { redis: b, close: () => revB.close() });
    const applied = nextEvent(revB, 'applied');
    await revA.revokeSession('session-on-serverless');
    await applied;
    expect(revB.check({ sid: 'session-on-serverless' })).toBe('revoked');
  }

  it('runs every primitive, the key ring and the revocations with password authentication', async () => {
    const user = cluster.users.get('pw-app-prod')!;
    await everyPrimitive(async () => {
      const redis = await KccRedis.connect({ url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: user.username, password: user.password, serverless: true, env: {} });
      open.push({ redis });
      return redis;
    });
  });

  /** `CLUSTER SLOTS` calls on all nodes since `resetAll()`. */
  async function slotsReads(): Promise<number> {
    let calls = 0;
    for (const node of cluster.nodes) {
      const admin = await node.admin();
      try {
        const stats = await admin.info('commandstats');
        calls += Number(/cmdstat_cluster\|slots:calls=(\d+)/.exec(stats)?.[1] ?? 0);
      } finally {
        await admin.quit();
      }
    }
    return calls;
  }

  async function resetAll(): Promise<void> {
    for (const node of cluster.nodes) {
      const admin = await node.admin();
      await admin.config('RESETSTAT').finally(() => admin.quit());
    }
  }

  // A server-load review: the topology read every second (for a node cluster's failovers) was 60 of
  // an idle instance's 100 commands a minute on a serverless cache, each an ECPU billed, for a map
  // that does not change there (one virtual shard).
  it('reads the topology every second on a node cluster, never on a serverless cache', async () => {
    const user = cluster.users.get('pw-app-prod')!;
    const options = { url: cluster.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: user.username, password: user.password, heartbeat: false, env: {} } satisfies KccConnectionOptions;
    const nodeCluster = await KccRedis.connect({ ...options, clusterMode: true });
    // A node is asked over a connection the cluster holds to it (a command opens one).
    expect(await nodeCluster.run((r) => r.ping())).toBe('PONG');
    await resetAll();
    const begun = performance.now();
    await untilAsync(async () => (await slotsReads()) >= 3, 'three topology reads by the node-cluster instance', 30_000);
    const window = performance.now() - begun;
    await nodeCluster.close();

    const serverless = await KccRedis.connect({ ...options, serverless: true });
    open.push({ redis: serverless });
    expect(await serverless.run((r) => r.ping())).toBe('PONG');
    await resetAll();
    // Twice as long as the node-cluster instance took for three reads.
    await new Promise((resolve) => setTimeout(resolve, 2 * window));
    expect(await slotsReads()).toBe(0);
  });

  /**
   * One IAM stand-in per node, on a shared fake clock; the nodes announce the stand-ins' ports in
   * CLUSTER SLOTS, so every node connection goes through one. Returns them once every node tells so.
   */
  async function behindIamProxies(clock: FakeClock): Promise<IamProxy[]> {
    const proxies = await Promise.all(
      cluster.nodes.map((node) => IamProxy.start({ upstream: node, cacheName: CACHE, region: REGION, serverless: true, credentials: [KEY], iamUsers: ['iam-app-prod'], now: clock.now })),
    );
    try {
      for (const [i, node] of cluster.nodes.entries()) {
        const admin = await node.admin();
        await admin.call('CONFIG', 'SET', 'cluster-announce-tls-port', String(proxies[i]!.port));
        await admin.quit();
      }
      const proxyPorts = proxies.map((p) => p.port).sort();
      for (const node of cluster.nodes) {
        const admin = await node.admin();
        try {
          for (let i = 0; ; i++) {
            const slots = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
            const ports = slots.map((s) => s[2][1]).sort();
            if (JSON.stringify(ports) === JSON.stringify(proxyPorts)) break;
            if (i > 200) throw new Error('the proxies\' ports did not reach every node within 20 s');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } finally {
          await admin.quit();
        }
      }
    } catch (error) {
      await Promise.all(proxies.map((p) => p.stop()));
      throw error;
    }
    return proxies;
  }

  /**
   * IAM options for the stand-ins, and a count of signatures: after the fake clock jumps, a test waits
   * for the stand-by token to be re-signed, as it always is in real time (every 5 minutes, valid 15),
   * before a cluster's own subscriber connection uses it.
   */
  function iamOptions(proxies: readonly IamProxy[], clock: FakeClock, extra: Partial<KccConnectionOptions> = {}): { options: KccConnectionOptions; signatures: () => number } {
    let signatures = 0;
    const provider = async () => {
      signatures++;
      return KEY;
    };
    const options: KccConnectionOptions = {
      url: proxies[0]!.url,
      tls: { ca: cluster.ca, servername: 'localhost' },
      auth: 'iam',
      serverless: true,
      username: 'iam-app-prod',
      keyPrefix: 'iam-app-prod:',
      region: REGION,
      iam: { cacheName: CACHE, credentials: provider, now: clock.now, checkIntervalMs: 20 },
      env: {},
      ...extra,
    };
    return { options, signatures: () => signatures };
  }

  it('runs them with IAM authentication, every node behind the token-checking stand-in', async () => {
    const clock = fakeClock();
    const proxies = await behindIamProxies(clock);
    try {
      const { options, signatures } = iamOptions(proxies, clock);
      await everyPrimitive(async () => {
        const redis = await KccRedis.connect(options);
        open.push({ redis });
        return redis;
      });
      // Every node was reached through its proxy with a serverless token; none was refused.
      for (const proxy of proxies) {
        expect(proxy.logins.length).toBeGreaterThan(0);
        expect(proxy.refusals).toEqual([]);
      }
      // (Not asserted after the clock jumps below: ioredis opens a short-lived connection for its slot
      // refresh every 5 s, and one whose AUTH is in flight while the fake clock jumps hours presents a
      // token that was fresh when signed. With a real clock that cannot happen; it retries.)

      // The 12-hour rollover on the cluster: every connection of every instance (command, subscriber
      // and reader clusters with their node connections) is replaced before the stand-ins' limit.
      const before = proxies.map((p) => new Set(p.openIds()));
      clock.advance(11 * 3_600_000);
      // Each old connection closes once its successor took over (a blocked XREAD returns within 5 s first).
      await until(() => proxies.every((p, i) => p.openIds().every((id) => !before[i]!.has(id))), 'every connection replaced and the old ones closed', 30_000);
      const sweeps = proxies.map((p) => p.sweeps);
      const signed = signatures();
      clock.advance(2 * 3_600_000);
      await until(() => signatures() > signed, 'the stand-by token re-signed after the clock jump');
      await until(() => proxies.every((p, i) => p.sweeps > sweeps[i]! + 1), 'an age check past 12 hours');
      expect(proxies.map((p) => p.closedForAge)).toEqual([0, 0, 0]);
      // The renewed subscribers and readers still deliver: a revocation reaches the other instance.
      const [revA, revB] = await Promise.all(open.slice(-2).map(({ redis }) => Revocations.start(redis)));
      open.push({ redis: open.at(-1)!.redis, close: () => revB!.close() }, { redis: open.at(-2)!.redis, close: () => revA!.close() });
      const applied = nextEvent(revB!, 'applied');
      await revA!.revokeSession('after-rollover');
      await applied;
      expect(revB!.check({ sid: 'after-rollover' })).toBe('revoked');
    } finally {
      for (const { redis, close } of open.splice(0).reverse()) {
        await close?.();
        await redis.close();
      }
      await Promise.all(proxies.map((p) => p.stop()));
    }
  });

  /** The cluster `redis` listens on (its dedicated subscriber connection). */
  function subscriberCluster(redis: KccRedis): Cluster {
    return [...(redis as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
  }

  /** The connections ioredis' cluster listens on, ready: its classic subscriber and its sharded ones (from ioredis 6's internals). */
  function listeningConnections(cluster: Cluster): Redis[] {
    const classic = clusterSubscriberConnection(cluster).connection;
    const group = (cluster as unknown as { shardedSubscribers: { shardedSubscribers: Map<string, { getInstance(): Redis | null }> } }).shardedSubscribers;
    const sharded = [...group.shardedSubscribers.values()].map((subscriber) => subscriber.getInstance()).filter((connection) => connection !== null);
    return [...(classic ? [classic] : []), ...sharded].filter((connection) => connection.status === 'ready');
  }

  /**
   * `connection` stops reading: what the server sends it waits in the socket, as a message still on
   * its way does, until the client sends anything on it (a command's reply comes after it).
   */
  function unreadUntilNextCommand(connection: Redis): void {
    const stream = connection.stream;
    stream.pause();
    const send = connection.sendCommand;
    connection.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
      connection.sendCommand = send;
      stream.resume();
      return send.apply(connection, args);
    };
  }

  // The handover's other window: the server sent a message to the old subscriber before the new one
  // subscribed, and it is still on its way (another socket: nothing orders it with the new one's
  // reply) when the new one's reply comes. ioredis closes a cluster's subscriber connections at once,
  // unread: the handover must first make a round trip on the old ones, whose reply comes after it.
  for (const pubSub of ['auto', 'bridge'] as const) {
    it(`delivers a message the old subscriber had been sent but had not read when its successor took over (pubSub '${pubSub}')`, async () => {
      const clock = fakeClock();
      const proxies = await behindIamProxies(clock);
      // No health-check PING on the held connections meanwhile (they come each socketTimeoutMs).
      const { options } = iamOptions(proxies, clock, { pubSub, socketTimeoutMs: 60_000 });
      try {
        const [redis, sender] = await Promise.all([KccRedis.connect(options), KccRedis.connect(options)]);
        open.push({ redis }, { redis: sender });
        const heard: number[] = [];
        await new Bus<number>(redis, { channel: 'unread' }).subscribe((message) => void heard.push(message.data));
        const bus = new Bus<number>(sender, { channel: 'unread' });
        await bus.publish('n', 0);
        await until(() => heard.includes(0), 'a message before the rollover');
        const old = subscriberCluster(redis);
        const listening = listeningConnections(old);
        expect(listening).toHaveLength(pubSub === 'auto' ? 1 : 2);
        for (const connection of listening) unreadUntilNextCommand(connection);
        // Sent to the old subscriber only (the new one does not exist yet), and not read. (A classic
        // PUBLISH counts the subscribers of the node it ran on only.)
        expect(await bus.publish('n', 1)).toBeGreaterThanOrEqual(1);
        clock.advance(11 * HOUR);
        await until(() => old.status === 'end' && subscriberCluster(redis) !== old, 'the old subscriber replaced and closed', 30_000);
        await bus.publish('n', 2);
        await until(() => heard.includes(2), 'a message after the rollover');
        expect(heard).toEqual([0, 1, 2]);
        expect(redis.stats.renewals).toBeGreaterThan(0);
      } finally {
        for (const { redis, close } of open.splice(0).reverse()) {
          await close?.();
          await redis.close();
        }
        await Promise.all(proxies.map((p) => p.stop()));
      }
    });
  }

  // The rollover above runs without traffic while connections are replaced. Here commands and bus
  // messages flow throughout, as in iam-auth.test.ts's standalone rollover: a subscriber handed over
  // after the old one quit loses what was published in between; a command connection closed with
  // commands in flight fails them or reconnects.
  for (const pubSub of ['auto', 'bridge'] as const) {
    it(`keeps commands and bus messages flowing through the 12-hour rollover, with zero failures or reconnects (pubSub '${pubSub}')`, async () => {
      const clock = fakeClock();
      const proxies = await behindIamProxies(clock);
      const { options, signatures } = iamOptions(proxies, clock, { pubSub });
      const failures: unknown[] = [];
      let running = true;
      const workers: Promise<void>[] = [];
      let stopWrites = async (): Promise<void> => undefined;
      try {
        const [redis, sender] = await Promise.all([KccRedis.connect(options), KccRedis.connect(options)]);
        open.push({ redis }, { redis: sender });
        const heard = new Set<number>();
        let latest = -1;
        await new Bus<number>(redis, { channel: 'rollover' }).subscribe((message) => {
          heard.add(message.data);
          latest = Math.max(latest, message.data);
        });
        const bus = new Bus<number>(sender, { channel: 'rollover' });
        let published = 0;
        const writes = startWriteWorkers((_, i) => redis.run((r) => r.set(redis.key(`k${i % 20}`), String(i))), 2);
        stopWrites = writes.stop;
        const messages = async () => {
          while (running) {
            try {
              await bus.publish('n', published);
              published++;
            } catch (error) {
              failures.push(error);
            }
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        };
        workers.push(messages());
        await until(() => writes.ok > 50 && published > 10, 'traffic before the rollover');
        const before = proxies.map((p) => new Set(p.openIds()));
        clock.advance(11 * HOUR);
        await until(() => proxies.every((p, i) => p.openIds().every((id) => !before[i]!.has(id))), 'every connection replaced and the old ones closed', 30_000);
        const sweeps = proxies.map((p) => p.sweeps);
        const signed = signatures();
        clock.advance(2 * HOUR);
        await until(() => signatures() > signed, 'the stand-by token re-signed after the clock jump');
        await until(() => proxies.every((p, i) => p.sweeps > sweeps[i]! + 1), 'an age check past 12 hours');
        await writes.okAfter(200, 'commands after the rollover', 30_000);
        // Messages keep coming until the subscriber hears one published from here on: a gap in the
        // handover, however long, is then covered by messages that would be lost in it.
        const last = published;
        await until(() => latest >= last, 'the renewed subscriber hearing a message published after the rollover', 15_000);
        running = false;
        await Promise.all([...workers, writes.stop()]);
        await until(() => heard.size === published, 'every message published during the rollover', 15_000).catch(() => undefined);
        expect([...failures, ...writes.failures]).toEqual([]);
        expect(published - heard.size).toBe(0);
        expect([redis.stats.renewals, sender.stats.renewals].every((n) => n > 0)).toBe(true);
        expect([redis.stats.reconnects, sender.stats.reconnects]).toEqual([0, 0]);
        expect(proxies.map((p) => p.closedForAge)).toEqual([0, 0, 0]);
      } finally {
        running = false;
        await Promise.all([...workers, stopWrites()]);
        for (const { redis, close } of open.splice(0).reverse()) {
          await close?.();
          await redis.close();
        }
        await Promise.all(proxies.map((p) => p.stop()));
      }
    });
  }
});
