import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type JWK, type JWTPayload, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { KeyProvider } from '@dapperduckling/keycloak-connector-server';
import { KeycloakConnector } from '@dapperduckling/keycloak-connector-server/dist/keycloak-connector.js';
import type { KccConnectionOptions } from '../../../client/src/index.js';
import { type KccClusterProvider, type KccKeyProvider, kccClusterProvider, kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { close, listen } from '../../support/http.js';
import { startProvider } from '../../support/oidc-provider.js';
import { startTestRedis } from '../../support/redis.js';
import { RecordingAdapter } from './connector-adapter.js';
import { EXPECTED_PAGE, SHIPPED_PAGE, redirectMisplacedStaticPages } from './static-pages.js';

const KEK = 'interop-key-encryption-key-0123456789abcdef';
const CLIENT_ID = 'kcc-interop';
const ORIGIN = 'http://127.0.0.1:3000';
const JWKS_ROUTE = '/auth/k-jwks';

/** One app instance: the real upstream KeycloakConnector on our cluster provider and key provider. */
interface Instance {
  readonly connector: KeycloakConnector<never>;
  readonly adapter: RecordingAdapter;
  readonly clusterProvider: KccClusterProvider;
  readonly keyProvider: KccKeyProvider;
}

let redisServer: LocalRedis;
let op: Awaited<ReturnType<typeof startProvider>>;
let front: { server: Server; url: string };
let app = 0;
const instances: Instance[] = [];
const disconnect: KccClusterProvider[] = [];
const assertions: string[] = [];
let previousNodeEnv: string | undefined;
let nextInstance = 0;

beforeAll(async () => {
  // Upstream's connector talks plain HTTP to the identity provider only when NODE_ENV is development (isDev()).
  previousNodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'development';
  redisServer = await startTestRedis({ appEnvs: Array.from({ length: 4 }, (_, i) => ({ app: `kcc${i}`, env: 'prod' })), persistence: 'none' });
  // The client's jwks_uri: round-robin over the instances' own JWKS routes (upstream's handler).
  // A fetch between two tests (no instance running) or one that fails answers an error status: never
  // a throw or a rejection in the server, which would surface as an error outside any test.
  front = await listen((_req, res) => {
    const instance = instances.length > 0 ? instances[nextInstance++ % instances.length] : undefined;
    if (!instance) return void res.writeHead(503).end();
    instance.adapter.call('GET', JWKS_ROUTE).then(
      (r) => res.writeHead(r.statusCode ?? 200, { 'content-type': 'application/json' }).end(r.responseText),
      () => res.writeHead(500).end(),
    );
  });
  op = await startProvider([{ client_id: CLIENT_ID, jwks_uri: `${front.url}/jwks` }]);
  // Keep every client assertion the connectors send, to verify it against each instance's JWKS too.
  op.provider.use(async (ctx, next) => {
    await next();
    const assertion = (ctx.oidc?.params as { client_assertion?: unknown } | undefined)?.client_assertion;
    if (typeof assertion === 'string') assertions.push(assertion);
  });
});
afterEach(async () => {
  await Promise.all(disconnect.splice(0).map((p) => p.disconnect()));
});
afterAll(async () => {
  await Promise.all(disconnect.splice(0).map((p) => p.disconnect()));
  await op?.stop();
  if (front) await close(front.server);
  await redisServer?.stop();
  if (previousNodeEnv === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = previousNodeEnv;
});

function connection(user: string): KccConnectionOptions {
  return { url: redisServer.url, tls: { ca: redisServer.ca }, username: user, password: redisServer.users.get(user)!.password, env: {} };
}

/** What a team on the upstream connector changes: `clusterProvider` and `keyProvider`, nothing else. */
async function startConnector(user: string, adapter = new RecordingAdapter()): Promise<Instance> {
  const clusterProvider = await kccClusterProvider({ connection: connection(user) });
  disconnect.push(clusterProvider);
  let keyProvider: KccKeyProvider | undefined;
  const keyProviderFactory: KeyProvider = async (config) => (keyProvider = (await kccKeyProvider({ keyEncryptionKey: KEK, env: {} })(config)) as KccKeyProvider);
  const connector = await KeycloakConnector.init(adapter, {
    serverOrigin: ORIGIN,
    authServerUrl: op.issuer,
    realm: 'interop',
    oidcDiscoveryUrlOverride: `${op.issuer}/.well-known/openid-configuration`,
    clientId: CLIENT_ID,
    refreshConfigMins: 0,
    clusterProvider,
    keyProvider: keyProviderFactory,
  });
  return { connector: connector as KeycloakConnector<never>, adapter, clusterProvider, keyProvider: keyProvider! };
}

async function servedJwks(instance: Instance): Promise<{ keys: JWK[] }> {
  const response = await instance.adapter.call('GET', JWKS_ROUTE);
  expect(response.statusCode).toBe(200);
  return JSON.parse(response.responseText!) as { keys: JWK[] };
}

/** The state JWT the connector signs into its login redirect (upstream's handleLoginPost). */
async function loginState(instance: Instance): Promise<string> {
  const response = await instance.adapter.call('POST', '/auth/login', { origin: ORIGIN });
  expect(response.statusCode).toBe(303);
  return new URL(response.redirectUrl!).searchParams.get('state')!;
}

async function verifiesAgainst(jwt: string, jwks: { keys: JWK[] }, claims: { issuer?: string; audience?: string } = {}): Promise<JWTPayload> {
  return (await jwtVerify(jwt, createLocalJWKSet(jwks), claims)).payload;
}

describe('the published @dapperduckling/keycloak-connector-server 3.0.10, unmodified', () => {
  it('cannot construct a KeycloakConnector (its login/logout pages ship under dist/static/src/static/), after our providers did all it asked of them', async () => {
    expect(existsSync(EXPECTED_PAGE)).toBe(false);
    expect(existsSync(SHIPPED_PAGE)).toBe(true);
    const user = `kcc${app++}-prod`;
    const adapter = new RecordingAdapter();
    const failure = startConnector(user, adapter);
    await expect(failure).rejects.toThrow(/ENOENT: no such file or directory, open '.*dist\/static\/login-start\.html'/);
    // Before its constructor read the page, init had connected our cluster provider, taken the
    // active key from our key provider (for its discovery's PrivateKeyJwt), and its token and
    // user-info caches had subscribed their invalidation channel through our provider.
    const [clusterProvider] = disconnect;
    expect(clusterProvider!.isConnected(false) && clusterProvider!.isConnected(true)).toBe(true);
    const admin = await redisServer.admin();
    try {
      expect(await admin.call('PUBSUB', 'NUMSUB', `${user}:connector:invalidator-listening-channel`)).toEqual([`${user}:connector:invalidator-listening-channel`, 1]);
      expect(await admin.exists(`${user}:{${user}}:keyring`)).toBe(1);
    } finally {
      await admin.quit();
    }
    expect(adapter.registered).toEqual([]); // routes are registered by the constructor, which failed
  });
});

describe('three KeycloakConnectors on our cluster provider and key provider (its static pages redirected in-process, see static-pages.ts)', () => {
  let restore: () => void;
  const user = 'kcc3-prod';
  beforeAll(async () => {
    restore = redirectMisplacedStaticPages();
    instances.push(...(await Promise.all([startConnector(user), startConnector(user), startConnector(user)])));
    // These instances live for the whole block; afterEach must not disconnect them.
    disconnect.splice(0);
  });
  afterAll(async () => {
    restore?.();
    await Promise.all(instances.splice(0).map((i) => i.clusterProvider.disconnect()));
  });

  it('start together on an empty namespace and converge on one signing key: every instance serves the same JWKS', async () => {
    const active = instances.map((i) => i.keyProvider.ring.signingKey().kid);
    expect(new Set(active).size).toBe(1);
    const served = await Promise.all(instances.map(servedJwks));
    for (const jwks of served) {
      expect(jwks).toEqual(served[0]);
      expect(jwks.keys.map((k) => k.kid)).toEqual([active[0]]);
      expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'PS256', use: 'sig' });
      expect(Object.keys(jwks.keys[0]!)).not.toContain('d');
    }
    const keys = await Promise.all(instances.map((i) => i.keyProvider.getActiveKeys()));
    expect(keys.map((k) => k.kid)).toEqual(active);
    expect(keys.every((k) => k.alg === 'PS256' && k.privateKey.extractable === false && !('d' in k.privateJwk))).toBe(true);
  });

  it("its state JWTs are signed with the ring's active key and verify against the JWKS every instance serves", async () => {
    const active = instances[0]!.keyProvider.ring.signingKey().kid;
    const served = await Promise.all(instances.map(servedJwks));
    for (const instance of instances) {
      const state = await loginState(instance);
      expect(decodeProtectedHeader(state).alg).toBe('PS256'); // upstream sets no kid on state JWTs
      for (const jwks of served) {
        expect(await verifiesAgainst(state, jwks, { issuer: CLIENT_ID, audience: CLIENT_ID })).toMatchObject({ typ: 'STATE' });
      }
      // Signed with exactly the active key:
      await verifiesAgainst(state, { keys: served[0]!.keys.filter((k) => k.kid === active) });
    }
  });

  it('its client assertions are accepted by a real OpenID Provider that reads the JWKS round-robin from the instances, and verify against every JWKS', async () => {
    assertions.splice(0);
    for (const instance of instances) {
      const config = instance.connector.oidcConfig!;
      await expect(oidc.clientCredentialsGrant(config)).resolves.toMatchObject({ token_type: expect.stringMatching(/bearer/i) });
    }
    expect(nextInstance).toBeGreaterThan(0); // the provider fetched the JWKS from an instance
    expect(assertions).toHaveLength(3);
    const active = instances[0]!.keyProvider.ring.signingKey().kid;
    const served = await Promise.all(instances.map(servedJwks));
    for (const assertion of assertions) {
      expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'PS256', kid: active });
      for (const jwks of served) expect(await verifiesAgainst(assertion, jwks, { issuer: CLIENT_ID, audience: op.issuer })).toMatchObject({ sub: CLIENT_ID });
    }
  });

  it('a rotation on one instance reaches every connector: each re-reads its OpenID configuration with the new key (onActiveKeyUpdate)', async () => {
    const before = instances.map((i) => i.connector.oidcConfig);
    const { kid } = await instances[0]!.keyProvider.ring.rotate({ immediate: true });
    await until(() => instances.every((i, n) => i.connector.oidcConfig !== before[n]), 'every connector re-reading its configuration');
    for (const instance of instances) expect((await instance.keyProvider.getActiveKeys()).kid).toBe(kid);
    const served = await Promise.all(instances.map(servedJwks));
    for (const jwks of served) expect(jwks.keys.map((k) => k.kid)).toEqual([kid]); // immediate: the old key is gone
    for (const instance of instances) {
      const state = await loginState(instance);
      for (const jwks of served) await verifiesAgainst(state, jwks, { issuer: CLIENT_ID, audience: CLIENT_ID });
    }
  });
});

describe('kccKeyProvider', () => {
  it('with ring options but no kccClusterProvider, refuses with the fix in the message', async () => {
    await expect(kccKeyProvider({ keyEncryptionKey: KEK, env: {} })({})).rejects.toMatchObject({
      code: 'KCC_CONFIG_INVALID',
      message: expect.stringContaining('set clusterProvider: await kccClusterProvider(), or pass a started KeyRing'),
    });
  });
});
