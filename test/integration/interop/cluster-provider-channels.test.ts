/**
 * kccClusterProvider keeps state only for the channels that have listeners (from a long-uptime
 * review): it kept a Bus and an empty listener map for every channel ever subscribed, until
 * disconnect(). Upstream's ClusterCacheProvider subscribes a fresh channel on every cache miss
 * (`…:listening-channel:<title>:<key>`, a refresh token's jti or a sid) and unsubscribes it after:
 * about 1.4 kB per miss, held for the process's life.
 *
 * Real redis-server (TLS, ACL users, no persistence); upstream's cache from npm.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cacheFactory } from '@dapperduckling/keycloak-connector-server/dist/cache/cache-factory.js';
import { type KccClusterProvider, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import { heldChannels } from '../../../client/src/keycloak-connector/cluster-provider.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { until } from '../../support/events.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { Inbox } from './inbox.js';

const USER = 'kch-prod';
const server = useTestRedis({ appEnvs: [{ app: 'kch', env: 'prod' }], persistence: 'none' });
const open: KccClusterProvider[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.disconnect()));
});

async function provider(options: Parameters<typeof kccClusterProvider>[0] = { connection: kccOptions(server, USER) }): Promise<KccClusterProvider> {
  const p = await kccClusterProvider({ keyEncryptionKeys: { keyEncryptionKey: 'c'.repeat(40), env: {} }, ...options });
  open.push(p);
  await p.connectOrThrow();
  return p;
}

describe('kccClusterProvider: state kept only for channels with listeners', () => {
  it("upstream's cache, a miss per key: after 200 misses the provider holds what it held before", async () => {
    const p = await provider();
    const cache = cacheFactory<{ value: string }, [string]>({ title: 'TokenCache', ttl: 60, clusterProvider: p, cacheMissCallback: async (jti) => ({ value: jti }) });
    await cache.initialize(); // subscribes the invalidation channel, for good
    const before = heldChannels(p);
    expect(before).toEqual({ buses: 1, listened: 1 });
    for (let i = 0; i < 200; i++) expect(await cache.get(`jti-${i}`, [`token ${i}`])).toMatchObject({ data: { value: `token ${i}` } });
    expect(heldChannels(p)).toEqual(before);
  });

  it('subscribe(), and the raw-listener methods of upstream\'s contract: N distinct channels subscribed and unsubscribed leave nothing held', async () => {
    const p = await provider();
    const listener = () => undefined;
    for (let i = 0; i < 100; i++) {
      const channel = `cluster-cache:listening-channel:TokenCache:${i}`;
      expect(await p.subscribe(channel, listener)).toBe(true);
      expect(heldChannels(p)).toEqual({ buses: 1, listened: 1 });
      expect(await p.unsubscribe(channel, listener)).toBe(true);
    }
    expect(heldChannels(p)).toEqual({ buses: 0, listened: 0 });
    // What a subclass of upstream's base class reaches (the base's own subscribe() is replaced).
    const raw = p as unknown as Record<'handleSubscribe' | 'handleUnsubscribe', (channel: string, listener: (message: string) => void) => Promise<boolean>>;
    for (let i = 0; i < 100; i++) {
      expect(await raw.handleSubscribe(`raw:${i}`, listener)).toBe(true);
      expect(await raw.handleUnsubscribe(`raw:${i}`, listener)).toBe(true);
    }
    expect(heldChannels(p)).toEqual({ buses: 0, listened: 0 });
  });

  it('a channel dropped with its last listener and subscribed again delivers to the new listener, once; the old one hears nothing', async () => {
    const [p, other] = await Promise.all([provider(), provider()]);
    const first = new Inbox();
    expect(await p.subscribe('again', first.listener)).toBe(true);
    await other.publish('again', { n: 1 });
    await first.count(1);
    expect(await p.unsubscribe('again', first.listener)).toBe(true);
    expect(heldChannels(p)).toEqual({ buses: 0, listened: 0 });

    const second = new Inbox();
    const staying = new Inbox();
    expect(await p.subscribe('again', second.listener)).toBe(true);
    expect(await p.subscribe('again', staying.listener)).toBe(true);
    await other.publish('again', { n: 2 });
    await Promise.all([second.count(1), staying.count(1)]);
    // One listener leaving does not drop the channel for the other.
    expect(await p.unsubscribe('again', second.listener)).toBe(true);
    expect(heldChannels(p)).toEqual({ buses: 1, listened: 1 });
    await other.publish('again', { n: 3 });
    await staying.count(2);
    expect(first.messages.map((m) => m.data)).toEqual([{ n: 1 }]);
    expect(second.messages.map((m) => m.data)).toEqual([{ n: 2 }]);
    expect(staying.messages.map((m) => m.data)).toEqual([{ n: 2 }, { n: 3 }]);
  });

  it.each([
    ['unsubscribing the last listener, then subscribing another', 'unsubscribe first'],
    ['subscribing another, then unsubscribing the last listener', 'subscribe first'],
  ] as const)('%s, neither awaited: the new listener has its Bus and hears the channel; it leaves nothing held', async (_, order) => {
    const [p, other] = await Promise.all([provider(), provider()]);
    const leaving = new Inbox();
    const coming = new Inbox();
    expect(await p.subscribe('race', leaving.listener)).toBe(true);
    const unsubscribing = () => p.unsubscribe('race', leaving.listener);
    const subscribing = () => p.subscribe('race', coming.listener);
    const answers = order === 'unsubscribe first' ? await Promise.all([unsubscribing(), subscribing()]) : (await Promise.all([subscribing(), unsubscribing()])).reverse();
    expect(answers).toEqual([true, true]);
    expect(heldChannels(p)).toEqual({ buses: 1, listened: 1 });
    await other.publish('race', { n: 1 });
    await coming.count(1);
    expect(leaving.messages).toEqual([]);
    // A third listener joins the same Bus: each message still reaches each listener once.
    const third = new Inbox();
    expect(await p.subscribe('race', third.listener)).toBe(true);
    expect(heldChannels(p)).toEqual({ buses: 1, listened: 1 });
    await other.publish('race', { n: 2 });
    await Promise.all([coming.count(2), third.count(1)]);
    expect(coming.messages.map((m) => m.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(third.messages.map((m) => m.data)).toEqual([{ n: 2 }]);
    expect(await p.unsubscribe('race', coming.listener)).toBe(true);
    expect(await p.unsubscribe('race', third.listener)).toBe(true);
    expect(heldChannels(p)).toEqual({ buses: 0, listened: 0 });
  });

  it('a subscription given up on (Redis out of reach past connectTimeoutMs) keeps nothing once it completes', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const p = await provider({ connection: kccOptions(server, USER, { url: proxy.url, tls: { ca: server.ca, servername: 'localhost' }, connectTimeoutMs: 1_000 }) });
      proxy.cut();
      expect(await p.subscribe('late', () => undefined)).toBe(false);
      expect(heldChannels(p).listened).toBe(0);
      proxy.heal();
      // Its SUBSCRIBE completes once the subscriber is back, and is undone at once.
      await until(() => p.isConnected(true) && heldChannels(p).buses === 0, 'the given-up subscription to be undone', 30_000);
      expect(heldChannels(p)).toEqual({ buses: 0, listened: 0 });
    } finally {
      await proxy.stop();
    }
  });
});
