import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { appEnvUserName } from '@kcc-redis/client/contract';
import type { KccConfig } from '../infra/config.js';
import { LocalRedis } from './local-redis.js';
import { passwordProblem, portIsFree } from './local-util.js';

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

/**
 * Starts the ElastiCache-like Redis for local development from the stack's own config (same users,
 * same access strings, TLS only, default user off) and prints what each app-env needs.
 * Passwords are kept in `<dir>/credentials.json` (0600) so that a restart keeps apps' settings valid.
 * Stop the returned server with `stop()`.
 *
 * @throws Error suggesting `--port` when the requested port is in use.
 */
export async function runLocal(options: RunLocalOptions): Promise<LocalRedis> {
  const { config } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const requested = options.port ?? config.port;
  if (requested !== 0 && !(await portIsFree(requested))) {
    throw new Error(`port ${requested} on 127.0.0.1 is in use; pass --port <n> (or --port 0 for any free port)`);
  }
  const dir = resolve(options.dir ?? '.kcc-local');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const credentialsFile = join(dir, 'credentials.json');
  const server = await LocalRedis.start({
    dir,
    appEnvs: config.appEnvs,
    aclProfile: config.aclProfile,
    clusterMode: config.shards > 1,
    port: requested,
    passwords: await readPasswords(credentialsFile),
  });
  const passwords = Object.fromEntries([...server.users.values()].map((u) => [u.username, u.password]));
  await writeFile(credentialsFile, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });

  print(`# kcc-redis local: ${config.engine}-like redis-server, TLS only, default user off, ACL profile "${config.aclProfile}"`);
  if (config.shards > 1) print('# (the config enables cluster mode; this local server is a single standalone node)');
  for (const appEnv of config.appEnvs) {
    const user = server.users.get(appEnvUserName(appEnv))!;
    print('');
    print(`# ${user.username}`);
    for (const line of server.envLines(appEnv)) print(line);
    print(`# redis-cli --tls --cacert ${server.tls.caFile} -h ${server.host} -p ${server.port} --user ${user.username} --pass ${user.password}`);
  }
  print('');
  print(`${READY_LINE_PREFIX}${server.url} (files in ${dir}; Ctrl-C to stop)`);
  return server;
}

/** Passwords of an earlier run, by user name; unreadable or invalid entries are dropped (new ones are generated). */
async function readPasswords(file: string): Promise<Record<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  return Object.fromEntries(
    Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && passwordProblem(entry[1]) === undefined),
  );
}
