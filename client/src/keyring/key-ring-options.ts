import { SECRET_ID, readKeyEncryptionKeySecret } from '../aws/secrets-manager.js';
import type { KccLogger } from '../logger.js';
import { CONNECTION_DEFAULTS } from '../options.js';
import { secretSourceWithin } from '../time-limit.js';
import { MAX_TIMER_MS, OptionProblems, booleanProblem, kindOf, show, showShaped } from '../option-checks.js';
import { MAX_LOCK_TTL_MS } from '../lock.js';
import { MIN_KEK_LENGTH } from '../contract/user-secret.js';
import { UNSAFE_LOCAL_KEK } from './key-encryption.js';
import { type KeyEncryptionKeyProvider, KeyEncryptionKeys } from './key-encryption-keys.js';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from './ring-data.js';

/**
 * Options of the signing-key ring. Times are milliseconds.
 *
 * | option | environment | default |
 * |---|---|---|
 * | `keyEncryptionKeySecretId` | `KCC_KEYRING_KEK_SECRET_ID` (`kekSecretArn` of the stack output `AppEnv<Name>`) | — |
 * | `keyEncryptionKey` | `KCC_KEYRING_KEK` | — |
 * | `keyEncryptionKeyProvider` | — | — |
 *
 * Give one source; one given as an option wins over every environment variable (of two environment
 * variables, `KCC_KEYRING_KEK`). The secret (and a provider) is re-read when a ring names a key-encryption key
 * this instance does not hold and every `keyEncryptionKeyRefreshIntervalMs`, so a rotated KEK is
 * picked up without a restart; a fixed `keyEncryptionKey` never changes.
 */
