import { randomUUID } from 'node:crypto';
import { CONNECTION_DEFAULTS, type KccConnectionOptions, KccConfigError, type KeyEncryptionKeyMaterial } from '@kcc-redis/client';
import { readKeyEncryptionKeySecret } from '../client/src/aws/secrets-manager.js';
import { kekEnvironmentConflict } from '../client/src/keyring/key-ring-options.js';
import { type ResolvedConnection, resolveConnection } from '../client/src/resolve-options.js';
import { type LocalState, readLocalState } from '../local/local-state.js';
import { type ParsedValues, stringList, stringOption } from './args.js';
import { CONCURRENT_TARGETS, mapConcurrently } from './concurrently.js';
import { cliLogger } from './connect.js';
import { CliFailure, CliUsageError, errorReason } from './exit-codes.js';
import type { CliIo } from './io.js';
import { readOutputsFile } from './outputs-file.js';

/** Options every command that talks to an app-env accepts (parseArgs form). */
export const TARGET_OPTIONS = {
  app: { type: 'string' },
  env: { type: 'string' },
  all: { type: 'boolean' },
  'local-dir': { type: 'string' },
  outputs: { type: 'string' },
  stack: { type: 'string' },
  'secret-id': { type: 'string', multiple: true },
  'kek-secret-id': { type: 'string' },
  url: { type: 'string' },
  region: { type: 'string' },
} as const;

/** The help text of {@link TARGET_OPTIONS}. */
export const TARGET_HELP = `Which app-envs, and their credentials (one source; default: the environment):
  --local-dir <dir>        a \`kcc-redis local --dir <dir>\` server: its users, CA and local keys (<dir>/kcc-local.json)
  --outputs <file>         the stack's outputs (cdk deploy --outputs-file <file>): every app-env, passwords and
                           key-encryption keys read from their Secrets Manager secrets (with --app/--env, that
                           app-env's only)
  --stack <name>           with --outputs: only this stack's app-envs, in a file of several stacks (staging and
                           prod); rotate-keys and revoke need it when the app-env is in more than one
  --secret-id <id>         an app-env's user secret (the AppEnv<Name> output's password.secretArn); repeatable
  --kek-secret-id <id>     its key-encryption-key secret (with one --secret-id; else KCC_KEYRING_KEK_SECRET_ID,
                           which is not used with several --secret-id)
  (none of these)          the variables an app instance reads: KCC_REDIS_URL, KCC_REDIS_SECRET_ID or
                           KCC_REDIS_USERNAME/KCC_REDIS_PASSWORD, KCC_REDIS_CA_FILE, KCC_KEYRING_KEK(_SECRET_ID), …
  --url <rediss://host:port>  the endpoint, when the source does not give it (default: KCC_REDIS_URL, or
                           discovery through the secret's replication group)
  --region <region>        AWS region of secrets given by name (an ARN's own region always applies; default: AWS_REGION, the outputs file, the profile)
  --app <app> --env <env>  only this app-env (default: every app-env the source has credentials for; rotate-keys
                           and revoke need it, even when the source has one)
  --all                    every app-env the source has credentials for (the default, said explicitly)`;

/** One app-env the command works on, with what it needs to reach it. */
export interface AppEnvTarget {
  /** `<app>-<env>`: the namespace, without the trailing ":". */
  readonly name: string;
  /** Where the credentials came from, for the report (never a secret). */
  readonly source: string;
  /** The stack whose outputs named it (`--outputs`). */
  readonly stack?: string;
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
  /** The options that choose this app-env's credentials again: its source's (with --outputs, its --stack), --url and --region when given. */
  readonly sourceArgs: readonly string[];
  /** The app and env, when the source names them apart (--local-dir); else only `name` is known. */
  readonly appEnv?: { readonly app: string; readonly env: string };
}

