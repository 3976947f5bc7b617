import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type AppEnv, type KeyEncryptionKeySecret, KEK_SECRET_VERSION, appEnvUserName } from '@kcc-redis/client/contract';
import type { KccConfig } from '../infra/config.js';
import { assertDirNotLocked } from './dir-lock.js';
import { LOCAL_ADMIN_USER, LocalRedis } from './local-redis.js';
import { type LocalAppEnvState, LOCAL_STATE_FILE, LOCAL_STATE_VERSION, readPreviousSecrets, writeLocalState, writeOwnerOnly } from './local-state.js';
import { portIsFree, randomPassword } from './local-util.js';
import { envFileQuote, envFileValueProblem, shellQuote } from './shell-quote.js';

/** Options of {@link runLocal}. */
export interface RunLocalOptions {
  readonly config: KccConfig;
  /** Folder for the server's files. @default '.kcc-local' */
  readonly dir?: string;
  /** TLS port; 0 picks a free one. @default the config's port */
  readonly port?: number;
  /** Where to print. @default process.stdout */
  readonly print?: (line: string) => void;
}

/** The line {@link runLocal} prints last, once the server accepts connections. */
export const READY_LINE_PREFIX = 'kcc-redis local: ready on ';
/** The file in the folder holding the local admin user's password for redis-cli. */
export const ADMIN_ENV_FILE = 'admin.env';
/** Variable of {@link ADMIN_ENV_FILE} that holds the admin password. */
export const ADMIN_PASSWORD_VARIABLE = 'KCC_LOCAL_ADMIN_PASSWORD';

/** The port is taken: the message suggests --port. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is in use; pass --port <n> (or --port 0 for any free port)`);
    this.name = 'PortInUseError';
  }
}

/** The folder's path cannot be written to the env files (see {@link envFileValueProblem}): the message suggests another --dir. */
export class LocalDirNameError extends Error {
  constructor(dir: string, problem: string) {
    super(`--dir ${JSON.stringify(dir)}: the path holds ${problem}, which the env files written there cannot quote so that both \`node --env-file\` and a shell read it back (KCC_REDIS_CA_FILE names a file in the folder); choose a folder without it`);
    this.name = 'LocalDirNameError';
  }
}

/** The env file of an app-env in `dir`: `<dir>/<app>-<env>.env`. */
export function envFilePath(dir: string, appEnv: AppEnv): string {
  return join(resolve(dir), `${appEnvUserName(appEnv)}.env`);
}

/**
 * Starts the ElastiCache-like Redis for local development from the stack's own config (same users,
 * same access strings, TLS only, default user off), locks its folder, and writes what apps and
 * tools need into it, readable by the owner only:
 * - `<app>-<env>.env` per app-env: every variable an instance needs, including its password and a
 *   local-only key-encryption key for the signing-key ring (`node --env-file=<file>`);
 * - `admin.env`: the local admin user's password, for redis-cli through `REDISCLI_AUTH`;
 * - `kcc-local.json`: the same for `kcc-redis check|drift|status|rotate-keys|revoke --local-dir`.
 * A restart reuses the passwords and keys. Prints the files' paths and the non-secret variables,
 * never a password or a key. Stop the returned server with `stop()`.
 *
 * @throws LocalDirBusyError when another server uses the folder, PortInUseError when the port is taken.
 */