export interface KeyRingOptions {
  /** @default 'PS256' */
  readonly algorithm?: SigningAlgorithm;
  /** Secret (≥ 32 characters) that encrypts private keys before they go to Redis. */
  readonly keyEncryptionKey?: string;
  /**
   * Secrets Manager secret `{ "v": 1, "kek": "…", "previous": […] }` holding the key-encryption key
   * and the earlier ones (the stack creates one per app-env and rotates it).
   */
  readonly keyEncryptionKeySecretId?: string;
  /** Your own source of the key-encryption keys (current and earlier ones); replaces the two options above. */
  readonly keyEncryptionKeyProvider?: KeyEncryptionKeyProvider;
  /** How often the key-encryption keys are re-read from the secret or provider. @default 900000 (15 minutes) */
  readonly keyEncryptionKeyRefreshIntervalMs?: number;
  /**
   * Store private keys under a well-known key, i.e. effectively in plaintext. Local development only;
   * logged as a warning at every start.
   * @default false
   */
  readonly unsafeAllowPlaintextPrivateKeys?: boolean;
  /** Scheduled rotation period. @default 30 days */
  readonly rotateEveryMs?: number;
  /**
   * Time between publishing a new key and signing with it. Must exceed the identity provider's
   * JWKS cache/refetch window (Keycloak: refetch on unknown kid at most every 10 s; oidc-provider: 60 s) plus propagation.
   * @default 120000
   */
  readonly activationDelayMs?: number;
  /** How long a retired key stays in the JWKS after the next key activates. @default 15 minutes */
  readonly retireGraceMs?: number;
  /** Periodic re-read of the ring, the fallback to the event log. @default 30000 */
  readonly refreshIntervalMs?: number;
  /** How long the creation/rotation lock is held at most. @default 30000 */
  readonly lockTtlMs?: number;
  /** Age after which events are trimmed from the key ring's event log. @default 10 hours */
  readonly eventLogMaxAgeMs?: number;
  /** AWS region of the key-encryption-key secret given by name (an ARN's own region always wins). @default the connection's (`region`, AWS_REGION, AWS_DEFAULT_REGION), else the AWS SDK's */
  readonly region?: string;
  /** Environment to read; for tests. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const KEY_RING_DEFAULTS = {
  algorithm: 'PS256' as SigningAlgorithm,
  rotateEveryMs: 30 * 24 * 3_600_000,
  activationDelayMs: 120_000,
  retireGraceMs: 15 * 60_000,
  refreshIntervalMs: 30_000,
  lockTtlMs: 30_000,
  eventLogMaxAgeMs: 10 * 3_600_000,
  keyEncryptionKeyRefreshIntervalMs: 15 * 60_000,
} as const;

export interface ResolvedKeyRingOptions {
  readonly algorithm: SigningAlgorithm;
  readonly rotateEveryMs: number;
  readonly activationDelayMs: number;
  readonly retireGraceMs: number;
  readonly refreshIntervalMs: number;
  readonly lockTtlMs: number;
  readonly eventLogMaxAgeMs: number;
  readonly keyEncryptionKeyRefreshIntervalMs: number;
  readonly keks: KeyEncryptionKeys;
  readonly unsafePlaintext: boolean;
}

/**
 * Each duration option, its smallest value (a key may activate at once and leave the JWKS at once)
 * and its largest, if any: a lock no honest holder keeps longer (lock.ts), and Node's longest timer
 * for the two intervals that are a timer's (a longer one fires every millisecond: a read of the ring
 * or of the key-encryption keys in a loop).
 */
const DURATIONS = [
  ['rotateEveryMs', 1],
  ['activationDelayMs', 0],
  ['retireGraceMs', 0],
  ['refreshIntervalMs', 1, MAX_TIMER_MS],
  ['lockTtlMs', 1, MAX_LOCK_TTL_MS],
  ['eventLogMaxAgeMs', 1],
  ['keyEncryptionKeyRefreshIntervalMs', 1, MAX_TIMER_MS],
] as const;

/** Every option of KeyRingOptions (the compiler keeps the list whole): any other key is a misspelling. */
const KEY_RING_OPTION_NAMES = {
  algorithm: true, keyEncryptionKey: true, keyEncryptionKeySecretId: true, keyEncryptionKeyProvider: true,
  keyEncryptionKeyRefreshIntervalMs: true, unsafeAllowPlaintextPrivateKeys: true, rotateEveryMs: true, activationDelayMs: true,
  retireGraceMs: true, refreshIntervalMs: true, lockTtlMs: true, eventLogMaxAgeMs: true, region: true, env: true,
} as const satisfies Record<keyof KeyRingOptions, true>;

/** Validates the options and reads the key-encryption keys; one error names every problem. */
export async function resolveKeyRingOptions(options: KeyRingOptions, logger: KccLogger, connectionRegion?: string, readTimeoutMs: number = CONNECTION_DEFAULTS.connectTimeoutMs): Promise<ResolvedKeyRingOptions> {
  return planKeyRingOptions(options, logger, connectionRegion, readTimeoutMs)();
}

/**
 * {@link resolveKeyRingOptions} in two steps: the options are checked now (a KccConfigError naming
 * every problem is thrown before anything is read or connected), and the function returned reads
 * the key-encryption keys.
 */
export function planKeyRingOptions(options: KeyRingOptions, logger: KccLogger, connectionRegion?: string, readTimeoutMs: number = CONNECTION_DEFAULTS.connectTimeoutMs): () => Promise<ResolvedKeyRingOptions> {
  const problems = new OptionProblems();
  problems.unknownKeys(options, KEY_RING_OPTION_NAMES);
  const algorithm = options.algorithm ?? KEY_RING_DEFAULTS.algorithm;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) problems.add(`algorithm: ${show(algorithm)} must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const durations = Object.fromEntries(
    DURATIONS.map(([name, min, max]) => [name, problems.number(name, options[name], KEY_RING_DEFAULTS[name], { min, ...(max === undefined ? {} : { max }), unit: 'ms' })]),
  ) as Record<(typeof DURATIONS)[number][0], number>;
  const readKeys = planKeyEncryptionKeys(options, logger, problems, connectionRegion, readTimeoutMs);
  return async () => ({ ...durations, algorithm, ...(await readKeys()) });
}

/**
 * Why the environment names no one key-encryption-key source: both variables set, one a fixed key (a
 * development .env leaking into a deployment would otherwise replace the stack's rotating secret in
 * silence, and rings written under it are unreadable to the rest of the fleet). Shared with the CLI,
 * which reads the environment as an app does.
 */
export function kekEnvironmentConflict(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!env.KCC_KEYRING_KEK || !env.KCC_KEYRING_KEK_SECRET_ID) return undefined;
  return "KCC_KEYRING_KEK, KCC_KEYRING_KEK_SECRET_ID: both are set; unset one (KCC_KEYRING_KEK is a fixed key, never rotated; KCC_KEYRING_KEK_SECRET_ID the stack's rotating secret)";
}

/**
 * What is wrong with the key-encryption-key options as given, told from them alone (no environment,
 * nothing read): `unsafeAllowPlaintextPrivateKeys` that is no boolean (a string 'false' would store
 * private keys under the well-known key), two sources given, a key or secret id of the wrong kind.
 * `path` prefixes each option's name (`'keyEncryptionKeys.'` for the keycloak-connector drop-in).
 */
export function keyEncryptionKeyOptionProblems(options: KeyRingOptions, path = ''): string[] {
  const problems = new OptionProblems();
  const { keyEncryptionKeyProvider: provider, keyEncryptionKey: kek, keyEncryptionKeySecretId: secretId } = options as { [K in keyof KeyRingOptions]?: unknown };
  const plaintext = booleanProblem(`${path}unsafeAllowPlaintextPrivateKeys`, options.unsafeAllowPlaintextPrivateKeys);
  if (plaintext) problems.add(plaintext);
  if (provider !== undefined && typeof provider !== 'function') problems.add(`${path}keyEncryptionKeyProvider: must be a function returning { kek, previous } (got ${show(provider)})`);
  if (provider !== undefined && kek !== undefined) problems.add(`${path}keyEncryptionKeyProvider: give it or keyEncryptionKey, not both`);
  if (provider !== undefined && secretId !== undefined) problems.add(`${path}keyEncryptionKeyProvider: give it or keyEncryptionKeySecretId, not both`);
  // As with a provider: the fixed key would win in silence, and the stack's rotating secret be ignored.
  if (kek !== undefined && secretId !== undefined) {
    problems.add(`${path}keyEncryptionKey: give it or keyEncryptionKeySecretId, not both (keyEncryptionKey is a fixed key, never rotated; keyEncryptionKeySecretId the stack's rotating secret)`);
  }
  if (secretId !== undefined && !(typeof secretId === 'string' && SECRET_ID.test(secretId))) problems.add(secretIdProblem(`${path}keyEncryptionKeySecretId`, secretId));
  if (provider === undefined && kek !== undefined && typeof kek !== 'string') {
    problems.add(`${path}keyEncryptionKey: ${kindOf(kek)}, not a string; give a secret of at least ${MIN_KEK_LENGTH} characters, or keyEncryptionKeySecretId (the stack's rotating secret)`);
  } else if (provider === undefined && typeof kek === 'string' && kek.length < MIN_KEK_LENGTH) problems.add(`${path}keyEncryptionKey: must be at least ${MIN_KEK_LENGTH} characters (has ${kek.length})`);
  if (options.region !== undefined && typeof options.region !== 'string') problems.add(`${path}region: ${kindOf(options.region)}, not an AWS region; give e.g. 'eu-west-1', or leave it unset for the connection's`);
  return problems.list;
}

function secretIdProblem(name: string, secretId: unknown): string {
  return `${name}: ${showShaped(secretId, /^$/)} is not a Secrets Manager secret name or ARN (letters, digits and /_+=.@-, up to 512 characters); give kekSecretArn of the app-env's stack output`;
}

/**
 * The key-encryption keys of the options (or environment), read once: a provider, a fixed key, or
 * the stack's secret; with none, `unsafeAllowPlaintextPrivateKeys` gives the well-known local key.
 * Used by {@link resolveKeyRingOptions} and by the read-only `KeyRing.inspect`.
 */
export async function resolveKeyEncryptionKeys(
  options: KeyRingOptions,
  logger: KccLogger,
  problems = new OptionProblems(),
  connectionRegion?: string,
  readTimeoutMs: number = CONNECTION_DEFAULTS.connectTimeoutMs,
): Promise<ResolvedKeyEncryptionKeys> {
  return planKeyEncryptionKeys(options, logger, problems, connectionRegion, readTimeoutMs)();
}

interface ResolvedKeyEncryptionKeys {
  readonly keks: KeyEncryptionKeys;
  readonly unsafePlaintext: boolean;
}

/** {@link resolveKeyEncryptionKeys} in two steps: the options and environment are checked now (throwing every problem of `problems`), the keys read by the function returned. */
function planKeyEncryptionKeys(
  options: KeyRingOptions,
  logger: KccLogger,
  problems: OptionProblems,
  connectionRegion: string | undefined,
  readTimeoutMs: number,
): () => Promise<ResolvedKeyEncryptionKeys> {
  const env = options.env ?? process.env;
  const provider = options.keyEncryptionKeyProvider;
  // Explicit options win over environment variables: the environment is read only when no source is given.
  const explicit = provider !== undefined || options.keyEncryptionKey !== undefined || options.keyEncryptionKeySecretId !== undefined;
  const secretId = explicit ? options.keyEncryptionKeySecretId : env.KCC_KEYRING_KEK_SECRET_ID;
  const kekText: unknown = explicit ? options.keyEncryptionKey : env.KCC_KEYRING_KEK;
  const optionProblems = keyEncryptionKeyOptionProblems(options);
  for (const problem of optionProblems) problems.add(problem);
  if (!explicit && secretId !== undefined && !SECRET_ID.test(secretId)) problems.add(secretIdProblem('KCC_KEYRING_KEK_SECRET_ID', secretId));
  const conflict = explicit ? undefined : kekEnvironmentConflict(env);
  if (conflict) problems.add(`${conflict}, or give the source as an option, which wins over both`);
  if (provider === undefined && kekText === undefined && secretId === undefined && options.unsafeAllowPlaintextPrivateKeys !== true && optionProblems.length === 0) {
    problems.add('keyEncryptionKey: missing; set KCC_KEYRING_KEK_SECRET_ID (the stack creates one per app-env) or KCC_KEYRING_KEK, or keyEncryptionKeyProvider, or for local development only unsafeAllowPlaintextPrivateKeys: true');
  }
  if (!explicit && typeof kekText === 'string' && kekText.length < MIN_KEK_LENGTH) problems.add(`KCC_KEYRING_KEK: must be at least ${MIN_KEK_LENGTH} characters (has ${kekText.length})`);
  problems.throwIfAny('kcc-redis key ring config');
  if (provider !== undefined) {
    return async () => ({ keks: await KeyEncryptionKeys.load(secretSourceWithin('keyEncryptionKeyProvider', provider, readTimeoutMs), logger, true), unsafePlaintext: false });
  }
  if (typeof kekText === 'string') return async () => ({ keks: await KeyEncryptionKeys.load(async () => ({ kek: kekText }), logger, false), unsafePlaintext: false });
  if (secretId !== undefined) {
    const region = options.region ?? connectionRegion ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    return async () => ({ keks: await KeyEncryptionKeys.load(() => readKeyEncryptionKeySecret(secretId, region, readTimeoutMs), logger, true), unsafePlaintext: false });
  }
  return async () => ({ keks: await KeyEncryptionKeys.load(async () => ({ kek: UNSAFE_LOCAL_KEK }), logger, false), unsafePlaintext: true });
}
