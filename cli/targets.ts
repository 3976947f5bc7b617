import { randomUUID } from 'node:crypto';
import type { KccConnectionOptions, KeyEncryptionKeyMaterial } from '@kcc-redis/client';
import { readKeyEncryptionKeySecret } from '../client/src/aws/secrets-manager.js';
import { type ResolvedConnection, resolveConnection } from '../client/src/resolve-options.js';
import { type LocalState, readLocalState } from '../local/local-state.js';
import { type ParsedValues, stringList, stringOption } from './args.js';
import { CliUsageError } from './exit-codes.js';
import type { CliIo } from './io.js';
import { readOutputsFile } from './outputs-file.js';

/** Options every command that talks to an app-env accepts (parseArgs form). */
export const TARGET_OPTIONS = {
  app: { type: 'string' },
  env: { type: 'string' },
  all: { type: 'boolean' },
  'local-dir': { type: 'string' },
  outputs: { type: 'string' },
  'secret-id': { type: 'string', multiple: true },
  'kek-secret-id': { type: 'string' },
  url: { type: 'string' },
  region: { type: 'string' },
} as const;

/** The help text of {@link TARGET_OPTIONS}. */
export const TARGET_HELP = `Which app-envs, and their credentials (one source; default: the environment):
  --local-dir <dir>        a \`kcc-redis local --dir <dir>\` server: its users, CA and local keys (<dir>/kcc-local.json)
  --outputs <file>         the stack's outputs (cdk deploy --outputs-file <file>): every app-env, passwords and
                           key-encryption keys read from their Secrets Manager secrets
  --secret-id <id>         an app-env's user secret (the AppEnv<Name> output's secretArn); repeatable
  --kek-secret-id <id>     its key-encryption-key secret (with one --secret-id)
  (none of these)          the variables an app instance reads: KCC_REDIS_URL, KCC_REDIS_SECRET_ID or
                           KCC_REDIS_USERNAME/KCC_REDIS_PASSWORD, KCC_REDIS_CA_FILE, KCC_KEYRING_KEK(_SECRET_ID), …
  --url <rediss://host:port>  the endpoint, when the source does not give it (default: KCC_REDIS_URL, or
                           discovery through the secret's replication group)
  --region <region>        AWS region (default: the SDK's: AWS_REGION, profile)
  --app <app> --env <env>  only this app-env (default: every app-env the source has credentials for)
  --all                    every app-env the source has credentials for (the default, said explicitly)`;

/** One app-env the command works on, with what it needs to reach it. */
export interface AppEnvTarget {
  /** `<app>-<env>`: the namespace, without the trailing ":". */
  readonly name: string;
  /** Where the credentials came from, for the report (never a secret). */
  readonly source: string;
  /** The merged connection settings (host, port, TLS, credentials); never printed. */
  readonly resolved: ResolvedConnection;
  /** Options for `KccRedis.connect`: this tool is not an app instance, so no heartbeat. */
  readonly connection: KccConnectionOptions;
  /**
   * The app-env's key-encryption keys (the current one and the earlier ones its secret keeps, so a
   * ring written before a KEK rotation still verifies), when the source has them.
   */
  kek(): Promise<KeyEncryptionKeyMaterial | undefined>;
  /** The local server's state, with `--local-dir`. */
  readonly local?: LocalState;
}

