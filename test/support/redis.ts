import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { KccConnectionOptions, KccRedis } from '../../client/src/index.js';
import type { RedisClient } from '../../client/src/redis-client.js';
import { namespacedSideKey } from '../../client/src/contract/naming.js';
import { LocalRedis, type LocalRedisOptions } from '../../local/local-redis.js';
import { standIn } from './stand-in.js';

/**
 * A LocalRedis in a fresh folder under the OS temp dir; `stop()` also removes the folder
 * (`kill()` + `restart()` keep it, for restart tests).
 */
export async function startTestRedis(options: Omit<LocalRedisOptions, 'dir'>): Promise<LocalRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'kcc-redis-test-'));
  let server: LocalRedis;
  try {
    server = await LocalRedis.start({ ...options, dir });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const stop = server.stop.bind(server);
  server.stop = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  return server;
}

/**
 * The test file's Redis: started by a `beforeAll`, stopped by an `afterAll`, both registered where
 * this is called (at the file's top level, or in a `describe`). The returned object stands for the
 * server once it is up ({@link standIn}).
 */
export function useTestRedis(options: Omit<LocalRedisOptions, 'dir'>): LocalRedis {
  let started: LocalRedis | undefined;
  beforeAll(async () => {
    started = await startTestRedis(options);
  });
  afterAll(async () => {
    const server = started;
    started = undefined;
    await server?.stop();
  });
  return standIn('useTestRedis', () => started);
}

/** Options of {@link connectAs}. */
export interface ConnectAsOptions {
  /** @default the user's current password on the server */
  readonly password?: string;
  /** Connect without AUTH (username and password are ignored): ready check off, nothing sent first. */
  readonly anonymous?: boolean;
  /** ioredis' ready check (INFO after AUTH, waiting out a server that loads its dataset). @default true, false when anonymous */
  readonly readyCheck?: boolean;
}

/** Runs `use` with a connection as the server's admin user (ACL and keys beyond any app-env's grants), closed after. */
export async function asAdmin<T>(server: LocalRedis, use: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = await server.admin();
  try {
    return await use(admin);
  } finally {
    admin.disconnect();
  }
}

/**
 * A raw ioredis client over TLS (trusting the server's CA, servername `localhost`) authenticated
 * as `username`: RESP2, no retries, no offline queue, no reconnect, so that truth-table checks see
 * every error as the server sent it. The caller quits or disconnects it.
 */
export async function connectAs(server: LocalRedis, username: string, options: ConnectAsOptions = {}): Promise<Redis> {
  const client = new Redis({
    host: server.host,
    port: server.port,
    tls: { ca: server.ca, servername: 'localhost' },
    ...(options.anonymous ? {} : { username, password: options.password ?? server.users.get(username)?.password }),
    enableReadyCheck: options.readyCheck ?? !options.anonymous,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    protocol: 2,
  });
  client.on('error', () => {}); // errors surface as rejected commands; keep them off the console
  await client.connect();
  return client;
}

/**
 * Client options for an app-env user of a local server: TLS trusting its CA, the user's current
 * password, no environment. `extra` overrides (e.g. another url through a proxy).
 */
export function kccOptions(server: LocalRedis, username: string, extra: KccConnectionOptions = {}): KccConnectionOptions {
  return { url: server.url, tls: { ca: server.ca }, username, password: server.users.get(username)?.password, env: {}, ...extra };
}

/** The side keys of `kind` in namespace `prefix` ({@link namespacedSideKey}), asked as the admin: SCAN is not in the app users' grants. */
export async function sideKeys(server: LocalRedis, prefix: string, kind: string): Promise<string[]> {
  const admin = await server.admin();
  try {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', namespacedSideKey(prefix, kind, '*'), 'COUNT', 1_000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found;
  } finally {
    await admin.quit();
  }
}