/** An app-env the source names, before its credentials are read. */
interface Candidate {
  /** `<app>-<env>` when the source says so without a secret (--outputs, --local-dir). */
  readonly name?: string;
  readonly stack?: string;
  readonly source: string;
  readonly options: KccConnectionOptions;
  readonly kek: () => Promise<KeyEncryptionKeyMaterial | undefined>;
  readonly local?: LocalState;
  readonly sourceArgs: readonly string[];
  readonly appEnv?: { readonly app: string; readonly env: string };
}

/** An app-env whose credentials could not be read (its secret refused, say): shown as its own failed row. */
export interface UnreadableTarget {
  /** `<app>-<env>` when the source names it, else the source (`--secret-id <id>`). */
  readonly name: string;
  readonly source: string;
  readonly stack?: string;
  /** Why: never a secret (the client's and the SDK's errors name the secret's id, not its value). */
  readonly unreadable: unknown;
}

export const isUnreadableTarget = (t: AppEnvTarget | UnreadableTarget): t is UnreadableTarget => 'unreadable' in t;

/**
 * The app-envs the options select, with their credentials. With --app/--env (and --stack) a source
 * that names its app-envs (--outputs, --local-dir) is narrowed before any secret is read: an operator
 * allowed to read one app-env's secrets can work on that app-env. An app-env whose credentials
 * cannot be read (a secret refused or missing, its endpoint not discovered) is returned as an
 * {@link UnreadableTarget}, in its place: one app-env's failure never stops the others. A
 * configuration mistake (KccConfigError: the fix is in the options) still stops the command. Read
 * {@link CONCURRENT_TARGETS} at a time, in the source's order.
 */
export async function resolveTargets(command: string, values: ParsedValues, io: CliIo): Promise<(AppEnvTarget | UnreadableTarget)[]> {
  const { candidates, wanted, origin } = await selectCandidates(command, values, io);
  const resolve = async (c: Candidate) => {
    try {
      return { target: await resolveCandidate(c) };
    } catch (error) {
      return { error };
    }
  };
  // The first alone: AWS credentials that ask the operator something (a credential_process with MFA,
  // an SSO login) ask before the others' reads start, so where that tool caches the answer, once.
  const first = candidates.length > 0 ? [await resolve(candidates[0]!)] : [];
  if (first[0]?.error instanceof KccConfigError) throw first[0].error; // the others' reads would change nothing
  const settled = [...first, ...(await mapConcurrently(candidates.slice(1), CONCURRENT_TARGETS, resolve))];
  const configError = settled.find((s) => s.error instanceof KccConfigError);
  if (configError) throw configError.error;
  const targets = settled.map((s, i): AppEnvTarget | UnreadableTarget => {
    const c = candidates[i]!;
    return s.target ?? { name: c.name ?? c.source, source: c.source, stack: c.stack, unreadable: s.error };
  });
  return onlyWanted(command, targets, candidates, wanted, origin);
}

/**
 * The one app-env a command that changes state works on, named with --app/--env even when the source
 * holds only one: an operator pointing at the wrong outputs file or --local-dir during an incident
 * would otherwise change the wrong environment. Without them the command is refused, naming what the
 * source holds (its secrets read only when the source names its app-envs nowhere else). When the
 * source names its app-envs, more than one is refused before any secret is read.
 */
export async function resolveOneTarget(command: string, values: ParsedValues, io: CliIo): Promise<AppEnvTarget> {
  const { candidates, wanted, origin } = await selectCandidates(command, values, io);
  if (wanted === undefined) await refuseUnnamed(command, candidates);
  if (candidates.length > 1 && candidates.every((c) => c.name !== undefined)) refuseSeveral(command, candidates.map((c) => ({ name: c.name!, stack: c.stack })));
  // Any candidate's failure stops the command.
  const targets: AppEnvTarget[] = [];
  for (const c of candidates) targets.push(await resolveCandidate(c));
  return exactlyOne(command, onlyWanted(command, targets, candidates, wanted, origin));
}

/** A command that changes state works on exactly one app-env. */
function exactlyOne(command: string, targets: readonly AppEnvTarget[]): AppEnvTarget {
  if (targets.length !== 1) refuseSeveral(command, targets);
  return targets[0]!;
}