/** The app-envs the options select, with their credentials. */
export async function resolveTargets(command: string, values: ParsedValues, io: CliIo): Promise<AppEnvTarget[]> {
  const localDir = stringOption(values, 'local-dir');
  const outputs = stringOption(values, 'outputs');
  const secretIds = stringList(values, 'secret-id');
  const kekSecretId = stringOption(values, 'kek-secret-id');
  const url = stringOption(values, 'url');
  const region = stringOption(values, 'region') ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  const sources = [localDir && '--local-dir', outputs && '--outputs', secretIds.length > 0 && '--secret-id'].filter(Boolean);
  if (sources.length > 1) throw new CliUsageError(`give one credential source, not ${sources.join(' and ')}`, command);
  if (kekSecretId && secretIds.length !== 1) throw new CliUsageError('--kek-secret-id goes with exactly one --secret-id', command);
  if (localDir && url) throw new CliUsageError('--url does not go with --local-dir (the folder names its server)', command);
  const app = stringOption(values, 'app');
  const env = stringOption(values, 'env');
  if ((app === undefined) !== (env === undefined)) throw new CliUsageError('give --app and --env together (or neither, for every app-env)', command);
  if (values.all === true && app !== undefined) throw new CliUsageError('--all and --app/--env exclude each other', command);

  const base = { env: {}, heartbeat: false } satisfies KccConnectionOptions;
  const pending: { source: string; options: KccConnectionOptions; kek: () => Promise<KeyEncryptionKeyMaterial | undefined>; local?: LocalState }[] = [];
  const kekFromSecret = (id: string | undefined) => async () => (id ? await readKeyEncryptionKeySecret(id, region) : undefined);
  if (localDir) {
    const state = await readLocalState(localDir);
    for (const a of state.appEnvs) {
      pending.push({
        source: `--local-dir ${localDir}`,
        options: { ...base, url: state.url, username: a.username, password: a.password, keyPrefix: a.keyPrefix, tls: { caFile: state.caFile } },
        kek: async () => a.kekSecret,
        local: state,
      });
    }
  } else if (outputs) {
    for (const o of await readOutputsFile(outputs)) {
      const endpoint = url ?? o.url;
      const common = { ...base, keyPrefix: o.keyPrefix, url: endpoint, clusterMode: endpoint === o.url ? o.clusterMode : undefined, tls: caFileFromEnv(io) };
      // An app-env with both users is reached through its password user; one with only an IAM user signs tokens.
      const options: KccConnectionOptions = o.password
        ? { ...common, secretId: o.password.secretArn, region }
        : { ...common, auth: 'iam', username: o.iam!.username, region: o.iam!.region, serverless: o.iam!.serverless, iam: { cacheName: o.iam!.cacheName } };
      pending.push({ source: `--outputs ${outputs} (${o.stack})`, options, kek: kekFromSecret(o.kekSecretArn) });
    }
  } else if (secretIds.length > 0) {
    for (const secretId of secretIds) {
      pending.push({
        source: `--secret-id ${secretId}`,
        options: { ...base, secretId, region, url: url ?? (io.env.KCC_REDIS_URL || undefined), tls: caFileFromEnv(io) },
        kek: kekFromSecret(kekSecretId ?? io.env.KCC_KEYRING_KEK_SECRET_ID),
      });
    }
  } else {
    // As an app instance reads its settings, from this process's environment.
    pending.push({
      source: 'the environment (KCC_REDIS_*)',
      options: { ...base, env: io.env, url },
      kek: async () => (io.env.KCC_KEYRING_KEK ? { kek: io.env.KCC_KEYRING_KEK } : kekFromSecret(io.env.KCC_KEYRING_KEK_SECRET_ID)()),
    });
  }

  const targets: AppEnvTarget[] = [];
  for (const p of pending) {
    const resolved = await resolveConnection(p.options);
    const name = resolved.keyPrefix.split(':')[0]!;
    targets.push({ name, source: p.source, resolved, connection: connectionFor(resolved, p.options), kek: p.kek, local: p.local });
  }
  if (app === undefined) return targets;
  const wanted = `${app}-${env}`;
  const selected = targets.filter((t) => t.name === wanted);
  if (selected.length === 0) {
    throw new CliUsageError(`no credentials for app-env "${wanted}" in ${pending[0]?.source ?? 'the given source'}; it has: ${targets.map((t) => t.name).join(', ') || 'none'}`, command);
  }
  return selected;
}

/** A command that changes state works on exactly one app-env. */
export function exactlyOne(command: string, targets: readonly AppEnvTarget[]): AppEnvTarget {
  if (targets.length !== 1) {
    throw new CliUsageError(`${command} works on one app-env at a time; choose one with --app <app> --env <env> (found: ${targets.map((t) => t.name).join(', ')})`, command);
  }
  return targets[0]!;
}

function caFileFromEnv(io: CliIo): KccConnectionOptions['tls'] {
  return io.env.KCC_REDIS_CA_FILE ? { caFile: io.env.KCC_REDIS_CA_FILE } : undefined;
}

/**
 * Connection options from the resolved settings, so that connecting does not read the secret again;
 * with IAM authentication the original options (each connection signs its own token).
 */
function connectionFor(resolved: ResolvedConnection, original: KccConnectionOptions): KccConnectionOptions {
  const connectionName = `kcc-redis-cli:${resolved.keyPrefix}${randomUUID().slice(0, 8)}`;
  if (resolved.iam) return { ...original, connectionName };
  return {
    url: `${resolved.tls ? 'rediss' : 'redis'}://${resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host}:${resolved.port}`,
    username: resolved.credentials.username,
    password: resolved.credentials.password,
    keyPrefix: resolved.keyPrefix,
    tls: resolved.tls ? { ca: resolved.tls.ca, servername: resolved.tls.servername } : undefined,
    clusterMode: resolved.clusterMode,
    connectTimeoutMs: resolved.connectTimeoutMs,
    env: {},
    heartbeat: false,
    connectionName,
  };
}
