/**
 * A review of input validation: options of the Fastify plugin that failed with another error than a
 * KccConfigError naming them (L1: `redis: { x: 1 }` → "Cannot read properties of undefined (reading
 * 'logger')"; `backchannelLogout.acceptedTypes: 'JWT'` → "acceptedTypes.map is not a function"; L8:
 * two routes at one path → Fastify's FST_ERR_DUPLICATED_ROUTE, naming no option; M5:
 * `realmKeys.jwks` a key set, taken, then every logout 503). Each is refused before anything
 * connects, in one KccConfigError naming the option as given to the plugin.
 */
import { type AddressInfo, type Socket, createServer } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { KccConfigError } from '../../../client/src/index.js';
import { type KccFastifyOptions, fastifyKcc } from '../../../client/src/fastify/index.js';

const BASE = { issuer: 'https://sso.example.test/realms/shop', clientId: 'shop' } as const;

/** The problems of the KccConfigError registration fails with (no Redis is reachable: nothing may connect first). */
async function problemsOf(options: Partial<KccFastifyOptions> | Record<string, unknown>): Promise<readonly string[]> {
  const app = Fastify();
  try {
    await app.register(fastifyKcc, { ...BASE, connection: { url: 'rediss://127.0.0.1:1', connectTimeoutMs: 1 }, keyRing: { keyEncryptionKey: 'k'.repeat(64) }, ...options } as KccFastifyOptions).ready();
  } catch (error) {
    expect(error).toBeInstanceOf(KccConfigError);
    return (error as KccConfigError).problems;
  } finally {
    await app.close().catch(() => undefined);
  }
  throw new Error('expected registration to fail');
}

describe('the Fastify plugin refuses, naming the option', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['redis that is not a KccRedis', { redis: { x: 1 }, connection: undefined }, /^redis: an object, not a KccRedis connection; give redis: await KccRedis\.connect\(…\), or leave it out/],
    ['redis as a string', { redis: 'rediss://127.0.0.1:6379', connection: undefined }, /^redis: a string, not a KccRedis connection/],
    ['realmKeys.jwks a key set', { realmKeys: { jwks: { keys: [] } } }, /^realmKeys\.jwks: a key set \(\{ keys: \[\.\.\.\] \}\), not a key getter; pass createLocalJWKSet\(jwks\)/],
    ['backchannelLogout.acceptedTypes a string', { backchannelLogout: { acceptedTypes: 'JWT' } }, /^backchannelLogout\.acceptedTypes: "JWT" is a string, not a list; give \["JWT"\]/],
    ['backchannelLogout.acceptedTypes with a number', { backchannelLogout: { acceptedTypes: [5] } }, /^backchannelLogout\.acceptedTypes: 5 is not a "typ" value/],
    ['a Keycloak issuer ending with "/"', { issuer: 'https://sso.example.test/realms/shop/' }, /^issuer: "https:\/\/sso\.example\.test\/realms\/shop\/" ends with "\/"/],
    ['routes.jwks = routes.health', { routes: { jwks: '/keys', health: '/keys' } }, /^routes\.jwks, routes\.health: both mount GET "\/keys"; give each route a path of its own$/],
    ['routes.health: true at the JWKS route\'s path', { routes: { jwks: '/.well-known/kcc-health', health: true } }, /^routes\.jwks, routes\.health: both mount GET "\/\.well-known\/kcc-health"/],
    ['the logout route at k_logout (adminUrlPath "/")', { routes: { backchannelLogout: '/k_logout' }, keycloakAdmin: { enabled: true, adminUrlPath: '/' } }, /^routes\.backchannelLogout, keycloakAdmin\.adminUrlPath \(k_logout\): both mount POST "\/k_logout"; give each route a path of its own$/],
    ['the logout route at k_push_not_before (the default adminUrlPath)', { routes: { backchannelLogout: '/k_push_not_before' }, keycloakAdmin: { enabled: true } }, /^routes\.backchannelLogout, keycloakAdmin\.adminUrlPath \(k_push_not_before\): both mount POST "\/k_push_not_before"/],
  ])('%s', async (_name, options, message) => {
    expect(await problemsOf(options)).toEqual([expect.stringMatching(message)]);
  });

  it('routes at one path with different methods, or unmounted, do not clash', async () => {
    // The options pass the checks: what fails is the start (no Redis at port 1), not a route clash.
    const app = Fastify();
    const registering = app.register(fastifyKcc, {
      ...BASE,
      connection: { url: 'rediss://127.0.0.1:1', connectTimeoutMs: 1, username: 'a-prod', password: 'p', keyPrefix: 'a-prod:' },
      routes: { jwks: '/kcc', backchannelLogout: '/kcc', health: false },
      keycloakAdmin: { enabled: false, adminUrlPath: '/' },
      keyRing: { keyEncryptionKey: 'k'.repeat(64) },
      logger: { info: () => {}, warn: () => {} },
    }).ready();
    const error = await registering.then(() => undefined, (e: unknown) => e);
    await app.close().catch(() => undefined);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(KccConfigError);
    expect(String((error as Error).message)).not.toMatch(/both mount|DUPLICATED_ROUTE/);
  });
});

describe('the key ring\'s and the revocations\' own options are checked with the plugin\'s, before anything connects or is read', () => {
  it('one KccConfigError names every problem; the Redis address is never dialled and the key-encryption-key source never called', async () => {
    // A plain TCP listener at the connection's address: it counts the connections it is offered.
    const accepted: Socket[] = [];
    const server = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    let providerCalls = 0;
    try {
      const problems = await problemsOf({
        connection: { url: `rediss://127.0.0.1:${port}`, connectTimeoutMs: 2_000, username: 'a-prod', password: 'p', keyPrefix: 'a-prod:' },
        keyRing: {
          algorithm: 'HS256',
          keyEncryptionKeyProvider: async () => {
            providerCalls += 1;
            return { kek: 'k'.repeat(64) };
          },
        },
        // A string 'false' (process.env.X) read as true would let a stale instance accept every token.
        revocations: { failOpen: 'false', closeTimeoutMs: -1 },
        backchannelLogout: { maxTokenAgeMs: -5 },
      });
      expect(problems).toEqual([
        expect.stringMatching(/^backchannelLogout\.maxTokenAgeMs: -5 must be/),
        expect.stringMatching(/^keyRing\.algorithm: "HS256" must be one of /),
        expect.stringMatching(/^revocations\.failOpen: "false" must be true or false/),
        expect.stringMatching(/^revocations\.closeTimeoutMs: -1 must be/),
      ]);
      expect(accepted).toHaveLength(0);
      expect(providerCalls).toBe(0);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('an environment variable\'s problem keeps its own name (not keyRing.-prefixed), also one that names two', async () => {
    const problems = await problemsOf({ keyRing: { env: { KCC_KEYRING_KEK: 'short' } } });
    expect(problems).toEqual([expect.stringMatching(/^KCC_KEYRING_KEK: must be at least \d+ characters \(has 5\)$/)]);
    const both = await problemsOf({ keyRing: { env: { KCC_KEYRING_KEK: 'k'.repeat(64), KCC_KEYRING_KEK_SECRET_ID: 'kcc-redis/shop-prod/kek' } } });
    expect(both).toEqual([expect.stringMatching(/^KCC_KEYRING_KEK, KCC_KEYRING_KEK_SECRET_ID: both are set; unset one/)]);
  });
});