export async function runLocal(options: RunLocalOptions): Promise<LocalRedis> {
  const { config } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dir = resolve(options.dir ?? '.kcc-local');
  const dirProblem = envFileValueProblem(dir);
  if (dirProblem) throw new LocalDirNameError(dir, dirProblem); // before anything is created or started
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await assertDirNotLocked(dir); // a busy folder is the better explanation than the port it holds
  const requested = options.port ?? config.port;
  if (requested !== 0 && !(await portIsFree(requested))) throw new PortInUseError(requested);
  const previous = await readPreviousSecrets(dir);
  const clusterMode = config.shards > 1;
  const server = await LocalRedis.start({
    dir,
    appEnvs: config.appEnvs,
    aclProfile: config.aclProfile,
    clusterMode,
    port: requested,
    passwords: previous.passwords,
    adminPassword: previous.adminPassword,
    defaultUserPassword: previous.defaultUserPassword,
  });
  let appEnvs: LocalAppEnvState[];
  try {
    appEnvs = [];
    for (const appEnv of config.appEnvs) {
      const username = appEnvUserName(appEnv);
      const kekSecret: KeyEncryptionKeySecret = previous.kekSecrets[username] ?? { v: KEK_SECRET_VERSION, kek: randomPassword(64), previous: [] };
      const envFile = envFilePath(dir, appEnv);
      const variables = { ...server.environment(appEnv), KCC_KEYRING_KEK: kekSecret.kek };
      await writeOwnerOnly(envFile, envFileText(`what an instance of ${username} needs`, variables));
      const user = server.users.get(username)!;
      appEnvs.push({ app: appEnv.app, env: appEnv.env, username, keyPrefix: user.keyPrefix, password: user.password, kekSecret, envFile });
    }
    await writeOwnerOnly(join(dir, ADMIN_ENV_FILE), envFileText(`password of the local admin user ${LOCAL_ADMIN_USER}`, { [ADMIN_PASSWORD_VARIABLE]: server.adminPassword }));
    await writeLocalState(dir, {
      v: LOCAL_STATE_VERSION,
      url: server.url,
      caFile: server.tls.caFile,
      aclProfile: config.aclProfile,
      clusterMode,
      admin: { username: LOCAL_ADMIN_USER, password: server.adminPassword },
      defaultUser: { password: server.defaultUserPassword },
      appEnvs,
    });
    await rm(join(dir, 'credentials.json'), { force: true }); // the file of earlier versions, now in kcc-local.json
  } catch (error) {
    await server.stop();
    throw error;
  }

  const cli = (envFile: string, variable: string, user: string) =>
    `(. ${shellQuote(envFile)} && REDISCLI_AUTH="$${variable}" redis-cli --tls --cacert ${shellQuote(server.tls.caFile)} -h ${server.host} -p ${server.port} --user ${user})`;
  print(`# kcc-redis local: ${config.engine}-like redis-server, TLS only, default user off, ACL profile "${config.aclProfile}"`);
  if (clusterMode) print('# (the config enables cluster mode; this local server is a single standalone node)');
  print(`# files in ${dir}, readable by you only; tools read ${LOCAL_STATE_FILE}: kcc-redis check --local-dir ${shellQuote(dir)}`);
  for (const appEnv of appEnvs) {
    const variables = server.environment(appEnv);
    print('');
    print(`# ${appEnv.username}: every variable an instance needs (its password and a local-only key-encryption key included) is in`);
    print(`#   ${appEnv.envFile}`);
    print(`# start an app with it: node --env-file=${shellQuote(appEnv.envFile)} app.js   (or: set -a; . ${shellQuote(appEnv.envFile)}; set +a)`);
    for (const name of ['KCC_REDIS_URL', 'KCC_REDIS_USERNAME', 'KCC_REDIS_PREFIX', 'KCC_REDIS_CA_FILE']) print(`${name}=${shellQuote(variables[name]!)}`);
    print(`# redis-cli as ${appEnv.username}: ${cli(appEnv.envFile, 'KCC_REDIS_PASSWORD', appEnv.username)}`);
  }
  print('');
  print(`# the local admin user ${LOCAL_ADMIN_USER} stands in for ElastiCache's control plane (the stack has no such user):`);
  print(`# redis-cli as ${LOCAL_ADMIN_USER}: ${cli(join(dir, ADMIN_ENV_FILE), ADMIN_PASSWORD_VARIABLE, LOCAL_ADMIN_USER)}`);
  print('');
  print(`${READY_LINE_PREFIX}${server.url} (files in ${dir}; Ctrl-C to stop)`);
  return server;
}

function envFileText(what: string, variables: Record<string, string>): string {
  const lines = Object.entries(variables).map(([name, value]) => `${name}=${envFileQuote(value)}`);
  return `# kcc-redis local: ${what}. Owner-only; never commit it.\n${lines.join('\n')}\n`;
}
