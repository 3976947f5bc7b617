import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import {
  type AclProfile,
  type AppEnv,
  appEnvAccessString,
  appEnvUserName,
  defaultUserAccessString,
  keyPrefix,
} from '@kcc-redis/client/contract';
import { type DirLock, lockDir } from './dir-lock.js';
import { freePort, passwordProblem, randomPassword } from './local-util.js';
import { AddressInUseError, startRedisProcess, stopRedisProcess } from './redis-process.js';
import { type TlsMaterial, createTlsMaterial } from './tls-material.js';

export { freePort, randomPassword } from './local-util.js';

/**
 * Stands in for the ElastiCache control plane (ModifyUser): tests and the local CLI change
 * passwords and kill connections through it. It exists only locally; the stack creates no such user.
 */
export const LOCAL_ADMIN_USER = 'kcc-local-admin';

/** Options of {@link LocalRedis.start}. */
export interface LocalRedisOptions {
  /** Folder for config, ACL file, TLS material, data and log. */
  readonly dir: string;
  /** App-envs that get a Redis user each, with the stack's access string. */
  readonly appEnvs: readonly AppEnv[];
  /** @default 'guide' */
  readonly aclProfile?: AclProfile;
  /** Grant CLUSTER SLOTS as the stack does in cluster mode. @default false */
  readonly clusterMode?: boolean;
  /** TLS port on 127.0.0.1; 0 or absent picks a free one. @default a free port */
  readonly port?: number;
  /** 'aof' (fsync on every write) keeps data across kill/restart. @default 'aof' */
  readonly persistence?: 'aof' | 'none';
  /** Passwords by user name; others are generated (64 alphanumeric characters). */
  readonly passwords?: Readonly<Record<string, string>>;
  /** Password of the local admin user (a cluster's nodes share it). @default generated */
  readonly adminPassword?: string;
  /** Password of the default user, which is off: logins with it fail. @default generated */
  readonly defaultUserPassword?: string;
  /** Folder of the TLS material (a cluster's nodes share it). @default `<dir>/tls` */
  readonly tlsDir?: string;
  /** Run as a cluster node (`cluster-enabled yes`, TLS on the cluster bus). @default false */
  readonly clusterNode?: boolean;
  /**
   * A cluster node's `cluster-node-timeout`: a primary unreachable this long is failed over to its
   * replica within a few seconds more. When set, a replica's full sync also starts at once
   * (`repl-diskless-sync-delay 0`): for tests that lose nodes. @default Redis' own (15000, 5 s sync delay)
   */
  readonly clusterNodeTimeoutMs?: number;
  /** How long to wait for "Ready to accept connections". @default 10000 */
  readonly startTimeoutMs?: number;
  /**
   * Variables added to the server's environment. Redis takes its collation from it (`LC_COLLATE`,
   * which Lua's string comparisons follow): tests run a server under another locale this way.
   * @default none
   */
  readonly env?: Readonly<Record<string, string>>;
}

/** An app-env's Redis user on the local server. */
export interface LocalRedisUser {
  readonly username: string;
  /** The user's current password (the last one given to {@link LocalRedis.setPasswords}). */
  readonly password: string;
  readonly keyPrefix: string;
  readonly accessString: string;
}

/**
 * A real redis-server configured like the stack's ElastiCache: TLS only (plaintext port off,
 * loopback only), the default user off, one ACL user per app-env with the access string from the
 * naming module, plus the local-only control user {@link LOCAL_ADMIN_USER}.
 *
 * @example
 * const redis = await LocalRedis.start({ dir: '.kcc-local', appEnvs: [{ app: 'my-app', env: 'dev' }] });
 * const env = redis.environment({ app: 'my-app', env: 'dev' }); // KCC_REDIS_URL, …
 * await redis.stop();
 */