/** A command that changes state without --app/--env: refused, naming the app-env(s) the source holds. */
async function refuseUnnamed(command: string, candidates: readonly Candidate[]): Promise<never> {
  const found: { name: string; stack?: string }[] = [];
  for (const c of candidates) {
    if (c.name !== undefined) {
      found.push({ name: c.name, stack: c.stack });
      continue;
    }
    // The environment and --secret-id name their app-env only inside the secret. A read that fails
    // says why, as status shows an unreadable app-env (errorReason: name and message, one line, no
    // other fields of the error), so the operator can fix the source or name the app-env anyway.
    try {
      found.push({ name: (await resolveCandidate(c)).name, stack: c.stack });
    } catch (error) {
      found.push({ name: `${c.source} (credentials not read: ${errorReason(error)})` });
    }
  }
  const stacks = new Set(found.map((t) => t.stack).filter((stack) => stack !== undefined));
  const how = `--app <app> --env <env>${stacks.size > 1 ? ' --stack <stack>' : ''}`;
  const list = found.map((t) => (t.stack === undefined ? t.name : `${t.name} (${t.stack})`)).join(', ');
  throw new CliUsageError(`${command} changes state: name the app-env with ${how} (found: ${list || 'none'}); nothing was changed`, command);
}

/**
 * The app-env a state-changing command works on, as its confirmation and outcome name it: the
 * app-env, its stack when known, and the Redis endpoint (host:port; never a user or secret).
 */
export function describeTarget(target: AppEnvTarget): string {
  return `${target.name} (${target.stack === undefined ? '' : `stack ${target.stack}, `}endpoint ${targetEndpoint(target)})`;
}

