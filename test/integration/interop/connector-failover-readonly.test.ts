/**
 * Upstream's cluster cache (the connector's token refresh and user-info lookups, ClusterCacheProvider
 * 3.0.10 from npm) on kccClusterProvider through a failover without cluster mode whose primary
 * endpoint still resolves to the old primary, demoted to a read-only replica (a DNS cache: 6 to 30 s,
 * https://repost.aws/knowledge-center/elasticache-correct-readonly-error). Reads work there, writes
 * get READONLY. A provider that threw from lock(), store() or unlock() made upstream end the refresh
 * with no result (its new tokens discarded after Keycloak had answered), which signs the user out,
 * and kept upstream's per-instance wait for that token held (a failover review). Real redis-server
 * nodes behind a stand-in endpoint; no timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { cacheFactory } from '@dapperduckling/keycloak-connector-server/dist/cache/cache-factory.js';
import { type KccClusterProvider, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { pause } from '../../../client/src/time-limit.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { kccOptions } from '../../support/redis.js';
import { type PrimaryEndpoint, onNode, replicaOf, startReplicationGroup } from '../../support/replication-group.js';

const USER = 'lag-prod';
const closeLater = closeAfterEach();

interface Group {
  readonly oldPrimary: LocalRedis;
  readonly newPrimary: LocalRedis;
  readonly endpoint: PrimaryEndpoint;
  readonly provider: KccClusterProvider;
  readonly warnings: string[];
  /** Promotes the replica and demotes the old primary; the endpoint stays on the old one. */
  demote(): Promise<void>;
}

async function group(): Promise<Group> {
  const { primary: oldPrimary, replica: newPrimary, endpoint } = closeLater(await startReplicationGroup([{ app: 'lag', env: 'prod' }], USER));
  const warnings: string[] = [];
  const logger = { warn: (message: string) => void warnings.push(message), info: () => undefined };
  const provider = await kccClusterProvider({
    connection: kccOptions(oldPrimary, USER, { url: endpoint.url, tls: { ca: oldPrimary.ca, servername: 'localhost' }, logger, connectTimeoutMs: 2_000, reconnectBaseDelayMs: 50, reconnectMaxDelayMs: 400 }),
    keyEncryptionKeys: { keyEncryptionKey: 'failover-readonly-key-encryption-key-0123456789', env: {} },
  });
  await provider.connectOrThrow();
  closeLater({ close: () => provider.disconnect() });
  const demote = async () => {
    await onNode(newPrimary, (admin) => admin.call('REPLICAOF', 'NO', 'ONE'));
    await replicaOf(oldPrimary, newPrimary);
  };
  return { oldPrimary, newPrimary, endpoint, provider, warnings, demote };
}

/** The connector's token cache on `provider`: each miss is one refresh-token grant at Keycloak. */
function tokenCache(provider: KccClusterProvider, refresh: (refreshToken: string) => Promise<void> = async () => undefined) {
  let grants = 0;
  const cache = cacheFactory<{ tokenSet: string }, [string]>({
    title: 'TokenCache',
    ttl: 60,
    maxWaitSecs: 3,
    clusterProvider: provider,
    cacheMissCallback: async (refreshToken) => {
      grants++;
      await refresh(refreshToken);
      return { tokenSet: `for ${refreshToken} #${grants}` };
    },
  });
  return { cache, grants: () => grants };
}

/** Resolves what `work` resolves, or 'still waiting' after 30 s: a hang detector, far past the 2 s connectTimeoutMs the calls are bounded by. */
const orStillWaiting = <T>(work: Promise<T>) => Promise.race([work, pause(30_000).then(() => 'still waiting' as const)]);

async function readonlyAnswers(node: LocalRedis): Promise<number> {
  const info = await onNode(node, (admin) => admin.info('errorstats'));
  return Number(/errorstat_READONLY:count=(\d+)/.exec(info)?.[1] ?? 0);
}

