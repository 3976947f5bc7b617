import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  type AclProfile,
  type AppEnv,
  appEnvAccessString,
  appEnvUserName,
  defaultUserAccessString,
  keyPrefix,
} from '../../client/src/naming.js';
import { type TlsMaterial, createTlsMaterial } from './tls-material.js';

/**
 * Stands in for the ElastiCache control plane (ModifyUser): tests and the local CLI change
 * passwords and kill connections through it. It exists only locally; the stack creates no such user.
 */
export const LOCAL_ADMIN_USER = 'kcc-local-admin';

export interface LocalRedisOptions {
  /** Folder for config, ACL file, TLS material, data and log. */
  readonly dir: string;
  /** App-envs that get a Redis user each, with the stack's access string. */
  readonly appEnvs: readonly AppEnv[];
  /** @default 'guide' */
  readonly aclProfile?: AclProfile;
  /** Grant CLUSTER SLOTS as the stack does in cluster mode. @default false */
  readonly clusterMode?: boolean;
  /** TLS port on 127.0.0.1. @default a free port */
  readonly port?: number;
  /** 'aof' (fsync on every write) keeps data across kill/restart. @default 'aof' */
  readonly persistence?: 'aof' | 'none';
  /** Passwords by user name; others are generated (64 alphanumeric characters). */
  readonly passwords?: Readonly<Record<string, string>>;
  /** Passwords of the default and local admin users (a cluster's nodes share them). @default generated */
  readonly adminPassword?: string;
  readonly defaultUserPassword?: string;
  /** Folder of the TLS material (a cluster's nodes share it). @default `<dir>/tls` */
  readonly tlsDir?: string;
  /** Run as a cluster node (`cluster-enabled yes`, TLS on the cluster bus). @default false */
  readonly clusterNode?: boolean;
  /** How long to wait for "Ready to accept connections". @default 10000 */
  readonly startTimeoutMs?: number;
}

export interface LocalRedisUser {
  readonly username: string;
  readonly password: string;
  readonly keyPrefix: string;
  readonly accessString: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A real redis-server configured like the stack's ElastiCache: TLS only (plaintext port off),
 * the default user off, one ACL user per app-env with the access string from the naming module.
 *
 * @example
 * const redis = await LocalRedis.start({ dir: '.kcc-local', appEnvs: [{ app: 'my-app', env: 'dev' }] });
 * console.log(redis.envLines({ app: 'my-app', env: 'dev' }).join('\n'));
 * await redis.stop();
 */
export class LocalRedis {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly tls: TlsMaterial;
  readonly adminPassword: string;
  /** Password of the (disabled) default user: logins with it must fail. */
  readonly defaultUserPassword: string;
  private readonly userMap: Map<string, LocalRedisUser>;
  private process: ChildProcess | undefined;

  private constructor(
    private readonly options: LocalRedisOptions,
    port: number,
    tls: TlsMaterial,
    users: Map<string, LocalRedisUser>,
    adminPassword: string,
    defaultUserPassword: string,
    private readonly configFile: string,
  ) {
    this.defaultUserPassword = defaultUserPassword;
    this.port = port;
    this.tls = tls;
    this.userMap = users;
    this.adminPassword = adminPassword;
  }

  /** Writes TLS material, ACL file and config into `options.dir`, starts the server and waits until it is ready. */
  static async start(options: LocalRedisOptions): Promise<LocalRedis> {
    const dir = options.dir;
    await mkdir(join(dir, 'data'), { recursive: true });
    const tls = await createTlsMaterial(options.tlsDir ?? join(dir, 'tls'));
    const port = options.port || (await freePort());
    const users = new Map<string, LocalRedisUser>();
    for (const appEnv of options.appEnvs) {
      const username = appEnvUserName(appEnv);
      users.set(username, {
        username,
        password: options.passwords?.[username] ?? randomPassword(),
        keyPrefix: keyPrefix(appEnv),
        accessString: appEnvAccessString(appEnv, { profile: options.aclProfile, clusterMode: options.clusterMode }),
      });
    }
    const adminPassword = options.adminPassword ?? randomPassword();
    const defaultUserPassword = options.defaultUserPassword ?? randomPassword();
    const acl = [
      `user default ${defaultUserAccessString(false)} >${defaultUserPassword}`,
      `user ${LOCAL_ADMIN_USER} on ~* &* +@all >${adminPassword}`,
      ...[...users.values()].map((u) => `user ${u.username} ${u.accessString} >${u.password}`),
    ];
    await writeFile(join(dir, 'users.acl'), `${acl.join('\n')}\n`, { mode: 0o600 });
    const aof = (options.persistence ?? 'aof') === 'aof';
    const config = [
      'bind 127.0.0.1',
      'protected-mode yes',
      'port 0',
      `tls-port ${port}`,
      `tls-cert-file ${tls.certFile}`,
      `tls-key-file ${tls.keyFile}`,
      `tls-ca-cert-file ${tls.caFile}`,
      'tls-auth-clients no',
      `aclfile ${join(dir, 'users.acl')}`,
      `dir ${join(dir, 'data')}`,
      'save ""',
      `appendonly ${aof ? 'yes' : 'no'}`,
      'appendfsync always',
      'daemonize no',
      'logfile ""',
      ...(options.clusterNode
        ? ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'tls-cluster yes', 'tls-replication yes', `masteruser ${LOCAL_ADMIN_USER}`, `masterauth ${adminPassword}`]
        : []),
    ];
    const configFile = join(dir, 'redis.conf');
    await writeFile(configFile, `${config.join('\n')}\n`, { mode: 0o600 });
    const server = new LocalRedis(options, port, tls, users, adminPassword, defaultUserPassword, configFile);
    await server.launch();
    return server;
  }

