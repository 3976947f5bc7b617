import type { Server } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import type { KccConnectionOptions, KccLogger, KeyRingOptions } from '../../../client/src/index.js';
import { type KccFastifyOptions, fastifyKcc } from '../../../client/src/fastify/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { close, listen } from '../../support/http.js';
import { startTestRedis } from '../../support/redis.js';
import { standIn } from '../../support/stand-in.js';
import { type RealmKey, realmKey } from '../../support/logout-tokens.js';

export const USER = 'shop-prod';
export const CLIENT_ID = 'shop';
export const KEY_RING: KeyRingOptions = { keyEncryptionKey: 'fastify-test-key-encryption-key-0123456789', env: {}, algorithm: 'ES256' };

/** Collects the client's log lines (kept off the console; tests can assert on them). */
export function recordingLogger(lines: string[] = []): KccLogger & { lines: string[] } {
  return {
    lines,
    info: (message) => lines.push(`info ${message}`),
    warn: (message) => lines.push(`warn ${message}`),
  };
}

export function connectionTo(server: LocalRedis, logger?: KccLogger): KccConnectionOptions {
  return { url: server.url, tls: { ca: server.ca }, username: USER, password: server.users.get(USER)!.password, env: {}, ...(logger ? { logger } : {}) };
}

/** The realm: one signing key, its JWKS served over loopback HTTP at Keycloak's path. */
export class TestRealm {
  fetches = 0;
  private constructor(
    readonly key: RealmKey,
    private readonly server: Server,
    readonly issuer: string,
  ) {}

  static async start(): Promise<TestRealm> {
    const key = await realmKey('realm-1', 'ES256');
    let realm: TestRealm | undefined;
    const { server, url } = await listen((_req, res) => {
      realm!.fetches += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    realm = new TestRealm(key, server, `${url}/realms/shop`);
    return realm;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}

/**
 * The file's Redis (app-env shop-prod, no persistence) and test realm, started together by a
 * `beforeAll` and stopped by an `afterAll` registered where this is called; what one start did not
 * fail to start is stopped when the other fails. Each returned object stands for its service once up.
 */
export function useRedisAndRealm(): { readonly server: LocalRedis; readonly realm: TestRealm } {
  let started: { server: LocalRedis; realm: TestRealm } | undefined;
  beforeAll(async () => {
    const [server, realm] = await Promise.allSettled([startTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' }), TestRealm.start()]);
    if (server.status === 'fulfilled' && realm.status === 'fulfilled') {
      started = { server: server.value, realm: realm.value };
      return;
    }
    // The start's failure is what the report must show, whatever stopping the other one does.
    await Promise.allSettled([server.status === 'fulfilled' && server.value.stop(), realm.status === 'fulfilled' && realm.value.stop()]);
    throw server.status === 'rejected' ? server.reason : (realm as PromiseRejectedResult).reason;
  });
  afterAll(async () => {
    const services = started;
    started = undefined;
    if (services) await Promise.all([services.server.stop(), services.realm.stop()]);
  });
  return { server: standIn('the Redis server', () => started?.server), realm: standIn('the test realm', () => started?.realm) };
}

/** Plugin options for the test realm and redis, with overrides. */
export function pluginOptions(server: LocalRedis, realm: TestRealm, overrides: Partial<KccFastifyOptions> = {}): KccFastifyOptions {
  const logger = recordingLogger();
  return {
    issuer: realm.issuer,
    clientId: CLIENT_ID,
    connection: connectionTo(server, logger),
    keyRing: KEY_RING,
    logger,
    ...overrides,
  };
}

/** A Fastify app with the plugin registered and ready; `setup` adds the app's own routes first. */
export async function appWith(options: KccFastifyOptions, setup?: (app: FastifyInstance) => unknown): Promise<FastifyInstance> {
  const app = Fastify();
  setup?.(app);
  await app.register(fastifyKcc, options);
  await app.ready();
  return app;
}

/** Connections of the app-env's user whose name contains `marker` (CLIENT LIST through the admin user). */
export async function connectionsNamed(server: LocalRedis, marker: string): Promise<number> {
  const admin = await server.admin();
  try {
    const list = (await admin.call('CLIENT', 'LIST')) as string;
    return list.split('\n').filter((line) => line.includes(`user=${USER}`) && line.includes(marker)).length;
  } finally {
    admin.disconnect();
  }
}

/** Expects `expected` such connections; the server drops one just after answering its QUIT, so it is allowed a moment (bounded), without sleeping. */
export async function expectConnections(server: LocalRedis, marker: string, expected: number): Promise<void> {
  const deadline = performance.now() + 5_000;
  let count = await connectionsNamed(server, marker);
  while (count !== expected && performance.now() < deadline) count = await connectionsNamed(server, marker);
  expect(count, `connections named ${marker}`).toBe(expected);
}
