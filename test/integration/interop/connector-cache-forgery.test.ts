/**
 * What the connector keeps in Redis through kccClusterProvider, against a writer of Redis who lacks the
 * key-encryption key (the app-env's own Redis credentials, a Redis administrator). Upstream 3.0.10 takes
 * a refresh cookie's `jti` without checking its signature, looks the token set up under
 * `cluster-cache:TokenCache:<jti>`, and authorizes from the claims it finds there; it also takes a
 * token refresh's result from a message on the cache's channel. Unsealed, a planted entry logged in
 * anyone with any role (an attack review of the cluster provider reproduced it with the real
 * connector). Every value and message now goes through sealed under the key-encryption key.
 */
import { KeycloakConnector } from '@dapperduckling/keycloak-connector-server/dist/keycloak-connector.js';
import type { KeyProvider } from '@dapperduckling/keycloak-connector-server';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { VALUE_EXPIRY_SLACK_MS } from '../../../client/src/keycloak-connector/connector-seal.js';
import { type KccClusterProvider, kccClusterProvider, kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until, untilAsync } from '../../support/events.js';
import { startProvider } from '../../support/oidc-provider.js';
import { connectAs, startTestRedis } from '../../support/redis.js';
import { RecordingAdapter } from './connector-adapter.js';
import { redirectMisplacedStaticPages } from './static-pages.js';

const USER = 'shop-prod';
const KEK = 'forgery-test-key-encryption-key-0123456789';

let redisServer: LocalRedis;
let op: Awaited<ReturnType<typeof startProvider>>;
let restoreStatic: () => void;
let previousNodeEnv: string | undefined;
const open: KccClusterProvider[] = [];
const raws: Redis[] = [];

beforeAll(async () => {
  previousNodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'development'; // upstream's cookie names outside production (plain http origin)
  restoreStatic = redirectMisplacedStaticPages();
  redisServer = await startTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' });
  op = await startProvider([{ client_id: 'shop', jwks_uri: 'http://127.0.0.1:1/jwks' }]);
});