  /** `rediss://127.0.0.1:<port>` */
  get url(): string {
    return `rediss://${this.host}:${this.port}`;
  }

  /** The CA certificate (PEM) to trust. */
  get ca(): string {
    return this.tls.ca;
  }

  /** App-env users by user name. */
  get users(): ReadonlyMap<string, LocalRedisUser> {
    return this.userMap;
  }

  /** Process id of the running server, or undefined when stopped. */
  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void> {
    return this.terminate('SIGTERM');
  }

  /** Kills the server (SIGKILL), as a crash would, and waits for it to exit. */
  kill(): Promise<void> {
    return this.terminate('SIGKILL');
  }

  /** Starts the server again on the same port, with the same users and data. */
  async restart(): Promise<void> {
    if (this.process) await this.stop();
    await this.launch();
  }

  /** Replaces a user's passwords (ElastiCache's ModifyUser): `ACL SETUSER <user> resetpass >p1 >p2`. */
  async setPasswords(username: string, passwords: readonly string[]): Promise<void> {
    const user = this.userMap.get(username);
    if (!user) throw new TypeError(`no local user "${username}"; known: ${[...this.userMap.keys()].join(', ')}`);
    const admin = await this.admin();
    try {
      await admin.call('ACL', 'SETUSER', username, 'resetpass', ...passwords.map((p) => `>${p}`));
    } finally {
      await admin.quit();
    }
    this.userMap.set(username, { ...user, password: passwords[passwords.length - 1] ?? user.password });
  }

  /** A connected client authenticated as the local admin user (the caller quits it). */
  async admin(): Promise<Redis> {
    const client = new Redis({
      host: this.host,
      port: this.port,
      tls: { ca: this.ca, servername: 'localhost' },
      username: LOCAL_ADMIN_USER,
      password: this.adminPassword,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      protocol: 2,
    });
    await client.connect();
    return client;
  }

  /** The environment lines an app-env's instances need to reach this server. */
  envLines(appEnv: AppEnv): string[] {
    const user = this.userMap.get(appEnvUserName(appEnv));
    if (!user) throw new TypeError(`no local user for app "${appEnv.app}" env "${appEnv.env}"`);
    return [
      `KCC_REDIS_URL=${this.url}`,
      `KCC_REDIS_USERNAME=${user.username}`,
      `KCC_REDIS_PASSWORD=${user.password}`,
      `KCC_REDIS_PREFIX=${user.keyPrefix}`,
      `KCC_REDIS_CA_FILE=${this.tls.caFile}`,
    ];
  }

  private launch(): Promise<void> {
    const child = spawn('redis-server', [this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    running.add(child);
    const log: string[] = [];
    const timeoutMs = this.options.startTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`redis-server on port ${this.port} ${why}. Last log lines:\n${log.slice(-15).join('\n')}`));
      };
      const timer = setTimeout(() => fail(`was not ready after ${timeoutMs} ms`), timeoutMs);
      const onData = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim()) log.push(line);
          if (line.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
          if (line.includes('Address already in use')) fail('could not bind: address already in use');
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (error) => fail(`could not start (${error.message}); is redis-server (>= 7) installed?`));
      child.once('exit', (code, signal) => {
        running.delete(child);
        if (this.process === child) this.process = undefined;
        fail(`exited (code ${code}, signal ${signal})`);
      });
    });
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }
}

/** A free TCP port on 127.0.0.1 (asks the OS for one, then releases it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric password (rejection sampling keeps every character equally likely). */
export function randomPassword(length = 64): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62];
    }
  }
  return out;
}
