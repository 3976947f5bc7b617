import { readKeyEncryptionKeySecret } from '../aws/secrets-manager.js';
import { OptionProblems, show } from '../option-checks.js';
import { MIN_KEK_LENGTH } from '../contract/user-secret.js';
import { KeyEncryptionKey, UNSAFE_LOCAL_KEK } from './key-encryption.js';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from './ring-data.js';

/**
 * Options of the signing-key ring. Times are milliseconds.
 *
 * | option | environment | default |
 * |---|---|---|
 * | `keyEncryptionKey` | `KCC_KEYRING_KEK` | — |
 * | `keyEncryptionKeySecretId` | `KCC_KEYRING_KEK_SECRET_ID` (stack output `<AppEnv>KekSecretArn`) | — |
 */
export interface KeyRingOptions {
  /** @default 'PS256' */
  readonly algorithm?: SigningAlgorithm;
  /** Secret (≥ 32 characters) that encrypts private keys before they go to Redis. */
  readonly keyEncryptionKey?: string;
  /** Secrets Manager secret `{ "kek": "…" }` holding the key-encryption key (the stack creates one per app-env). */
  readonly keyEncryptionKeySecretId?: string;
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
  /** AWS region for the key-encryption-key secret. @default the connection's / the SDK's */
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
} as const;

export interface ResolvedKeyRingOptions {
  readonly algorithm: SigningAlgorithm;
  readonly rotateEveryMs: number;
  readonly activationDelayMs: number;
  readonly retireGraceMs: number;
  readonly refreshIntervalMs: number;
  readonly lockTtlMs: number;
  readonly eventLogMaxAgeMs: number;
  readonly kek: KeyEncryptionKey;
  readonly unsafePlaintext: boolean;
}

/** Each duration option and its smallest value: a key may activate at once and leave the JWKS at once. */
const DURATIONS = [
  ['rotateEveryMs', 1],
  ['activationDelayMs', 0],
  ['retireGraceMs', 0],
  ['refreshIntervalMs', 1],
  ['lockTtlMs', 1],
  ['eventLogMaxAgeMs', 1],
] as const;

/** Validates the options and obtains the key-encryption key; one error names every problem. */
export async function resolveKeyRingOptions(options: KeyRingOptions): Promise<ResolvedKeyRingOptions> {
  const env = options.env ?? process.env;
  const problems = new OptionProblems();
  const algorithm = options.algorithm ?? KEY_RING_DEFAULTS.algorithm;
  if (!SIGNING_ALGORITHMS.includes(algorithm)) problems.add(`algorithm: ${show(algorithm)} must be one of ${SIGNING_ALGORITHMS.join(', ')}`);
  const durations = Object.fromEntries(
    DURATIONS.map(([name, min]) => [name, problems.number(name, options[name], KEY_RING_DEFAULTS[name], { min, unit: 'ms' })]),
  ) as Record<(typeof DURATIONS)[number][0], number>;
  const secretId = options.keyEncryptionKeySecretId ?? env.KCC_KEYRING_KEK_SECRET_ID;
  let kekText = options.keyEncryptionKey ?? env.KCC_KEYRING_KEK;
  if (kekText === undefined && secretId === undefined && !options.unsafeAllowPlaintextPrivateKeys) {
    problems.add('keyEncryptionKey: missing; set KCC_KEYRING_KEK or KCC_KEYRING_KEK_SECRET_ID (the stack creates one per app-env), or for local development only unsafeAllowPlaintextPrivateKeys: true');
  }
  if (kekText !== undefined && kekText.length < MIN_KEK_LENGTH) problems.add(`keyEncryptionKey: must be at least ${MIN_KEK_LENGTH} characters (has ${kekText.length})`);
  problems.throwIfAny('kcc-redis key ring config');
  if (kekText === undefined && secretId !== undefined) {
    kekText = (await readKeyEncryptionKeySecret(secretId, options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION)).kek;
  }
  const unsafePlaintext = kekText === undefined;
  return { ...durations, algorithm, kek: new KeyEncryptionKey(kekText ?? UNSAFE_LOCAL_KEK), unsafePlaintext };
}