afterAll(async () => {
  for (const raw of raws) raw.disconnect();
  await Promise.all(open.map((p) => p.disconnect()));
  await op?.stop();
  await redisServer?.stop();
  restoreStatic?.();
  if (previousNodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = previousNodeEnv;
});

/** A connected provider of the app-env, sealing under `kek`. */
async function provider(kek: string | { kek: string; previous: string[] } = KEK): Promise<KccClusterProvider> {
  const connection = { url: redisServer.url, tls: { ca: redisServer.ca }, username: USER, password: redisServer.users.get(USER)!.password, env: {} };
  const keyEncryptionKeys = typeof kek === 'string' ? { keyEncryptionKey: kek, env: {} } : { keyEncryptionKeyProvider: async () => kek, env: {} };
  const p = await kccClusterProvider({ connection, keyEncryptionKeys });
  open.push(p);
  await p.connectOrThrow();
  return p;
}

/** The attacker's connection: the app-env's own Redis user, no key-encryption key. */
async function attacker(): Promise<Redis> {
  const raw = await connectAs(redisServer, USER);
  raws.push(raw);
  return raw;
}

/** Upstream's raw channel methods of a provider (protected upstream; the connector's own plugins call them). */
function rawChannels(p: KccClusterProvider): { handlePublish(channel: string, message: string): Promise<boolean>; handleSubscribe(channel: string, listener: (message: string) => void): Promise<boolean> } {
  return p as unknown as ReturnType<typeof rawChannels>;
}

/** The next message on Redis channel `channel`, as the attacker's own subscriber receives it (subscribed when this resolves; wrapped, or awaiting this would wait for the message). */
async function nextOn(channel: string): Promise<{ readonly message: Promise<string> }> {
  const listener = await attacker();
  const message = new Promise<string>((resolve) => listener.once('message', (_channel: string, received: string) => resolve(received)));
  await listener.subscribe(channel);
  return { message };
}

const unsigned = (claims: object) => `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

describe('the connector behind kccClusterProvider, against a writer of Redis without the key-encryption key', () => {
  it('a planted token set does not log anyone in: the real connector finds no entry for the forged refresh cookie', async () => {
    const clusterProvider = await provider();
    const keyProvider: KeyProvider = async (config) => kccKeyProvider({ keyEncryptionKey: KEK, env: {} })(config);
    const connector = (await KeycloakConnector.init(new RecordingAdapter(), {
      serverOrigin: 'http://127.0.0.1:3000',
      authServerUrl: op.issuer,
      realm: 'x',
      oidcDiscoveryUrlOverride: `${op.issuer}/.well-known/openid-configuration`,
      clientId: 'shop',
      refreshConfigMins: 0,
      clusterProvider,
      keyProvider,
    })) as unknown as { getUserData(request: object): Promise<{ userData: { isAuthenticated: boolean; isAuthorized: boolean; accessToken?: { sub?: string } } }> };

    const raw = await attacker();
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'attacker-chosen-admin', sid: 'forged', iat: now, exp: now + 3600, realm_access: { roles: ['admin'] }, resource_access: { shop: { roles: ['admin'] } } };
    const tokenSet = { access_token: unsigned(claims), refresh_token: unsigned({ jti: 'r2', exp: now + 3600 }), id_token: unsigned({}), expires_in: 3600, token_type: 'bearer' };
    // Where upstream's own provider would keep them, and (as if the attacker could compute it) under the hidden name.
    const entry = JSON.stringify({ tokenSet, accessToken: claims, expiresAt: now + 3600 });
    const userInfo = JSON.stringify({ sub: 'attacker-chosen-admin', email: 'x@example.com' });
    for (const [key, value] of [['cluster-cache:TokenCache:forged-jti', entry], ['cluster-cache:UserInfoCache:forged', userInfo]] as const) {
      await raw.set(`${USER}:{${USER}}:connector:${key}`, value, 'EX', 600);
      await raw.set(clusterProvider.redisKey(key), value, 'EX', 600);
    }

    const cookie = unsigned({ jti: 'forged-jti', exp: now + 3600 });
    const request = {
      url: '/admin', urlParams: {}, urlQuery: {}, headers: {}, pluginDecorators: {},
      cookies: { '__DEV_ONLY-kcc-refresh': cookie, '__SECURE-kcc-refresh': cookie },
      routeConfig: { public: false, roles: ['admin'] },
    };
    const { userData } = await connector.getUserData(request);
    expect({ authenticated: userData.isAuthenticated, authorized: userData.isAuthorized, sub: userData.accessToken?.sub }).toEqual({ authenticated: false, authorized: false, sub: undefined });
  });

  it('a value is read back only as sealed for its own key: planted, moved from another key, or sealed under another key-encryption key, it is a miss', async () => {
    const a = await provider();
    const raw = await attacker();
    await a.store('cluster-cache:TokenCache:mine', JSON.stringify({ sub: 'alice' }), 60);
    const sealed = (await raw.get(a.redisKey('cluster-cache:TokenCache:mine')))!;
    expect(sealed).toMatch(/^kccs1\.[0-9a-f]{16}\./);
    expect(sealed).not.toContain('alice'); // the token sets are encrypted too, not only authenticated
    expect(await a.get('cluster-cache:TokenCache:mine')).toBe(JSON.stringify({ sub: 'alice' }));

    await raw.set(a.redisKey('cluster-cache:TokenCache:planted'), JSON.stringify({ sub: 'mallory' }));
    await raw.set(a.redisKey('cluster-cache:TokenCache:moved'), sealed);
    const other = await provider('another-key-encryption-key-0123456789abc');
    await other.store('cluster-cache:TokenCache:other-kek', JSON.stringify({ sub: 'eve' }), 60);
    // Under another key-encryption key the name differs too: copied to this one's name, it does not open either.
    await raw.set(a.redisKey('cluster-cache:TokenCache:other-kek'), (await raw.get(other.redisKey('cluster-cache:TokenCache:other-kek')))!);
    for (const key of ['planted', 'moved', 'other-kek']) expect(await a.get(`cluster-cache:TokenCache:${key}`), key).toBeNull();
    expect(await a.getObject('cluster-cache:TokenCache:planted')).toBeNull();
    expect(a.refused).toBe(4);
  });

  it('a message is delivered only as sealed for its own channel: a planted or moved one is dropped and counted', async () => {
    const [a, b] = [await provider(), await provider()];
    const got: unknown[] = [];
    await b.subscribe('cluster-cache:listening:TokenCache:victim', (data) => void got.push(data));
    await b.subscribe('elsewhere', () => undefined);
    const raw = await attacker();
    const channel = b.redisChannel('cluster-cache:listening:TokenCache:victim');
    const envelope = (data: unknown) => JSON.stringify({ v: 1, id: crypto.randomUUID(), type: 'keycloak-connector', sender: 'attacker', at: Date.now(), data });
    await raw.publish(channel, envelope({ key: 'victim', data: { accessToken: { sub: 'mallory' } } }));
    const sealedElsewhere = new KeyEncryptionKey(KEK).seal(b.redisChannel('elsewhere'), JSON.stringify({ key: 'victim', data: { accessToken: { sub: 'mallory' } } }));
    await raw.publish(channel, envelope(sealedElsewhere));
    await until(() => b.dropped.invalid >= 2, `both forged messages dropped as invalid (${JSON.stringify(b.dropped)})`);
    await a.publish('cluster-cache:listening:TokenCache:victim', { key: 'victim', data: { accessToken: { sub: 'alice' } } });
    await until(() => got.length >= 1, 'the sealed message');
    expect(got).toEqual([{ key: 'victim', data: { accessToken: { sub: 'alice' } } }]);
  });

  it('a value sealed under the key-encryption key before a rotation still opens on an instance that holds it as previous', async () => {
    const OLD = KEK;
    const NEW = 'rotated-key-encryption-key-0123456789abcdef';
    const before = await provider(OLD);
    await before.store('cluster-cache:TokenCache:across', 'value', 60);
    const after = await provider({ kek: NEW, previous: [OLD] });
    expect(await after.get('cluster-cache:TokenCache:across')).toBe('value');
    await after.store('cluster-cache:TokenCache:new', 'newer', 60);
    // The instance that has not read the rotation reads the copy under the previous key's name, sealed under that key.
    expect(await before.get('cluster-cache:TokenCache:new')).toBe('newer');
  });

  it("upstream's raw channel methods (handlePublish / handleSubscribe) seal and check too", async () => {
    const [a, b] = [await provider(), await provider()];
    const got: string[] = [];
    await rawChannels(b).handleSubscribe('raw', (message) => void got.push(message));
    const raw = await attacker();
    const before = b.dropped.invalid;
    await raw.publish(b.redisChannel('raw'), 'planted');
    await until(() => b.dropped.invalid > before, 'the planted raw message dropped');
    await rawChannels(a).handlePublish('raw', 'sealed by a');
    await until(() => got.length >= 1, 'the sealed raw message');
    expect(got).toEqual(['sealed by a']);
  });

  it('no Redis key or channel name shows an upstream key: a reader of the names (SCAN, PUBSUB CHANNELS) learns no refresh token id to put in a cookie', async () => {
    const [a, b] = [await provider(), await provider()];
    const jti = `jti-${crypto.randomUUID()}`;
    // What upstream's token cache does around a refresh: its entry, its lock, its result published to the waiting instances.
    await b.subscribe(`cluster-cache:listening-channel:TokenCache:${jti}`, () => undefined);
    expect(await a.lock({ key: `cluster-cache:TokenCache:${jti}:lock`, ttl: 60 })).toBe(true);
    await a.store(`cluster-cache:TokenCache:${jti}`, JSON.stringify({ accessToken: { sub: 'alice' } }), 60, `cluster-cache:TokenCache:${jti}:lock`);
    await a.publish(`cluster-cache:listening-channel:TokenCache:${jti}`, { key: jti, data: {} });
    const raw = await attacker();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await raw.scan(cursor, 'MATCH', `${USER}:*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    const channels = (await raw.call('PUBSUB', 'CHANNELS', `${USER}:*`)) as string[];
    expect(keys.length).toBeGreaterThan(0);
    expect(channels.length).toBeGreaterThan(0);
    expect([...keys, ...channels].filter((name) => name.includes(jti))).toEqual([]);
    expect(await a.get(`cluster-cache:TokenCache:${jti}`)).toBe(JSON.stringify({ accessToken: { sub: 'alice' } }));
  });

  it("no warning names an upstream channel: a refresh's channel holds the refresh token's jti", async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (message: string, fields?: object) => void warnings.push(`${message} ${JSON.stringify(fields ?? {})}`) };
    const connection = { url: redisServer.url, tls: { ca: redisServer.ca }, username: USER, password: redisServer.users.get(USER)!.password, env: {}, logger };
    const p = await kccClusterProvider({ connection, keyEncryptionKeys: { keyEncryptionKey: KEK, env: {} } });
    const jti = `jti-${crypto.randomUUID()}`;
    // Before connectOrThrow(): subscribing and publishing fail, and say so.
    expect(await p.subscribe(`cluster-cache:listening-channel:TokenCache:${jti}`, () => undefined)).toBe(false);
    expect(await p.publish(`cluster-cache:listening-channel:TokenCache:${jti}`, { key: jti })).toBe(false);
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.filter((w) => w.includes(jti))).toEqual([]);
  });

  it('a sealed token set put back after its expiry, or kept past it, is a miss: its expiry is sealed with it', async () => {
    const a = await provider();
    const raw = await attacker();
    await a.store('cluster-cache:TokenCache:restored', JSON.stringify({ sub: 'alice' }), 0.2);
    await a.store('cluster-cache:TokenCache:kept', JSON.stringify({ sub: 'bob' }), 0.2);
    const sealed = (await raw.get(a.redisKey('cluster-cache:TokenCache:restored')))!;
    await raw.persist(a.redisKey('cluster-cache:TokenCache:kept')); // its expiry taken away
    await untilAsync(async () => (await raw.exists(a.redisKey('cluster-cache:TokenCache:restored'))) === 0, 'the value expired in Redis');
    await new Promise((resolve) => setTimeout(resolve, VALUE_EXPIRY_SLACK_MS + 200));
    await raw.set(a.redisKey('cluster-cache:TokenCache:restored'), sealed); // put back, as it was
    const before = a.refused;
    expect(await a.get('cluster-cache:TokenCache:restored')).toBeNull();
    expect(await a.get('cluster-cache:TokenCache:kept')).toBeNull();
    expect(a.refused - before).toBe(2);
  });

  it('a sealed message sent again is delivered once: as it was (the same id), or with another id outside the seal (refused)', async () => {
    const [a, b] = [await provider(), await provider()];
    const got: unknown[] = [];
    const channel = 'cluster-cache:listening-channel:TokenCache:replayed';
    await b.subscribe(channel, (data) => void got.push(data));
    const raw = await attacker();
    const captured = await nextOn(b.redisChannel(channel));
    await a.publish(channel, { key: 'replayed', data: { n: 1 } });
    const original = await captured.message;
    await until(() => got.length >= 1, 'the message');
    const invalid = b.dropped.invalid;
    await raw.publish(b.redisChannel(channel), original);
    await raw.publish(b.redisChannel(channel), JSON.stringify({ ...(JSON.parse(original) as object), id: crypto.randomUUID() }));
    await until(() => b.dropped.invalid > invalid, 'the copy under another id refused');
    await a.publish(channel, { key: 'replayed', data: { n: 2 } });
    await until(() => got.length >= 2, 'the next message');
    expect(got).toEqual([{ key: 'replayed', data: { n: 1 } }, { key: 'replayed', data: { n: 2 } }]);
  });

  it("a sealed raw message (upstream's handlePublish) sent again is delivered once", async () => {
    const [a, b] = [await provider(), await provider()];
    const got: string[] = [];
    await rawChannels(b).handleSubscribe('raw-replayed', (message) => void got.push(message));
    const captured = await nextOn(b.redisChannel('raw-replayed'));
    await rawChannels(a).handlePublish('raw-replayed', 'first');
    const original = await captured.message;
    await until(() => got.length >= 1, 'the message');
    const raw = await attacker();
    await raw.publish(b.redisChannel('raw-replayed'), original);
    await rawChannels(a).handlePublish('raw-replayed', 'second');
    await until(() => got.length >= 2, 'the next message');
    expect(got).toEqual(['first', 'second']);
  });
});