/** The target's Redis endpoint, `host:port` (an IPv6 host in brackets). */
export function targetEndpoint(target: AppEnvTarget): string {
  const { host, port } = target.resolved;
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The options a command line the CLI suggests needs to work on `target` again, quoted for a POSIX
 * shell where needed: `--app <app> --env <env>` (rotate-keys and revoke require them) and the
 * source this run was given (with --outputs, the app-env's --stack; --url and --region when given).
 * --app/--env select `<app>-<env>`, so where the source does not name the app and env apart (all
 * but --local-dir) the name is split at its last hyphen: that selects the same app-env.
 */
export function targetArgs(target: AppEnvTarget): string {
  const cut = target.name.lastIndexOf('-');
  const appEnv = target.appEnv ?? (cut > 0 ? { app: target.name.slice(0, cut), env: target.name.slice(cut + 1) } : undefined);
  const chosen = appEnv === undefined ? ['--app <app> --env <env>'] : ['--app', appEnv.app, '--env', appEnv.env].map(shellWord);
  return [...chosen, ...target.sourceArgs.map(shellWord)].join(' ');
}

/** `word` as a POSIX shell reads it back: as it is when it holds nothing the shell treats apart, else in single quotes. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function refuseSeveral(command: string, found: readonly { name: string; stack?: string }[]): never {
  const names = new Set(found.map((t) => t.name));
  const stacks = new Set(found.map((t) => t.stack).filter((stack) => stack !== undefined));
  const how = [names.size > 1 && '--app <app> --env <env>', stacks.size > 1 && '--stack <stack>'].filter(Boolean).join(' ') || '--app <app> --env <env>';
  const list = found.map((t) => (t.stack === undefined ? t.name : `${t.name} (${t.stack})`)).join(', ');
  throw new CliUsageError(`${command} works on one app-env at a time; choose one with ${how} (found: ${list})`, command);
}

async function selectCandidates(command: string, values: ParsedValues, io: CliIo): Promise<{ candidates: Candidate[]; wanted?: string; origin: string }> {
  const localDir = stringOption(values, 'local-dir');
  const outputs = stringOption(values, 'outputs');
  const stack = stringOption(values, 'stack');
  const secretIds = stringList(values, 'secret-id');
  const kekSecretId = stringOption(values, 'kek-secret-id');
  const url = stringOption(values, 'url');
  // The operator's region, else the outputs file's; a secret given by its ARN is read in the ARN's
  // region whatever this says (client/src/aws/secrets-manager.ts).
  const region = stringOption(values, 'region') ?? (io.env.AWS_REGION || undefined) ?? (io.env.AWS_DEFAULT_REGION || undefined);
  const regionFor = (fileRegion?: string) => region ?? fileRegion;
  const givenRegion = stringOption(values, 'region');
  const endpointArgs = [...(url === undefined ? [] : ['--url', url]), ...(givenRegion === undefined ? [] : ['--region', givenRegion])];
  const sources = [localDir && '--local-dir', outputs && '--outputs', secretIds.length > 0 && '--secret-id'].filter(Boolean);
  if (sources.length > 1) throw new CliUsageError(`give one credential source, not ${sources.join(' and ')}`, command);
  if (kekSecretId && secretIds.length !== 1) throw new CliUsageError('--kek-secret-id goes with exactly one --secret-id', command);
  if (localDir && url) throw new CliUsageError('--url does not go with --local-dir (the folder names its server)', command);
  if (stack !== undefined && !outputs) throw new CliUsageError('--stack goes with --outputs (it picks a stack of the outputs file)', command);
  const app = stringOption(values, 'app');
  const env = stringOption(values, 'env');
  if ((app === undefined) !== (env === undefined)) throw new CliUsageError('give --app and --env together (or neither, for every app-env)', command);
  if (values.all === true && app !== undefined) throw new CliUsageError('--all and --app/--env exclude each other', command);
  const wanted = app === undefined ? undefined : `${app}-${env}`;

  const base = { env: {}, heartbeat: false, logger: cliLogger(io) } satisfies KccConnectionOptions;
  let candidates: Candidate[] = [];
  let origin: string;
  const kekFromSecret = (id: string | undefined, fileRegion?: string) => async () => (id ? await withRegionHint(() => readKeyEncryptionKeySecret(id, regionFor(fileRegion), CONNECTION_DEFAULTS.connectTimeoutMs)) : undefined);
  if (localDir) {
    origin = `--local-dir ${localDir}`;
    const state = await readLocalState(localDir);
    for (const a of state.appEnvs) {
      candidates.push({
        name: appEnvName(a.keyPrefix),
        source: origin,
        options: { ...base, url: state.url, username: a.username, password: a.password, keyPrefix: a.keyPrefix, tls: { caFile: state.caFile } },
        kek: async () => a.kekSecret,
        local: state,
        sourceArgs: ['--local-dir', localDir, ...endpointArgs],
        appEnv: { app: a.app, env: a.env },
      });
    }
  } else if (outputs) {
    origin = `--outputs ${outputs}`;
    for (const o of await readOutputsFile(outputs)) {
      const endpoint = url ?? o.url;
      const common = { ...base, keyPrefix: o.keyPrefix, url: endpoint, clusterMode: endpoint === o.url ? o.clusterMode : undefined, tls: caFileFromEnv(io) };
      // An app-env with both users is reached through its password user; one with only an IAM user signs tokens.
      const options: KccConnectionOptions = o.password
        ? { ...common, secretId: o.password.secretArn, region: regionFor(o.region) }
        : { ...common, auth: 'iam', username: o.iam!.username, region: o.iam!.region, serverless: o.iam!.serverless, iam: { cacheName: o.iam!.cacheName } };
      candidates.push({ name: appEnvName(o.keyPrefix), stack: o.stack, source: `${origin} (${o.stack})`, options, kek: kekFromSecret(o.kekSecretArn, o.region), sourceArgs: ['--outputs', outputs, '--stack', o.stack, ...endpointArgs] });
    }
    if (stack !== undefined) {
      const stacks = [...new Set(candidates.map((c) => c.stack))];
      candidates = candidates.filter((c) => c.stack === stack);
      if (candidates.length === 0) throw new CliUsageError(`no stack "${stack}" with AppEnv outputs in ${origin}; it has: ${stacks.join(', ')}`, command);
      origin = `${origin} (${stack})`;
    }
  } else if (secretIds.length > 0) {
    origin = secretIds.map((id) => `--secret-id ${id}`).join(', ');
    for (const secretId of secretIds) {
      candidates.push({
        source: `--secret-id ${secretId}`,
        options: { ...base, secretId, region: regionFor(), url: url ?? (io.env.KCC_REDIS_URL || undefined), tls: caFileFromEnv(io) },
        // KCC_KEYRING_KEK_SECRET_ID names one app-env's key: with several --secret-id it would be
        // taken for every one of them (and their rings shown as refused); then their rings are not verified.
        kek: kekFromSecret(kekSecretId ?? (secretIds.length === 1 ? io.env.KCC_KEYRING_KEK_SECRET_ID : undefined)),
        sourceArgs: ['--secret-id', secretId, ...(kekSecretId === undefined ? [] : ['--kek-secret-id', kekSecretId]), ...endpointArgs],
      });
    }
  } else {
    // As an app instance reads its settings, from this process's environment.
    origin = 'the environment (KCC_REDIS_*)';
    const conflict = kekEnvironmentConflict(io.env);
    if (conflict) throw new CliUsageError(`${conflict}, as an app refuses them`, command);
    candidates.push({
      source: origin,
      options: { ...base, env: io.env, url, region: regionFor() },
      kek: async () => (io.env.KCC_KEYRING_KEK ? { kek: io.env.KCC_KEYRING_KEK } : kekFromSecret(io.env.KCC_KEYRING_KEK_SECRET_ID)()),
      sourceArgs: endpointArgs,
    });
  }

  if (wanted !== undefined && candidates.every((c) => c.name !== undefined)) {
    const named = candidates.filter((c) => c.name === wanted);
    if (named.length === 0) throw noCredentials(command, wanted, origin, candidates.map((c) => c.name!));
    candidates = named;
  }
  return { candidates, wanted, origin };
}

/** Reads a candidate's credentials (secrets, discovery). */
async function resolveCandidate(c: Candidate): Promise<AppEnvTarget> {
  const resolved = await withRegionHint(() => resolveConnection(c.options));
  return { name: appEnvName(resolved.keyPrefix), source: c.source, stack: c.stack, resolved, connection: connectionFor(resolved, c.options), kek: c.kek, local: c.local, sourceArgs: c.sourceArgs, appEnv: c.appEnv };
}

/** The targets that are `wanted` (all without --app/--env); none is a usage error. */
function onlyWanted<T extends AppEnvTarget | UnreadableTarget>(command: string, targets: readonly T[], candidates: readonly Candidate[], wanted: string | undefined, origin: string): T[] {
  if (wanted === undefined) return [...targets];
  // An unreadable one whose name the source did not give may be the wanted one: it stays.
  const selected = targets.filter((t) => t.name === wanted || (isUnreadableTarget(t) && candidates.find((c) => c.source === t.source)?.name === undefined));
  if (selected.length === 0) throw noCredentials(command, wanted, origin, targets.map((t) => t.name));
  return selected;
}

function noCredentials(command: string, wanted: string, origin: string, names: readonly string[]): CliUsageError {
  return new CliUsageError(`no credentials for app-env "${wanted}" in ${origin}; it has: ${[...new Set(names)].join(', ') || 'none'}`, command);
}

/** An AWS call whose region the SDK could not find says how to give one. */
async function withRegionHint<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Error && /Region is missing/i.test(error.message)) {
      throw new CliFailure(`${error.message}: no AWS region: pass --region or set AWS_REGION`, { cause: error });
    }
    throw error;
  }
}

/** `<app>-<env>` of a key prefix (`shop-dev:` → `shop-dev`). */
function appEnvName(keyPrefix: string): string {
  return keyPrefix.split(':')[0]!;
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
    logger: original.logger,
    env: {},
    heartbeat: false,
    connectionName,
  };
}
