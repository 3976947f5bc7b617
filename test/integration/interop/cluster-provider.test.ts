import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { AbstractClusterProvider, BaseClusterEvents, ClusterKeyProvider } from '@dapperduckling/keycloak-connector-server';
import { cacheFactory } from '@dapperduckling/keycloak-connector-server/dist/cache/cache-factory.js';
import { KccRedis, type KccConnectionOptions } from '../../../client/src/index.js';
import { type KccClusterProvider, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import { MAX_MESSAGE_BYTES } from '../../../client/src/envelope.js';
import { connectAs, useTestRedis } from '../../support/redis.js';
import { Inbox } from './inbox.js';
import { secretsIn } from '../../support/secret-scan.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { until } from '../../support/events.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 17 }, (_, i) => ({ app: `kc${i}`, env: 'prod' })), persistence: 'none' });
let app = 0;
const open: KccClusterProvider[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.disconnect()));
});

function namespace(): string {
  return `kc${app++}-prod`;
}

/** The key-encryption key every provider of these tests seals the connector's values and messages under. */
const CONNECTOR_KEKS = { keyEncryptionKey: 'k'.repeat(40), env: {} } as const;

function connection(user: string): KccConnectionOptions {
  return { url: server.url, tls: { ca: server.ca }, username: user, password: server.users.get(user)!.password, env: {} };
}

/** A connected provider on its own connection (as one app instance would have). */
async function provider(user: string, options: Parameters<typeof kccClusterProvider>[0] = {}): Promise<KccClusterProvider> {
  const p = await kccClusterProvider({ connection: connection(user), keyEncryptionKeys: CONNECTOR_KEKS, ...options });
  open.push(p);
  await p.connectOrThrow();
  return p;
}

/** The next `event` of a provider (upstream's event API), failing after `timeoutMs`. */
function providerEvent(p: KccClusterProvider, event: Parameters<KccClusterProvider['addListener']>[0], timeoutMs = 10_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      p.removeListener(event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      p.removeListener(event, listener);
      reject(new Error(`no "${event}" within ${timeoutMs} ms`));
    }, timeoutMs);
    p.addListener(event, listener);
  });
}