describe('the connector\'s token cache through a failover whose endpoint still names the demoted primary', () => {
  it('a refresh during which the failover lands keeps the tokens Keycloak gave, and the next request for that token gets them', async () => {
    const g = await group();
    const { cache, grants } = tokenCache(g.provider, () => g.demote()); // Keycloak answers as the failover lands
    await cache.initialize();
    const first = await cache.get('jti-1', ['refresh-token-1']);
    expect(first?.data).toEqual({ tokenSet: 'for refresh-token-1 #1' });
    expect(await readonlyAnswers(g.oldPrimary)).toBeGreaterThan(0); // the store and the unlock met the demoted node
    // Upstream's wait for this token on this instance was released: the next request gets the result, no second grant.
    expect((await cache.get('jti-1', ['refresh-token-1']))?.data).toEqual({ tokenSet: 'for refresh-token-1 #1' });
    expect(grants()).toBe(1);
    expect(g.warnings.some((w) => w.startsWith('storing a keycloak-connector value failed, answered false'))).toBe(true);
  });

  it('refreshes while the endpoint names the demoted node get their tokens; once it moves, a lock is taken and the result stored again', async () => {
    const g = await group();
    const { cache, grants } = tokenCache(g.provider);
    await cache.initialize();
    await g.demote();
    const during = await cache.get('jti-2', ['refresh-token-2']);
    expect(during?.data).toEqual({ tokenSet: 'for refresh-token-2 #1' });
    expect(g.warnings.some((w) => w.startsWith('taking a keycloak-connector lock failed, answered false'))).toBe(true);
    expect(await g.provider.getObject('cluster-cache:TokenCache:jti-2')).toBeNull(); // not stored: the node is read-only

    // A refresh that starts in the window and is still retrying its lock when the endpoint moves.
    const before = await readonlyAnswers(g.oldPrimary);
    const next = cache.get('jti-3', ['refresh-token-3']);
    await untilAsync(async () => (await readonlyAnswers(g.oldPrimary)) > before, 'the lock refused by the demoted node', 20_000);
    g.endpoint.point(g.newPrimary.port);
    expect((await next)?.data).toEqual({ tokenSet: 'for refresh-token-3 #2' });
    expect(grants()).toBe(2);
    await untilAsync(async () => (await g.provider.getObject('cluster-cache:TokenCache:jti-3')) !== null, 'the result stored on the new primary', 20_000);
    expect(await onNode(g.newPrimary, (admin) => admin.info('replication'))).toMatch(/^role:master/m);
  });

  // Last: the warnings are said at most once a minute per process, and the tests above read theirs.
  // An attack review of 46d3447: the bound held for READONLY answers only; with Redis out of reach each
  // command waits out ioredis' reconnects first (lock 53 s to 123 s, store 145 s with connectTimeoutMs 2 s).
  it('with Redis out of reach, lock(), store() and unlock() answer false within connectTimeoutMs, not after ioredis\' reconnects', async () => {
    const g = await group();
    const proxy = await TcpProxy.start(g.newPrimary.port);
    closeLater({ close: () => proxy.stop() });
    const provider = await kccClusterProvider({
      connection: kccOptions(g.newPrimary, USER, { url: proxy.url, tls: { ca: g.newPrimary.ca, servername: 'localhost' }, logger: { warn: () => undefined, info: () => undefined }, connectTimeoutMs: 2_000 }),
      keyEncryptionKeys: { keyEncryptionKey: 'failover-readonly-key-encryption-key-0123456789', env: {} },
    });
    await provider.connectOrThrow();
    closeLater({ close: () => provider.disconnect() });
    await onNode(g.newPrimary, (admin) => admin.call('REPLICAOF', 'NO', 'ONE'));
    const lock = { key: 'outage-lock', ttl: 60 };
    expect(await provider.lock(lock)).toBe(true);
    proxy.cut();
    expect(await orStillWaiting(provider.unlock(lock))).toBe(false);
    expect(await orStillWaiting(provider.lock({ key: 'outage-lock-2', ttl: 60 }))).toBe(false);
    expect(await orStillWaiting(provider.store('outage-key', 'value', 60))).toBe(false);
    proxy.heal();
  });
});
