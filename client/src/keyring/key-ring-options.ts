import { readKeyEncryptionKeySecret } from '../aws/secrets-manager.js';
import type { KccLogger } from '../logger.js';
import { CONNECTION_DEFAULTS } from '../options.js';
import { secretSourceWithin } from '../time-limit.js';
import { OptionProblems, show } from '../option-checks.js';
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

/** Each duration option, its smallest value (a key may activate at once and leave the JWKS at once) and its largest, if any (a lock no honest holder keeps longer, lock.ts). */
const DURATIONS = [
  ['rotateEveryMs', 1],
  ['activationDelayMs', 0],
  ['retireGraceMs', 0],
  ['refreshIntervalMs', 1],
  ['lockTtlMs', 1, MAX_LOCK_TTL_MS],
  ['eventLogMaxAgeMs', 1],
  ['keyEncryptionKeyRefreshIntervalMs', 1],
] as const;

/** Every option of KeyRingOptions (the compiler keeps the list whole): any other key is a misspelling. */
const KEY_RING_OPTION_NAMES = {
  algorithm: true, keyEncryptionKey: true, keyEncryptionKeySecretId: true, keyEncryptionKeyProvider: true,
  keyEncryptionKeyRefreshIntervalMs: true, unsafeAllowPlaintextPrivateKeys: true, rotateEveryMs: true, activationDelayMs: true,
  retireGraceMs: true, refreshIntervalMs: true, lockTtlMs: true, eventLogMaxAgeMs: true, region: true, env: true,
} as const satisfies Record<keyof KeyRingOptions, true>;

/** Validates the options and reads the key-encryption keys; one error names every problem. */
export async function resolveKeyRingOptions(options: KeyRingOptions, logger: KccLogger, connectionRegion?: string, readTimeoutMs: number = CONNECTION_DEFAULTS.connectTimeoutMs): Promise<ResolvedKeyRingOptions> {
  const problems = new OptionProblems();
  problems.unknownKeys(options, KEY_RING_OPTION_NAMES);
  const algorithm = options.algorithm ?? KEY_RING_DEFAULTS.algorithm;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) problems.add(`algorithm: ${show(algorithm)} must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const durations = Object.fromEntries(
    DURATIONS.map(([name, min, max]) => [name, problems.number(name, options[name], KEY_RING_DEFAULTS[name], { min, ...(max === undefined ? {} : { max }), unit: 'ms' })]),
  ) as Record<(typeof DURATIONS)[number][0], number>;
  return { ...durations, algorithm, ...(await resolveKeyEncryptionKeys(options, logger, problems, connectionRegion, readTimeoutMs)) };
}

/**
 * Why the environment names no one key-encryption-key source: both variables set, one a fixed key (a
 * development .env leaking into a deployment would otherwise replace the stack's rotating secret in
 * silence, and rings written under it are unreadable to the rest of the fleet). Shared with the CLI,
 * which reads the environment as an app does.
 */
export function kekEnvironmentConflict(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!env.KCC_KEYRING_KEK || !env.KCC_KEYRING_KEK_SECRET_ID) return undefined;
  return "KCC_KEYRING_KEK and KCC_KEYRING_KEK_SECRET_ID are both set; unset one (KCC_KEYRING_KEK is a fixed key, never rotated; KCC_KEYRING_KEK_SECRET_ID the stack's rotating secret)";
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
): Promise<{ keks: KeyEncryptionKeys; unsafePlaintext: boolean }> {
  const env = options.env ?? process.env;
  const provider = options.keyEncryptionKeyProvider;
  // Explicit options win over environment variables: the environment is read only when no source is given.
  const explicit = provider !== undefined || options.keyEncryptionKey !== undefined || options.keyEncryptionKeySecretId !== undefined;
  const secretId = explicit ? options.keyEncryptionKeySecretId : env.KCC_KEYRING_KEK_SECRET_ID;
  const kekText = explicit ? options.keyEncryptionKey : env.KCC_KEYRING_KEK;
  if (provider !== undefined && typeof provider !== 'function') problems.add(`keyEncryptionKeyProvider: must be a function returning { kek, previous } (got ${show(provider)})`);
  if (provider !== undefined && options.keyEncryptionKey !== undefined) problems.add('keyEncryptionKeyProvider: give it or keyEncryptionKey, not both');
  const conflict = explicit ? undefined : kekEnvironmentConflict(env);
  if (conflict) problems.add(`${conflict}, or give the source as an option, which wins over both`);
  if (provider === undefined && kekText === undefined && secretId === undefined && !options.unsafeAllowPlaintextPrivateKeys) {
    problems.add('keyEncryptionKey: missing; set KCC_KEYRING_KEK_SECRET_ID (the stack creates one per app-env) or KCC_KEYRING_KEK, or keyEncryptionKeyProvider, or for local development only unsafeAllowPlaintextPrivateKeys: true');
  }
  if (provider === undefined && kekText !== undefined && kekText.length < MIN_KEK_LENGTH) problems.add(`keyEncryptionKey: must be at least ${MIN_KEK_LENGTH} characters (has ${kekText.length})`);
  problems.throwIfAny('kcc-redis key ring config');
  if (provider !== undefined) {
    return { keks: await KeyEncryptionKeys.load(secretSourceWithin('keyEncryptionKeyProvider', provider, readTimeoutMs), logger, true), unsafePlaintext: false };
  }
  if (kekText !== undefined) return { keks: await KeyEncryptionKeys.load(async () => ({ kek: kekText }), logger, false), unsafePlaintext: false };
  if (secretId !== undefined) {
    const region = options.region ?? connectionRegion ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    return { keks: await KeyEncryptionKeys.load(() => readKeyEncryptionKeySecret(secretId, region, readTimeoutMs), logger, true), unsafePlaintext: false };
  }
  return { keks: await KeyEncryptionKeys.load(async () => ({ kek: UNSAFE_LOCAL_KEK }), logger, false), unsafePlaintext: true };
}