describe('cluster provider: upstream contract on the KccRedis connection', () => {
  it('is an upstream AbstractClusterProvider (the class the connector config names), connects with PRE_CONNECTION then CONNECTED', async () => {
    const user = namespace();
    const p = await kccClusterProvider({ connection: connection(user), keyEncryptionKeys: CONNECTOR_KEKS });
    open.push(p);
    expect(p).toBeInstanceOf(AbstractClusterProvider);
    const events: string[] = [];
    p.addListener(BaseClusterEvents.PRE_CONNECTION, () => events.push('pre'));
    p.addListener(BaseClusterEvents.CONNECTED, () => events.push('connected'));
    expect(p.isConnected(false)).toBe(false);
    await expect(p.connectOrThrow()).resolves.toBe(true);
    await expect(p.connectOrThrow()).resolves.toBe(true); // idempotent: the connector may call it again
    expect(events).toEqual(['pre', 'connected']);
    expect([p.isConnected(false), p.isConnected(true)]).toEqual([true, true]);
    await expect(p.disconnect()).resolves.toBe(true);
    expect([p.isConnected(false), p.isConnected(true)]).toEqual([false, false]);
  });

  it('a misspelled option is a KccConfigError naming it and the option meant, before anything connects', async () => {
    const error = await kccClusterProvider({ connection: connection(namespace()), nameSpace: 'c:' } as Parameters<typeof kccClusterProvider>[0]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KCC_CONFIG_INVALID', problems: ['nameSpace: not an option; did you mean namespace?'] });
  });

  it('keeps our TLS and credential rules: a plaintext URL is refused by kccClusterProvider(), wrong credentials fail connectOrThrow, each with a coded error and no password', async () => {
    const user = namespace();
    const plaintext = kccClusterProvider({ connection: { ...connection(user), url: `redis://127.0.0.1:${server.port}` } });
    await expect(plaintext).rejects.toMatchObject({ code: 'KCC_CONFIG_INVALID', message: expect.stringContaining('connection.url: plaintext redis:// refused') });
    const wrong = await kccClusterProvider({ connection: { ...connection(user), password: 'not-the-password-'.repeat(4) }, keyEncryptionKeys: CONNECTOR_KEKS });
    const error = await wrong.connectOrThrow().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED' });
    expect(String((error as Error).message)).not.toContain('not-the-password');
  });

  it('prints, inspects and serializes without the Redis password it was given', async () => {
    // Found by an audit (2026-12-03): the options, password included, were an ordinary field of the provider.
    const user = namespace();
    const p = await provider(user);
    const password = server.users.get(user)!.password;
    expect(secretsIn(p, [password])).toEqual([]);
  });

  it('subscribe() while Redis is out of reach answers false after connectTimeoutMs instead of waiting for the outage to end', async () => {
    // Found by an audit (2026-12-03): upstream awaits subscribe() on a cache miss (a token refresh); it
    // waited for the whole outage (over 200 s in the audit's run).
    const user = namespace();
    const proxy = await TcpProxy.start(server.port);
    try {
      const p = await provider(user, { connection: { ...connection(user), url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, connectTimeoutMs: 1_000 } });
      proxy.cut();
      const heard: unknown[] = [];
      expect(await p.subscribe('late', (message) => void heard.push(message))).toBe(false);
      proxy.heal();
      // The subscriber reconnects on ioredis's backoff, which on a busy machine can outlast connectTimeoutMs.
      await until(() => p.isConnected(true), 'the subscriber connection is back', 30_000);
      // Once Redis is back, the subscription given up on is not left behind: a message on the channel reaches no one.
      const other = await provider(user);
      const inbox = new Inbox();
      expect(await p.subscribe('late-check', inbox.listener)).toBe(true);
      await other.publish('late', { n: 1 });
      await other.publish('late-check', { n: 2 });
      await inbox.count(1); // published after "late", on the same connection: "late" would have come first
      expect(heard).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('uses a caller-owned connection without closing it', async () => {
    const user = namespace();
    const redis = await KccRedis.connect(connection(user));
    try {
      const p = await kccClusterProvider({ redis, keyEncryptionKeys: CONNECTOR_KEKS });
      await p.connectOrThrow();
      expect(p.redis).toBe(redis);
      await p.disconnect();
      await expect(redis.run((r) => r.ping())).resolves.toBe('PONG');
    } finally {
      await redis.close();
    }
  });
});

describe('cluster provider: pub/sub with sender ids and own-message filtering', () => {
  it('delivers to the other instances only when subscribed with ignoreOwnMessages, with the sender instance id', async () => {
    const user = namespace();
    const [a, b, c] = await Promise.all([provider(user), provider(user), provider(user)]);
    const inboxes = [new Inbox(), new Inbox(), new Inbox()];
    await Promise.all([a!, b!, c!].map((p, i) => p.subscribe('jobs', inboxes[i]!.listener, true)));
    await expect(a!.publish('jobs', { n: 1 })).resolves.toBe(true);
    await Promise.all([inboxes[1]!.count(1), inboxes[2]!.count(1)]);
    // b answers; a's subscriber receives in publish order, so m1 would have arrived before m2.
    await b!.publish('jobs', { n: 2 });
    await inboxes[0]!.count(1);
    expect(inboxes[0]!.messages).toEqual([{ data: { n: 2 }, sender: b!.redis.instanceId }]);
    expect(inboxes[1]!.messages).toEqual([{ data: { n: 1 }, sender: a!.redis.instanceId }]);
    expect(inboxes[2]!.messages[0]).toEqual({ data: { n: 1 }, sender: a!.redis.instanceId });
  });

  // An attack review: ignoreOwnMessages compared the sender with the connection's instance id, so two
  // providers on one caller-owned connection (two connectors in one process) dropped each other's
  // messages. Upstream's "own" is the provider's (a random sender id per provider).
  it('two providers on one connection: each ignores only what it published itself', async () => {
    const redis = await KccRedis.connect(connection(namespace()));
    try {
      const [a, b] = await Promise.all([kccClusterProvider({ redis, keyEncryptionKeys: CONNECTOR_KEKS }), kccClusterProvider({ redis, keyEncryptionKeys: CONNECTOR_KEKS })]);
      open.push(a, b);
      await Promise.all([a.connectOrThrow(), b.connectOrThrow()]);
      const [inboxA, inboxB] = [new Inbox(), new Inbox()];
      await a.subscribe('jobs', inboxA.listener, true);
      await b.subscribe('jobs', inboxB.listener, true);
      await a.publish('jobs', { n: 1 });
      await inboxB.count(1);
      await b.publish('jobs', { n: 2 });
      await inboxA.count(1);
      // Each subscriber receives in publish order: its own message would have arrived first.
      expect(inboxA.messages).toEqual([{ data: { n: 2 }, sender: redis.instanceId }]);
      expect(inboxB.messages).toEqual([{ data: { n: 1 }, sender: redis.instanceId }]);
    } finally {
      await Promise.all(open.splice(0).map((p) => p.disconnect()));
      await redis.close();
    }
  });

  it('delivers an instance its own messages when ignoreOwnMessages is false (upstream default)', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([provider(user), provider(user)]);
    const [own, other] = [new Inbox(), new Inbox()];
    await a!.subscribe('hint', own.listener);
    await b!.subscribe('hint', other.listener);
    await a!.publish('hint', 'x');
    await Promise.all([own.count(1), other.count(1)]);
    expect(own.messages[0]).toEqual({ data: 'x', sender: a!.redis.instanceId });
  });

  it('publishes on the namespaced channel <prefix>connector:<channel>, and unsubscribes', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([provider(user), provider(user)]);
    // The channel's name hidden under the key-encryption key (upstream's carry a refresh token's jti).
    expect(a!.redisChannel('jobs')).toBe(`${user}:connector:${new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).hiddenName('channel\njobs')}`);
    const raw = await connectAs(server, user);
    const seen = new Promise<string>((resolve) => raw.once('message', (_channel: string, message: string) => resolve(message)));
    await raw.subscribe(a!.redisChannel('jobs'));
    const inbox = new Inbox();
    await b!.subscribe('jobs', inbox.listener, true);
    await a!.publish('jobs', { n: 1 });
    const envelope = JSON.parse(await seen) as { id: string; data: string };
    expect(envelope).toMatchObject({ v: 1, type: 'keycloak-connector', sender: a!.redis.instanceId });
    // The connector's message, sealed under the key-encryption key for this channel, with its id and the time it was sent.
    const sealed = JSON.parse(new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).unseal(`${user}:connector:jobs`, envelope.data)) as { t: number };
    expect(sealed).toEqual({ v: 1, t: expect.any(Number), i: envelope.id, d: '{"n":1}' });
    expect(Math.abs(sealed.t - Date.now())).toBeLessThan(60_000); // the server runs on this host: its time is this clock
    await inbox.count(1);
    await expect(b!.unsubscribe('jobs', inbox.listener)).resolves.toBe(true);
    await expect(b!.unsubscribe('jobs', inbox.listener)).resolves.toBe(false); // not subscribed
    await expect(b!.unsubscribe('jobs', inbox.listener, true)).resolves.toBe(true); // silently
    const marker = new Inbox();
    await b!.subscribe('other', marker.listener);
    await a!.publish('jobs', { n: 2 });
    await a!.publish('other', 'after');
    await marker.count(1);
    expect(inbox.messages).toHaveLength(1);
    raw.disconnect();
  });

  it('drops and counts oversized, non-JSON and foreign-format messages; listeners never see them', async () => {
    const user = namespace();
    const drops: string[] = [];
    const b = await provider(user, { onDrop: (reason) => drops.push(reason) });
    const inbox = new Inbox();
    await b.subscribe('jobs', inbox.listener);
    const raw = await connectAs(server, user);
    const channel = b.redisChannel('jobs');
    await raw.publish(channel, 'not json');
    await raw.publish(channel, JSON.stringify({ senderId: 'an upstream redis provider', data: { event: 'x' } })); // upstream's own wire format
    await raw.publish(channel, 'x'.repeat(MAX_MESSAGE_BYTES + 1)); // more than any instance may write
    const a = await provider(user);
    await a.publish('jobs', 'good');
    // An instance allowed larger messages than b writes (a rolling change of maxMessageBytes): b reads them.
    const large = await provider(user, { connection: { ...connection(user), maxMessageBytes: 1_048_576 } });
    await large.publish('jobs', 'y'.repeat(100_000));
    await inbox.count(2);
    expect(inbox.messages).toEqual([{ data: 'good', sender: a.redis.instanceId }, { data: 'y'.repeat(100_000), sender: large.redis.instanceId }]);
    expect(drops).toEqual(['malformed', 'malformed', 'oversized']);
    expect(b.dropped).toEqual({ oversized: 1, malformed: 2, invalid: 0 });
    raw.disconnect();
  });

  it('tells the connector SUBSCRIBER_RECONNECTED once its subscriber is back and subscribed, and maps reconnecting', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([provider(user), provider(user)]);
    const inbox = new Inbox();
    await b!.subscribe('jobs', inbox.listener);
    const reconnected = providerEvent(b!, BaseClusterEvents.SUBSCRIBER_RECONNECTED);
    const reconnecting = providerEvent(b!, 'reconnecting');
    const admin = await server.admin();
    try {
      await admin.call('CLIENT', 'KILL', 'USER', user);
    } finally {
      await admin.quit();
    }
    const [role] = await reconnecting;
    expect(['commands', 'subscriber']).toContain(role);
    const [at] = await reconnected;
    expect(typeof at).toBe('number');
    await a!.publish('jobs', 'after the reconnect');
    await inbox.count(1);
    expect(inbox.messages[0]!.data).toBe('after the reconnect');
  });
});

