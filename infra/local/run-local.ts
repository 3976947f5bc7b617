import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { appEnvUserName } from '../../client/src/naming.js';
import type { KccConfig } from '../config.js';
import { LocalRedis } from './local-redis.js';

export interface RunLocalOptions {
  readonly config: KccConfig;
  /** Folder for the server's files. @default '.kcc-local' */
  readonly dir?: string;
  /** TLS port; 0 picks a free one. @default the config's port */
  readonly port?: number;
  /** Where to print. @default process.stdout */
  readonly print?: (line: string) => void;
}

/**
 * Starts the ElastiCache-like Redis for local development from the stack's own config (same users,
 * same access strings, TLS only) and prints what each app-env needs. Stop it with `stop()`.
 */
export async function runLocal(options: RunLocalOptions): Promise<LocalRedis> {
  const { config } = options;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const requested = options.port ?? config.port;
  if (requested !== 0 && !(await portIsFree(requested))) {
    throw new Error(`port ${requested} on 127.0.0.1 is in use; pass --port <n> (or --port 0 for any free port)`);
  }
  const dir = resolve(options.dir ?? '.kcc-local');
  const server = await LocalRedis.start({
    dir,
    appEnvs: config.appEnvs,
    aclProfile: config.aclProfile,
    port: requested === 0 ? undefined : requested,
  });
  print(`# kcc-redis local: ${config.engine}-like redis-server, TLS only, default user off, ACL profile "${config.aclProfile}"`);
  for (const appEnv of config.appEnvs) {
    const user = server.users.get(appEnvUserName(appEnv))!;
    print('');
    print(`# ${user.username}`);
    for (const line of server.envLines(appEnv)) print(line);
    print(`# redis-cli --tls --cacert ${server.tls.caFile} -h 127.0.0.1 -p ${server.port} --user ${user.username} --pass <KCC_REDIS_PASSWORD>`);
  }
  print('');
  print(`kcc-redis local: ready on ${server.url} (files in ${dir}; Ctrl-C to stop)`);
  return server;
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((done) => {
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}
