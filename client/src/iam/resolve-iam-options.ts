import { type AwsCredentialsProvider, credentialsProviderOf } from './aws-credentials.js';
import { iamCacheNameProblem, iamTokenOptionsProblem } from './auth-token.js';
import { IAM_DEFAULTS, type IamConnectionOptions, type RedisAuthMode } from './iam-options.js';
import { CONNECTION_DEFAULTS } from '../options.js';
import { SHAPES, booleanProblem, numberProblem, showShaped } from '../option-checks.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The IAM settings after options and environment are merged. Holds no secret (credentials are a provider). */
export interface ResolvedIamAuth {
  readonly cacheName: string;
  readonly userId: string;
  readonly region: string;
  readonly serverless: boolean;
  readonly credentials: AwsCredentialsProvider;
  readonly maxConnectionAgeMs: number;
  readonly checkIntervalMs: number;
  readonly tokenRefreshAfterMs: number;
  /** How long one credential-provider call may take: `connectTimeoutMs` (a connection waits for it before its socket opens). */
  readonly credentialsTimeoutMs: number;
  /** Minimum time between two forced credential refreshes after refused tokens (`credentialRefreshMinIntervalMs`). */
  readonly credentialRefreshMinIntervalMs: number;
  readonly now: () => number;
}

/** `auth` option, else `KCC_REDIS_AUTH`; `'password'` when neither is set. */
export function resolveAuthMode(auth: RedisAuthMode | undefined, env: Env, problems: string[]): RedisAuthMode {
  const value = auth ?? (env.KCC_REDIS_AUTH || undefined);
  if (value === undefined || value === 'password' || value === 'iam') return value ?? 'password';
  problems.push(`${auth !== undefined ? 'auth' : 'KCC_REDIS_AUTH'}: ${showShaped(value, SHAPES.word)} must be "password" or "iam"`);
  return 'password';
}

/** `serverless` option, else `KCC_REDIS_SERVERLESS` (`true`/`false`); false when neither is set. */
export function resolveServerless(serverless: boolean | undefined, env: Env, problems: string[]): boolean {
  if (serverless !== undefined) {
    const problem = booleanProblem('serverless', serverless);
    if (problem === undefined) return serverless;
    problems.push(problem);
    return false;
  }
  const value = env.KCC_REDIS_SERVERLESS;
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  problems.push(`KCC_REDIS_SERVERLESS: ${showShaped(value, SHAPES.word)} must be "true" or "false"`);
  return false;
}

/** What the connection resolver already knows when it resolves the IAM settings. */
export interface IamInputs {
  readonly username: string | undefined;
  readonly region: string | undefined;
  readonly replicationGroupId: string | undefined;
  readonly serverless: boolean;
  /** Password-mode settings that were given anyway, named as the user wrote them (e.g. `KCC_REDIS_PASSWORD`). */
  readonly passwordSettings: readonly string[];
  /** The resolved `connectTimeoutMs`: bounds a credential-provider call too. @default CONNECTION_DEFAULTS.connectTimeoutMs */
  readonly connectTimeoutMs?: number;
  /** The resolved `credentialRefreshMinIntervalMs`: also spaces the forced credential refreshes of refused tokens. @default CONNECTION_DEFAULTS.credentialRefreshMinIntervalMs */
  readonly credentialRefreshMinIntervalMs?: number;
}

/**
 * Where the user id came from, as a problem names it: `KCC_REDIS_USERNAME` or `CLUSTER_REDIS_USERNAME`
 * when the value is that variable's (with auth "iam" the username is the option, else those two, in
 * that order; an option equal to the variable is named by the variable, which holds the same value),
 * else the `username` option.
 */
function usernameSource(username: string, env: Env): string {
  if (env.KCC_REDIS_USERNAME === username) return 'KCC_REDIS_USERNAME';
  if (!env.KCC_REDIS_USERNAME && env.CLUSTER_REDIS_USERNAME === username) return 'CLUSTER_REDIS_USERNAME';
  return 'username';
}

/**
 * What is wrong with the `iam` options as given, told from them alone (no environment, no
 * credentials resolved): a `cacheName` given that is no cache name, the numbers, `now`, the shape of
 * `credentials`. Each problem is worded as {@link resolveIamAuth} words it. For a check before
 * connecting (`kccClusterProvider`), with `auth: 'iam'` given: what the environment may still
 * supply (the cache name, the user id, the region) is not required.
 */
export function iamOptionProblems(options: IamConnectionOptions | undefined, problems: string[]): void {
  if (options?.cacheName !== undefined) {
    const problem = iamCacheNameProblem(options.cacheName);
    if (problem) problems.push(`iam.${problem}`);
  }
  iamBlockOptions(options, problems);
}

/**
 * The most `iam.checkIntervalMs` may be: the stand-by token's re-signing age (IAM_DEFAULTS.tokenRefreshAfterMs).
 * A token is usable for 14 minutes (15, less token-source.ts' minute of margin); checked every 5
 * minutes at most, it is re-signed between 5 and 10 minutes of age, with one more check before it
 * lapses if that signature fails. Connection renewal (connection-renewal.ts) runs on the same
 * interval. Above about 24.8 days Node's timer would also fire every millisecond.
 */
export const MAX_IAM_CHECK_INTERVAL_MS = IAM_DEFAULTS.tokenRefreshAfterMs;
/** Renewal falls by 90 % of a connection's age at the latest (connection-renewal.ts' LATEST): a check at least every tenth of it renews before the cut. */
const RENEWAL_WINDOW_SHARES = 10;