describe('cluster provider: get / store with TTL and lock key / remove / owner locks', () => {
  it('stores under <prefix>{<app>-<env>}:connector:<key>, with TTLs in (fractional) seconds', async () => {
    const user = namespace();
    const p = await provider(user);
    const raw = await connectAs(server, user);
    expect(p.redisKey('a')).toBe(`${user}:{${user}}:connector:${new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).hiddenName('value\na')}`);
    await expect(p.store('a', 'text', 1.5)).resolves.toBe(true);
    await expect(p.store('b', 42, null)).resolves.toBe(true);
    await expect(p.store('c', Buffer.from('bytes'), 60)).resolves.toBe(true);
    // Sealed with the server time it expires at (ms).
    const [serverS, serverUs] = await raw.time();
    const sealed = JSON.parse(new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).unseal(`${user}:{${user}}:connector:a`, (await raw.get(p.redisKey('a')))!)) as { x: number };
    expect(sealed).toEqual({ v: 1, x: expect.any(Number), d: 'text' });
    expect(sealed.x - (Number(serverS) * 1000 + Number(serverUs) / 1000)).toBeGreaterThan(0);
    expect(sealed.x - (Number(serverS) * 1000 + Number(serverUs) / 1000)).toBeLessThanOrEqual(1_500);
    expect(JSON.parse(new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).unseal(`${user}:{${user}}:connector:b`, (await raw.get(p.redisKey('b')))!))).toEqual({ v: 1, x: null, d: '42' });
    const ttl = await raw.pttl(p.redisKey('a'));
    expect(ttl).toBeGreaterThan(1_000);
    expect(ttl).toBeLessThanOrEqual(1_500);
    expect(await raw.pttl(p.redisKey('b'))).toBe(-1);
    expect([await p.get('a'), await p.get('b'), await p.get('c'), await p.get('missing')]).toEqual(['text', '42', 'bytes', null]);
    await expect(p.remove('a')).resolves.toBe(true);
    await expect(p.remove('a')).resolves.toBe(true); // gone either way, as upstream
    expect(await p.get('a')).toBeNull();
    // Upstream's Redis provider deletes under a lock key only while holding it; ours does not offer
    // that guard and refuses the argument (an attack review: it was ignored, deleting unguarded).
    await p.store('guarded', 'kept', null);
    const removeUnder = p.remove.bind(p) as (key: string, lockKey?: string) => Promise<boolean>;
    await expect(removeUnder('guarded', 'a-lock-nobody-holds')).rejects.toThrow(/remove\(key, lockKey\): a delete guarded by a lock is not supported/);
    expect(await p.get('guarded')).toBe('kept');
    await expect(removeUnder('guarded', undefined)).resolves.toBe(true);
    await expect(p.store('d', 'x', -1)).rejects.toThrow(TypeError);
    await expect(p.store('d', 'x', -1)).rejects.toThrow(/ttl: -1 must be a positive number of seconds/);
    raw.disconnect();
  });

  it('storeObject / getObject (upstream base class) round-trip through our store', async () => {
    const p = await provider(namespace());
    await p.storeObject('obj', { a: 1, nested: { b: [1, 2] } }, 30);
    expect(await p.getObject('obj')).toEqual({ a: 1, nested: { b: [1, 2] } });
  });

  it('owner locks: exclusive, forced, released only by the owner, and guarding store(…, lockKey)', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([provider(user), provider(user)]);
    const lock = { key: 'update', ttl: 60 };
    expect(await a!.lock(lock)).toBe(true);
    expect(await a!.lock(lock)).toBe(false); // one owner holds a lock once, as upstream
    expect(await b!.lock(lock)).toBe(false);
    const raw = await connectAs(server, user);
    const lockKey = `${user}:{${user}}:connector:${new KeyEncryptionKey(CONNECTOR_KEKS.keyEncryptionKey).hiddenName('lock\nupdate')}`;
    expect(await raw.pttl(lockKey)).toBeGreaterThan(59_000);
    expect(await a!.store('value', 'from a', null, 'update')).toBe(true);
    expect(await b!.store('value', 'from b', null, 'update')).toBe(false);
    expect(await b!.unlock(lock)).toBe(false); // not the owner
    expect(await b!.lock(lock, true)).toBe(true); // forced: now b's
    expect(await a!.store('value', 'late write from a', 30, 'update')).toBe(false);
    expect(await b!.store('value', 'from b', 30, 'update')).toBe(true);
    expect(await a!.get('value')).toBe('from b');
    expect(await a!.unlock(lock)).toBe(false);
    expect(await b!.unlock(lock)).toBe(true);
    expect(await a!.lock({ key: 'update', ttl: 0.5 })).toBe(true);
    expect(await b!.unlock(lock, true)).toBe(true); // forced release of a's lock
    expect(await raw.exists(lockKey)).toBe(0);
    await expect(a!.lock({ key: 'update', ttl: 0 })).rejects.toThrow(/lockOptions.ttl: 0 must be a positive number of seconds/);
    raw.disconnect();
  });
});