export class LocalRedis {
  readonly host = '127.0.0.1';
  readonly port: number;
  readonly tls: TlsMaterial;
  /** Password of the local control user {@link LOCAL_ADMIN_USER}. */
  readonly adminPassword: string;
  /** Password of the (disabled) default user: logins with it must fail. */
  readonly defaultUserPassword: string;
  /** The server's output, appended across restarts. */
  readonly logFile: string;
  private readonly userMap: Map<string, LocalRedisUser>;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly options: LocalRedisOptions,
    port: number,
    tls: TlsMaterial,
    users: Map<string, LocalRedisUser>,
    adminPassword: string,
    defaultUserPassword: string,
    private readonly configFile: string,
    private readonly lock: DirLock,
  ) {
    this.port = port;
    this.tls = tls;
    this.userMap = users;
    this.adminPassword = adminPassword;
    this.defaultUserPassword = defaultUserPassword;
    this.logFile = join(resolve(options.dir), 'redis.log');
  }

  /**
   * Locks `options.dir` for this server (until {@link stop}), writes TLS material, ACL file and
   * config into it, starts the server and resolves once it logs "Ready to accept connections".
   *
   * @throws LocalDirBusyError when another running server uses the folder; Error with the tail of
   *   the server log when it exits, cannot bind or is not ready in time.
   */
  static async start(options: LocalRedisOptions): Promise<LocalRedis> {
    const dir = resolve(options.dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lock = await lockDir(dir);
    try {
      return await LocalRedis.startLocked(options, dir, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  private static async startLocked(options: LocalRedisOptions, dir: string, lock: DirLock): Promise<LocalRedis> {
    const users = new Map<string, LocalRedisUser>();
    for (const appEnv of options.appEnvs) {
      const username = appEnvUserName(appEnv);
      users.set(username, {
        username,
        password: checkedPassword(username, options.passwords?.[username] ?? randomPassword()),
        keyPrefix: keyPrefix(appEnv),
        accessString: appEnvAccessString(appEnv, { profile: options.aclProfile, clusterMode: options.clusterMode }),
      });
    }
    const adminPassword = checkedPassword(LOCAL_ADMIN_USER, options.adminPassword ?? randomPassword());
    const defaultUserPassword = checkedPassword('default', options.defaultUserPassword ?? randomPassword());
    await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
    const tls = await createTlsMaterial(resolve(options.tlsDir ?? join(dir, 'tls')));
    const aclFile = join(dir, 'users.acl');
    const acl = [
      `user default ${defaultUserAccessString(false)} >${defaultUserPassword}`,
      `user ${LOCAL_ADMIN_USER} on ~* &* +@all >${adminPassword}`,
      ...[...users.values()].map((u) => `user ${u.username} ${u.accessString} >${u.password}`),
    ];
    await writeFile(aclFile, `${acl.join('\n')}\n`, { mode: 0o600 });

    // A free port can be taken by someone else before redis-server binds it: pick another then.
    const attempts = options.port ? 1 : 3;
    for (let attempt = 1; ; attempt++) {
      const port = options.port || (await freePort());
      const configFile = join(dir, 'redis.conf');
      await writeFile(configFile, `${serverConfig(options, dir, port, tls, aclFile, adminPassword).join('\n')}\n`, { mode: 0o600 });
      const server = new LocalRedis(options, port, tls, users, adminPassword, defaultUserPassword, configFile, lock);
      try {
        await server.launch();
        await lock.describe(server.url);
        return server;
      } catch (error) {
        if (attempt >= attempts || !(error instanceof AddressInUseError)) throw error;
      }
    }
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
    return this.child?.pid;
  }

  /** Stops the server (SIGTERM; SIGKILL after 10 s), waits for it to exit and releases the folder. */
  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    await this.lock.release();
  }

  /** Kills the server (SIGKILL), as a crash would, and waits for it to exit; the folder stays locked (see {@link restart}). No-op when stopped. */
  kill(): Promise<void> {
    return this.terminate('SIGKILL');
  }

  /** Starts the server again on the same port with the same config, users and data (stops it first if running). */
  async restart(): Promise<void> {
    await this.terminate('SIGTERM'); // not this.stop(): a wrapper's stop() may also remove files
    await this.launch();
  }

  /**
   * Replaces a user's passwords, as ElastiCache's ModifyUser does: `ACL SETUSER <user> resetpass >p1 >p2 …`
   * through the admin user. Connections already authenticated stay authenticated.
   */
  async setPasswords(username: string, passwords: readonly string[]): Promise<void> {
    const user = this.userMap.get(username);
    if (!user) throw new TypeError(`no local user "${username}"; known: ${[...this.userMap.keys()].join(', ')}`);
    const last = passwords[passwords.length - 1];
    if (last === undefined) throw new TypeError(`setPasswords("${username}") needs at least one password`);
    for (const password of passwords) checkedPassword(username, password);
    const admin = await this.admin();
    try {
      await admin.call('ACL', 'SETUSER', username, 'resetpass', ...passwords.map((p) => `>${p}`));
      await admin.call('ACL', 'SAVE'); // so that restart() keeps the new passwords
    } finally {
      await admin.quit();
    }
    this.userMap.set(username, { ...user, password: last });
  }

  /** A connected client authenticated as the local admin user over TLS (the caller quits it). */
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

  /** The connection variables an app-env's instances need to reach this server (the password included: write them to an owner-only file, never print them). */
  environment(appEnv: AppEnv): Record<string, string> {
    const user = this.userMap.get(appEnvUserName(appEnv));
    if (!user) throw new TypeError(`no local user for app "${appEnv.app}" env "${appEnv.env}"`);
    return {
      KCC_REDIS_URL: this.url,
      KCC_REDIS_USERNAME: user.username,
      KCC_REDIS_PASSWORD: user.password,
      KCC_REDIS_PREFIX: user.keyPrefix,
      KCC_REDIS_CA_FILE: this.tls.caFile,
    };
  }

  /** Starts redis-server with this config and waits until it accepts connections. */
  private async launch(): Promise<void> {
    this.child = await startRedisProcess({
      configFile: this.configFile,
      logFile: this.logFile,
      label: `port ${this.port}`,
      timeoutMs: this.options.startTimeoutMs ?? 10_000,
      env: this.options.env,
      onExit: (child) => {
        if (this.child === child) this.child = undefined;
      },
    });
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    if (this.child) await stopRedisProcess(this.child, signal);
  }
}

function checkedPassword(username: string, password: string): string {
  const problem = passwordProblem(password);
  if (problem) throw new TypeError(`password of local user "${username}" ${problem}`);
  return password;
}

/**
 * `value` as one argument of a redis.conf line. redis-server splits each line as sdssplitargs does
 * (redis src/sds.c): unquoted, a space ends an argument (a --dir with a space made "wrong number of
 * arguments") and a leading quote opens a quoted one; in double quotes a backslash escapes the next
 * character and `\xHH` is a byte. So: in double quotes, `\` and `"` escaped, control characters as
 * `\xHH` (a line break would end the line); other characters, UTF-8 included, as they are.
 */
function configString(value: string): string {
  const escaped = value.replace(/[\\"]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${escaped}"`;
}

function serverConfig(options: LocalRedisOptions, dir: string, port: number, tls: TlsMaterial, aclFile: string, adminPassword: string): string[] {
  const aof = (options.persistence ?? 'aof') === 'aof';
  return [
    'bind 127.0.0.1',
    'protected-mode yes',
    'port 0', // no plaintext listener: TLS only, as with transit encryption mode "required"
    `tls-port ${port}`,
    `tls-cert-file ${configString(tls.certFile)}`,
    `tls-key-file ${configString(tls.keyFile)}`,
    `tls-ca-cert-file ${configString(tls.caFile)}`,
    'tls-auth-clients no',
    // As on ElastiCache, not as the open-source default (resetchannels): a user's channels start as
    // every channel, so an access string needs `resetchannels` before its `&` pattern. ElastiCache's
    // parameter groups default acl-pubsub-default to allchannels
    // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html) and
    // serverless fixes it at allchannels (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RedisConfiguration.html).
    'acl-pubsub-default allchannels',
    `aclfile ${configString(aclFile)}`,
    `dir ${configString(join(dir, 'data'))}`,
    'save ""',
    `appendonly ${aof ? 'yes' : 'no'}`,
    'appendfsync always',
    'daemonize no',
    'logfile ""',
    ...(options.clusterNode
      ? ['cluster-enabled yes', 'cluster-config-file nodes.conf', 'tls-cluster yes', 'tls-replication yes', `masteruser ${LOCAL_ADMIN_USER}`, `masterauth ${configString(adminPassword)}`]
      : []),
    ...(options.clusterNode && options.clusterNodeTimeoutMs !== undefined
      ? [`cluster-node-timeout ${options.clusterNodeTimeoutMs}`, 'repl-diskless-sync-delay 0']
      : []),
  ];
}
