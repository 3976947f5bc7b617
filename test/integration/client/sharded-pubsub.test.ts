import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { KccRedis, type KccConnectionOptions, KeyRing, Revocations, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { shardChannel } from '../../../client/src/pubsub-mode.js';
import { clusterSubscriberConnection } from '../../../client/src/cluster-subscriber-connection.js';
import { LocalCluster } from '../../../local/local-cluster.js';
import { LOCAL_ADMIN_USER } from '../../../local/local-redis.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { realmKey } from '../../support/logout-tokens.js';
import { commandCalls } from '../../support/redis.js';

const USER = 'my-app-prod';
const PREFIX = 'my-app-prod:';
const CLASSIC = `${PREFIX}revocations`;
const SHARDED = shardChannel(PREFIX, CLASSIC);
const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const ADMIN_PASSWORD = 'A'.repeat(32) + 'a'.repeat(32);

/**
 * Sharded pub/sub on the local TLS cluster of three primaries: the revocation fast path and the
 * key ring's notifications reach instances connected through every node; the channel lives on the
 * one shard that owns the app-env's slot; a slot that moves, a dropped subscriber and a rolling
 * deploy beside classic instances lose nothing; a server without SPUBLISH falls back to classic.
 */
describe('sharded pub/sub in cluster mode (3 TLS primaries)', () => {
  let dir: string;
  let cluster: LocalCluster;
  const opened: KccRedis[] = [];
  const started: { close(): Promise<void> }[] = [];

  /** An instance whose seed is node `seed` (its command connection starts there). */
  async function connect(seed: number, options: KccConnectionOptions = {}): Promise<KccRedis> {
    const node = cluster.nodes[seed]!;
    const redis = await KccRedis.connect({
      url: node.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password,
      clusterMode: true, heartbeat: false, env: {}, ...options,
    });
    opened.push(redis);
    return redis;
  }

  async function revocations(redis: KccRedis): Promise<Revocations> {
    const r = await Revocations.start(redis, { maxStalenessMs: 60_000 });
    started.push(r);
    return r;
  }

  /** Envelope ids heard on the revocation channel through the instance's own subscriber (pub/sub only, never the log). */
  async function heard(redis: KccRedis): Promise<string[]> {
    const ids: string[] = [];
    await redis.subscribe(CLASSIC, (message) => ids.push((JSON.parse(message) as { id: string }).id));
    return ids;
  }

  async function onEachNode<T>(operation: (admin: Redis, index: number) => Promise<T>): Promise<T[]> {
    return Promise.all(
      cluster.nodes.map(async (node, index) => {
        const admin = await node.admin();
        try {
          return await operation(admin, index);
        } finally {
          await admin.quit();
        }
      }),
    );
  }

  /** The index of the node that owns `channel`'s slot now. */
  async function owner(channel: string): Promise<number> {
    const [slots] = await onEachNode(async (admin) => {
      const slot = Number(await admin.call('CLUSTER', 'KEYSLOT', channel));
      const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => from <= slot && slot <= to)!;
      return range[2][1];
    });
    return cluster.nodes.findIndex((n) => n.port === slots);
  }

  /** Per node: classic subscribers of the classic channel and sharded subscribers of its twin (a node counts only its own clients). */
  async function subscribers(): Promise<{ classic: number; sharded: number }[]> {
    return onEachNode(async (admin) => ({
      classic: Number(((await admin.call('PUBSUB', 'NUMSUB', CLASSIC)) as [string, number])[1]),
      sharded: Number(((await admin.call('PUBSUB', 'SHARDNUMSUB', SHARDED)) as [string, number])[1]),
    }));
  }

  async function clusterCalls(command: string): Promise<number> {
    const counts = await onEachNode((admin) => commandCalls(admin, command));
    return counts.reduce((a, b) => a + b, 0);
  }

  async function closeAll(): Promise<void> {
    await Promise.all(started.splice(0).map((s) => s.close()));
    await Promise.all(opened.splice(0).map((r) => r.close()));
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-sharded-test-'));
    cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'my-app', env: 'prod' }, { app: 'other-app', env: 'prod' }], persistence: 'none', adminPassword: ADMIN_PASSWORD });
  });
  afterEach(closeAll);
  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('revocations from one instance reach instances seeded on every node, over SSUBSCRIBE on the owning shard only', async () => {
    const instances = await Promise.all([0, 1, 2].map((seed) => connect(seed)));
    expect(await Promise.all(instances.map((r) => r.pubSubMode()))).toEqual(['sharded', 'sharded', 'sharded']);
    const rs = await Promise.all(instances.map((r) => revocations(r)));
    const ids = await Promise.all(instances.map((r) => heard(r)));
    const publishesBefore = await clusterCalls('publish');

    await rs[0]!.revokeSession('sid-1');
    await until(() => ids[1]!.length === 1 && ids[2]!.length === 1, 'the revocation over pub/sub on the other two instances');
    expect(rs[1]!.check({ sid: 'sid-1' })).toBe('revoked');
    expect(rs[2]!.check({ sid: 'sid-1' })).toBe('revoked');
    await rs[2]!.revokeSession('sid-2');
    await until(() => ids[0]!.length === 2 && ids[1]!.length === 2, 'the second revocation');
    expect(rs[0]!.check({ sid: 'sid-2' })).toBe('revoked');

    // The channel lives on one shard: its owner counts the three instances' sharded subscriptions,
    // the other primaries none, and no node has a classic subscriber.
    const ownerIndex = await owner(SHARDED);
    const counts = await subscribers();
    expect(counts[ownerIndex]).toEqual({ classic: 0, sharded: 3 });
    for (const [i, count] of counts.entries()) if (i !== ownerIndex) expect(count).toEqual({ classic: 0, sharded: 0 });
    // The writes published with SPUBLISH (inside the script), never with the broadcast PUBLISH.
    expect(await clusterCalls('publish')).toBe(publishesBefore);
    expect(await clusterCalls('spublish')).toBeGreaterThanOrEqual(2);
  });

  it("a Keycloak not-before push relayed by one instance reaches instances seeded on the other nodes over SSUBSCRIBE", async () => {
    const key = await realmKey('realm-1');
    const verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.test/realms/shop', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
    const instances = await Promise.all([0, 1, 2].map((seed) => connect(seed)));
    const rs = await Promise.all(instances.map(async (redis) => {
      const r = await Revocations.start(redis, { maxStalenessMs: 60_000, keycloakPushes: verifier });
      started.push(r);
      return r;
    }));
    const ids = await Promise.all(instances.map((r) => heard(r)));
    const publishesBefore = await clusterCalls('publish');
    const notBefore = Math.floor(Date.now() / 1000) - 10;
    const action = { id: randomUUID(), expiration: Math.floor(Date.now() / 1000) + 30, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore };
    const signed = await new CompactSign(Buffer.from(JSON.stringify(action))).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
    const verdict = await verifier.verify(signed);
    if (!verdict.ok) throw new Error(`the test's push was refused: ${verdict.reason}`);

    await rs[0]!.applyKeycloakPush(verdict.push);
    // Heard through each instance's own sharded subscriber (not the log), and followed.
    await until(() => ids[1]!.length === 1 && ids[2]!.length === 1, 'the relayed push over pub/sub on the other two instances');
    await until(() => rs[1]!.stats.pushedNotBefore === notBefore && rs[2]!.stats.pushedNotBefore === notBefore, 'the push followed');
    expect(await clusterCalls('publish')).toBe(publishesBefore);
  });

  it("another tenant can neither hear nor send on an app-env's shard channel (the & rule covers the twin)", async () => {
    const other = await connect(1, { username: 'other-app-prod', password: cluster.users.get('other-app-prod')!.password });
    expect(await other.pubSubMode()).toBe('sharded'); // its own namespace works
    const cluster2 = other.client as Cluster;
    await expect(cluster2.spublish(SHARDED, '{"forged":true}')).rejects.toThrow(/NOPERM/);
    const subscriber = await other.dedicated('subscriber');
    await expect((subscriber as Cluster).ssubscribe(SHARDED)).rejects.toThrow(/NOPERM/);
  });

  it("the key ring's change notifications reach instances seeded on every node", async () => {
    const instances = await Promise.all([0, 1, 2].map((seed) => connect(seed)));
    const rings: KeyRing[] = [];
    for (const redis of instances) {
      const ring = await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {} });
      started.push(ring);
      rings.push(ring);
    }
    const kid = rings[0]!.signingKey().kid;
    expect(rings.map((r) => r.signingKey().kid)).toEqual([kid, kid, kid]);
    // The ring's notifications are its event log, read by a blocking XREAD on the shard that owns the
    // namespace's slot: a rotation on one instance reaches the others long before their 30 s re-read.
    const changes = [nextEvent<[{ activeKid: string }]>(rings[1]!, 'change'), nextEvent<[{ activeKid: string }]>(rings[2]!, 'change')];
    const result = await rings[0]!.rotate({ immediate: true });
    expect(result.rotated).toBe(true);
    for (const [change] of await Promise.all(changes)) expect(change.activeKid).toBe(result.kid);
  });

  it('keeps delivering after the subscriber connections drop and after the slot moves to another primary', async () => {
    const instances = await Promise.all([0, 1, 2].map((seed) => connect(seed)));
    const rs = await Promise.all(instances.map((r) => revocations(r)));
    const ids = await Promise.all(instances.map((r) => heard(r)));
    let n = 0;
    /** Revokes from instance 0 until instances 1 and 2 heard one over pub/sub (bounded). */
    const heardAgain = async (what: string) => {
      const before = [ids[1]!.length, ids[2]!.length];
      await untilAsync(async () => {
        await rs[0]!.revokeSession(`sid-${what}-${n++}`);
        return ids[1]!.length > before[0]! && ids[2]!.length > before[1]!;
      }, `a revocation heard over pub/sub ${what}`, 20_000, 200);
    };
    await heardAgain('at first');

    // Every sharded subscriber on the owner is killed (as a node restart would): ioredis reconnects them.
    const from = await owner(SHARDED);
    const resubscribed = instances.map((r) => nextEvent(r, 'resubscribed', 20_000));
    await onEachNode(async (admin, i) => (i === from ? admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub') : undefined));
    await Promise.all(resubscribed);
    await heardAgain('after the subscribers reconnected');

    // The namespace's slot (keys and channels) moves to another primary, as a resharding or a
    // failover does: the old owner unsubscribes the sharded subscribers, which follow the slot.
    const to = (from + 1) % 3;
    await moveSlot(cluster, SHARDED, from, to);
    expect(await owner(SHARDED)).toBe(to);
    await heardAgain('after the slot moved');
    await untilAsync(async () => (await subscribers())[to]!.sharded === 3, 'three sharded subscriptions on the new owner');
    expect((await subscribers()).map((c) => c.classic)).toEqual([0, 0, 0]);
    // Every revocation is applied everywhere (the log covers what pub/sub missed while it moved).
    const last = `sid-final`;
    await rs[0]!.revokeSession(last);
    await until(() => rs[1]!.check({ sid: last }) === 'revoked' && rs[2]!.check({ sid: last }) === 'revoked', 'the last revocation everywhere');
  });

  it('rolling deploy: an old instance on classic pub/sub and new bridging instances hear every revocation, each once', async () => {
    const old = await connect(0, { pubSub: 'classic' });
    const bridging = await connect(1, { pubSub: 'bridge' });
    const bridging2 = await connect(2, { pubSub: 'bridge' });
    expect([await old.pubSubMode(), await bridging.pubSubMode()]).toEqual(['classic', 'bridge']);
    const rs = await Promise.all([old, bridging, bridging2].map((r) => revocations(r)));
    const ids = await Promise.all([old, bridging, bridging2].map((r) => heard(r)));
    await rs[0]!.revokeSession('from-old'); // PUBLISH only
    await rs[1]!.revokeSession('from-new'); // SPUBLISH and PUBLISH
    await rs[0]!.revokeSession('from-old-2');
    // Each instance's own listener hears every revocation, its own included; markers published last
    // (one both ways, one classic only): once they arrived, a second copy of anything earlier would
    // have had every chance to arrive too.
    await until(() => ids.every((list) => list.length >= 3), 'every revocation on every instance over pub/sub');
    await rs[2]!.revokeSession('marker');
    await rs[0]!.revokeSession('marker-classic');
    await until(() => ids.every((list) => list.length >= 5), 'the markers');
    for (const list of ids) {
      expect(list).toHaveLength(5);
      expect(new Set(list).size).toBe(5);
    }
    for (const r of rs) for (const sid of ['from-old', 'from-new', 'from-old-2', 'marker', 'marker-classic']) expect(r.check({ sid })).toBe('revoked');
    // The old instance listens on the classic channel; the new ones on both.
    const counts = await subscribers();
    expect(counts.reduce((a, c) => a + c.classic, 0)).toBe(3);
    expect(counts[await owner(SHARDED)]!.sharded).toBe(2);
  });

  // An attack review's find: ioredis 6 builds its classic cluster subscriber from a few node options, without
  // disableClientInfo, so that connection sent CLIENT SETINFO, which the access string refuses on Valkey 7.2+
  // (the stack's default engine): each refusal counts in CommandAuthorizationFailures, which the stack alarms
  // on. This server (7.0) has no SETINFO, so what the client sends is recorded instead.
  it("classic pub/sub: ioredis' own subscriber connection sends no CLIENT SETINFO, nor the one that replaces it", async () => {
    const sent: { connection: unknown; args: unknown[] }[] = [];
    const prototype = Redis.prototype as unknown as { client: (...args: unknown[]) => unknown };
    const client = prototype.client;
    prototype.client = function recorded(this: unknown, ...args: unknown[]) {
      sent.push({ connection: this, args });
      return client.apply(this, args);
    };
    const setInfoBy = (connection: unknown) => sent.filter((call) => call.connection === connection && String(call.args[0]).toUpperCase() === 'SETINFO');
    try {
      // The recording sees ioredis' default: a connection without disableClientInfo sends it.
      const node = cluster.nodes[0]!;
      const control = new Redis({ host: node.host, port: node.port, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password, lazyConnect: true });
      await control.connect();
      await until(() => setInfoBy(control).length === 2, 'the control connection sending CLIENT SETINFO twice');
      control.disconnect();

      const x = await connect(0, { pubSub: 'classic' });
      const ids = await heard(x);
      const subscriberCluster = [...(x as unknown as { clients: Map<unknown, string> }).clients].find(([, role]) => role === 'subscriber')?.[0] as Cluster;
      const first = clusterSubscriberConnection(subscriberCluster).connection!;
      expect(first.status).toBe('ready');
      await onEachNode((admin) => admin.publish(CLASSIC, JSON.stringify({ id: 'first' })));
      await until(() => ids.includes('first'), 'a message over the first subscriber connection');
      expect(setInfoBy(first)).toEqual([]);

      const resubscribed = nextEvent(x, 'resubscribed');
      first.disconnect(); // ioredis picks a node again and makes a new connection there
      await resubscribed;
      const second = clusterSubscriberConnection(subscriberCluster).connection!;
      expect(second).not.toBe(first);
      await untilAsync(async () => {
        await onEachNode((admin) => admin.publish(CLASSIC, JSON.stringify({ id: 'second' })));
        return ids.includes('second');
      }, 'a message over the new subscriber connection', 10_000);
      expect(setInfoBy(second)).toEqual([]);
      // Nor any other connection as the app-env's user (the instance's commands and nodes; the test's admin connections send it).
      const asUser = (connection: unknown) => (connection as Redis).options.username === USER;
      expect(sent.filter((call) => String(call.args[0]).toUpperCase() === 'SETINFO' && call.connection !== control && asUser(call.connection)).length).toBe(0);
    } finally {
      prototype.client = client;
    }
  });

  it('falls back to classic pub/sub on servers without SPUBLISH (renamed away) and still reaches every node', async () => {
    for (const [i, node] of cluster.nodes.entries()) {
      await appendFile(join(dir, `node-${i}`, 'redis.conf'), 'rename-command SPUBLISH ""\nrename-command SSUBSCRIBE ""\n');
      await node.restart();
    }
    await untilAsync(async () => (await onEachNode(async (admin) => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'))).every(Boolean), 'the cluster after the restarts', 20_000);
    const instances = await Promise.all([0, 1, 2].map((seed) => connect(seed)));
    expect(await Promise.all(instances.map((r) => r.pubSubMode()))).toEqual(['classic', 'classic', 'classic']);
    const rs = await Promise.all(instances.map((r) => revocations(r)));
    const ids = await Promise.all(instances.map((r) => heard(r)));
    await rs[1]!.revokeSession('sid-classic');
    await until(() => ids[0]!.length === 1 && ids[2]!.length === 1, 'the revocation over classic pub/sub');
    expect(rs[0]!.check({ sid: 'sid-classic' })).toBe('revoked');
    expect((await subscribers()).reduce((a, c) => a + c.classic, 0)).toBe(3);
  });
});

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  await untilAsync(condition, 'the old owner to let its sharded subscribers go', 10_000);
}

/** Moves the slot of `key` from node `from` to node `to` with its keys (CLUSTER SETSLOT + MIGRATE), as a resharding does. */
async function moveSlot(cluster: LocalCluster, key: string, from: number, to: number): Promise<void> {
  const source = await cluster.nodes[from]!.admin();
  const target = await cluster.nodes[to]!.admin();
  try {
    const slot = Number(await source.call('CLUSTER', 'KEYSLOT', key));
    const sourceId = String(await source.call('CLUSTER', 'MYID'));
    const targetId = String(await target.call('CLUSTER', 'MYID'));
    await target.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
    await source.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
    for (let round = 0; round < 100; round++) {
      const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      if (keys.length === 0) break;
      await source.call('MIGRATE', '127.0.0.1', cluster.nodes[to]!.port, '', 0, 5_000, 'AUTH2', LOCAL_ADMIN_USER, ADMIN_PASSWORD, 'KEYS', ...keys);
    }
    // The old owner lets go first; the others learn a moment later, as gossip spreads a failover. The
    // subscribers it unsubscribes re-read the topology at once and may ask a node that still names the
    // old owner: the test waits until they were let go and a re-read had time to run, so that this
    // stale answer is what they got (the client must still end up on the new owner).
    await source.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
    await waitFor(async () => Number(((await source.call('PUBSUB', 'SHARDNUMSUB', key)) as [string, number])[1]) === 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const node of [to, ...[0, 1, 2].filter((i) => i !== to && i !== from)].map((i) => cluster.nodes[i]!)) {
      const admin = await node.admin();
      try {
        await admin.call('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
      } finally {
        await admin.quit();
      }
    }
  } finally {
    await source.quit();
    await target.quit();
  }
}