describe("cluster provider: upstream's own components run on it", () => {
  it("three upstream ClusterKeyProviders converge on one key through our locks, store and pub/sub; request-active-key reaches the others, not the sender", async () => {
    const user = namespace();
    const providers = await Promise.all([provider(user), provider(user), provider(user)]);
    const keyProviders = await Promise.all(providers.map((clusterProvider) => ClusterKeyProvider.factory({ clusterProvider })));
    const keys = await Promise.all(keyProviders.map((k) => k.getActiveKeys()));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    for (const k of keyProviders) expect((await k.getPublicKeys()).map((j) => j.kid)).toEqual([keys[0]!.kid]);
    expect(JSON.parse((await providers[0]!.get('key-provider:connector-keys'))!)).toMatchObject({ connectorKeys: { kid: keys[0]!.kid } });

    const replies = new Inbox();
    await providers[0]!.subscribe('probe-replies', replies.listener, true);
    await providers[0]!.publish('key-provider:listening-channel', { event: 'request-active-key', listeningChannel: 'probe-replies' });
    await replies.count(2);
    const md5 = createHash('md5').update(JSON.stringify(keys[0]!.publicJwk)).digest('hex');
    expect(replies.messages.map((m) => m.data)).toEqual([
      { event: 'server-active-key', publicKeyMd5: md5 },
      { event: 'server-active-key', publicKeyMd5: md5 },
    ]);
    expect(new Set(replies.messages.map((m) => m.sender))).toEqual(new Set([providers[1]!.redis.instanceId, providers[2]!.redis.instanceId]));
  });

  it("upstream's ClusterCacheProvider: one computation cluster-wide, and an invalidation published by one instance clears the others' copies", async () => {
    const user = namespace();
    const providers = await Promise.all([provider(user), provider(user), provider(user)]);
    const calls = [0, 0, 0];
    const caches = providers.map((clusterProvider, i) =>
      cacheFactory<{ value: string }, [string]>({
        title: 'interop',
        ttl: 60,
        clusterProvider,
        cacheMissCallback: async (arg) => {
          calls[i]!++;
          return { value: `${arg} from ${i} #${calls[i]}` };
        },
      }),
    );
    await Promise.all(caches.map((c) => c.initialize()));

    const results = await Promise.all(caches.map((c) => c.get('k', ['v'])));
    expect(calls.reduce((x, y) => x + y)).toBe(1);
    expect(new Set(results.map((r) => r?.data.value)).size).toBe(1);

    // Probes on the invalidation channel see the message right after the caches' own listeners.
    const probes = [new Inbox(), new Inbox(), new Inbox()];
    await Promise.all(providers.map((p, i) => p.subscribe('invalidator-listening-channel', probes[i]!.listener)));
    await caches[0]!.invalidateCache('k');
    await Promise.all(probes.map((p) => p.count(1)));
    expect(probes.map((p) => p.messages[0])).toEqual(probes.map(() => ({ data: { key: 'k' }, sender: providers[0]!.redis.instanceId })));
    // Every local copy is gone (the sender's too: upstream subscribes this channel with ignoreOwnMessages=false and relies on it).
    const before = calls.reduce((x, y) => x + y);
    for (const cache of caches) await cache.get('k', ['w']);
    expect(calls.reduce((x, y) => x + y)).toBe(before + 1);
    expect(await providers[1]!.getObject('cluster-cache:interop:k')).toMatchObject({ value: expect.stringMatching(/^w from/) });
  });
});