/** How often the server behind `client` ran `command` so far (`INFO commandstats`, commands run by scripts included). */
export async function commandCalls(client: Redis, command: string): Promise<number> {
  const info = await client.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/**
 * Bytes the server behind `server` has sent to all its clients so far (`INFO stats`
 * `total_net_output_bytes`, read on an admin connection of its own): what a test compares before and
 * after to show a large value never reached a client.
 */
export async function serverSentBytes(server: { admin(): Promise<Redis> }): Promise<number> {
  const admin = await server.admin();
  try {
    return Number(/^total_net_output_bytes:(\d+)/m.exec(await admin.info('stats'))?.[1]);
  } finally {
    admin.disconnect();
  }
}

/**
 * Routes every `command` (an ioredis method name, e.g. `zscan`) that `redis` sends through
 * {@link KccRedis.run} through `hook`, which gets the command's arguments and sends it with `send`
 * (or not): a fault injected at an exact point of a client's sequence of commands.
 */
export function interceptCommand(redis: KccRedis, command: string, hook: (args: unknown[], send: () => Promise<unknown>) => Promise<unknown>): void {
  const run = redis.run.bind(redis);
  redis.run = <T>(operation: (client: RedisClient) => Promise<T>) =>
    run((client) =>
      operation(new Proxy(client, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          if (typeof value !== 'function') return value;
          if (property !== command) return value.bind(target);
          return (...args: unknown[]) => hook(args, () => value.apply(target, args) as Promise<unknown>);
        },
      })),
    );
}

/**
 * Routes every run of the Lua script `lua` that `redis` sends through {@link KccRedis.run} (EVALSHA,
 * or its text through EVAL, EVAL_RO, `call` or `callBuffer`) through `hook`, which gets the script's
 * keys and arguments and sends it with `send` (or not): {@link interceptCommand} for a read the client
 * runs in a script.
 */
export function interceptScript(redis: KccRedis, lua: string, hook: (keys: unknown[], args: unknown[], send: () => Promise<unknown>) => Promise<unknown>): void {
  const sha = createHash('sha1').update(lua).digest('hex');
  // args: [script or sha, number of keys, ...keys, ...arguments], from `at`.
  const route = (args: unknown[], at: number, send: () => Promise<unknown>) => {
    const keys = Number(args[at + 1]);
    return hook(args.slice(at + 2, at + 2 + keys), args.slice(at + 2 + keys), send);
  };
  interceptCommand(redis, 'evalsha', (args, send) => (args[0] === sha ? route(args, 0, send) : send()));
  interceptCommand(redis, 'eval', (args, send) => (args[0] === lua ? route(args, 0, send) : send()));
  for (const method of ['call', 'callBuffer']) {
    interceptCommand(redis, method, (args, send) => (/^EVAL(_RO)?$/i.test(String(args[0])) && args[1] === lua ? route(args, 1, send) : send()));
  }
}

/**
 * Lua: the log stream KEYS[1] as a replica that never got its newest entry holds it after a failover
 * (asynchronous replication): that entry gone, and its count of entries ever added one lower. The
 * caller's script goes on from there.
 */
export const LUA_LOSE_NEWEST_ENTRY = `
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 2)
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added
for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
redis.call('XDEL', KEYS[1], newest[1][1])
redis.call('XSETID', KEYS[1], newest[2][1], 'ENTRIESADDED', added - 1)
`;

/**
 * Runs `during` with `username`'s keys made read-only (`%R` on each of its key patterns): reads still
 * work, every write is refused with NOPERM. The user's patterns are put back afterwards, whatever happens.
 */
export async function withReadOnlyKeys<T>(admin: Redis, username: string, during: () => Promise<T>): Promise<T> {
  const acl = (await admin.call('ACL', 'GETUSER', username)) as unknown[];
  const patterns = String(acl[acl.indexOf('keys') + 1]).split(' ');
  await admin.call('ACL', 'SETUSER', username, 'resetkeys', ...patterns.map((pattern) => `%R${pattern}`));
  try {
    return await during();
  } finally {
    await admin.call('ACL', 'SETUSER', username, 'resetkeys', ...patterns);
  }
}