/** The `iam` numbers (defaults where unset or wrong), `now` and `credentials` checked: one problem per fault. */
function iamBlockOptions(options: IamConnectionOptions | undefined, problems: string[]): { maxConnectionAgeMs: number; checkIntervalMs: number } {
  const numbers: { maxConnectionAgeMs: number; checkIntervalMs: number } = { maxConnectionAgeMs: IAM_DEFAULTS.maxConnectionAgeMs, checkIntervalMs: IAM_DEFAULTS.checkIntervalMs };
  const age = options?.maxConnectionAgeMs;
  if (age !== undefined) {
    if (!Number.isSafeInteger(age) || age <= 0) problems.push(`iam.maxConnectionAgeMs: ${String(age)} must be a positive whole number`);
    else if (age > IAM_DEFAULTS.maxConnectionAgeMs) {
      problems.push(`iam.maxConnectionAgeMs: ${age} is longer than ElastiCache keeps an IAM-authenticated connection (12 hours): renewals at 75-90 % of it would come too close to, or after, ElastiCache's cut; leave it unset (12 hours), or set at most ${IAM_DEFAULTS.maxConnectionAgeMs}`);
    } else numbers.maxConnectionAgeMs = age;
  }
  const interval = options?.checkIntervalMs;
  if (interval !== undefined) {
    // The one timer of both the token source and connection renewal: a stand-by token is re-signed
    // at the first check once it is tokenRefreshAfterMs (5 minutes) old and is usable for 14 of its
    // 15 minutes; renewal falls at 75-90 % of the connection age, the cut at 100 %.
    const problem = numberProblem('iam.checkIntervalMs', interval, { min: 1, max: MAX_IAM_CHECK_INTERVAL_MS, unit: 'ms' });
    if (problem) {
      problems.push(`${problem}: the check re-signs the stand-by IAM token (usable 14 minutes, re-signed from 5 minutes of age, so at most 5 minutes between checks leaves one more check before it lapses) and renews connections before ElastiCache's 12-hour cut; leave it unset (${IAM_DEFAULTS.checkIntervalMs})`);
    } else numbers.checkIntervalMs = interval;
  }
  // The interval in force, given or not (an attack review: only a given one was held to it).
  if (numbers.checkIntervalMs * RENEWAL_WINDOW_SHARES > numbers.maxConnectionAgeMs) {
    const given = interval === undefined ? ` (the default: set iam.checkIntervalMs to at most ${Math.floor(numbers.maxConnectionAgeMs / RENEWAL_WINDOW_SHARES)})` : '';
    problems.push(`iam.checkIntervalMs: ${numbers.checkIntervalMs}${given} is more than a tenth of iam.maxConnectionAgeMs (${numbers.maxConnectionAgeMs}): a connection due for renewal at 90 % of its age would be checked only after the cut; lower it`);
    numbers.checkIntervalMs = IAM_DEFAULTS.checkIntervalMs;
  }
  if (options?.now !== undefined && typeof options.now !== 'function') problems.push('iam.now: must be a function returning epoch milliseconds');
  const credentials = options?.credentials;
  const credentialsOk =
    credentials === undefined ||
    typeof credentials === 'function' ||
    (typeof credentials === 'object' && credentials !== null && typeof credentials.accessKeyId === 'string' && typeof credentials.secretAccessKey === 'string');
  if (!credentialsOk) problems.push('iam.credentials: must be an AWS SDK credential provider or { accessKeyId, secretAccessKey, sessionToken? }');
  return numbers;
}

/** Merges and checks the IAM settings; pushes one problem per fault and returns undefined when any. */
export function resolveIamAuth(options: IamConnectionOptions | undefined, env: Env, inputs: IamInputs, problems: string[]): ResolvedIamAuth | undefined {
  const before = problems.length;
  for (const setting of inputs.passwordSettings) {
    problems.push(`${setting}: not used with auth "iam" (the connection authenticates with IAM tokens); remove it, or use auth "password"`);
  }
  const cacheName = options?.cacheName ?? (env.KCC_REDIS_IAM_CACHE_NAME || undefined) ?? inputs.replicationGroupId;
  if (cacheName === undefined) {
    problems.push('iam.cacheName: missing; set iam.cacheName or KCC_REDIS_IAM_CACHE_NAME to the replication group id or serverless cache name (or set replicationGroupId)');
  }
  if (inputs.username === undefined) {
    problems.push('username: missing; with auth "iam" it is the IAM-enabled ElastiCache user id (equal to its name): set username or KCC_REDIS_USERNAME');
  }
  if (inputs.region === undefined) {
    problems.push('region: missing; IAM tokens are signed for the cache\'s region: set region, AWS_REGION or AWS_DEFAULT_REGION');
  }
  if (cacheName !== undefined && inputs.username !== undefined && inputs.region !== undefined) {
    const problem = iamTokenOptionsProblem({ cacheName, userId: inputs.username, region: inputs.region, serverless: inputs.serverless });
    if (problem) problems.push(problem.replace(/^cacheName:/, 'iam.cacheName:').replace(/^userId:/, `${usernameSource(inputs.username, env)}:`));
  }
  const numbers = iamBlockOptions(options, problems);
  if (problems.length > before) return undefined;
  return {
    cacheName: cacheName!.toLowerCase(),
    userId: inputs.username!,
    region: inputs.region!,
    serverless: inputs.serverless,
    credentials: credentialsProviderOf(options?.credentials),
    ...numbers,
    tokenRefreshAfterMs: IAM_DEFAULTS.tokenRefreshAfterMs,
    credentialsTimeoutMs: inputs.connectTimeoutMs ?? CONNECTION_DEFAULTS.connectTimeoutMs,
    credentialRefreshMinIntervalMs: inputs.credentialRefreshMinIntervalMs ?? CONNECTION_DEFAULTS.credentialRefreshMinIntervalMs,
    now: options?.now ?? Date.now,
  };
}
