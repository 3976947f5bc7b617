import { type JWTVerifyGetKey, createRemoteJWKSet } from 'jose';

/**
 * The JWS algorithms a realm may sign logout tokens and admin actions with: asymmetric only. `none`
 * and the HMAC family (`HS256`…) are never accepted: with HMAC, anyone holding the realm's public
 * key could forge a token.
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
] as const;

export type AsymmetricJwsAlgorithm = (typeof ASYMMETRIC_JWS_ALGORITHMS)[number];

/** Where the realm's signing keys come from, and which algorithms they may use. */
export interface RealmKeysOptions {
  /** The realm's issuer URL, e.g. `https://sso.example.com/realms/shop`. */
  readonly issuer: string;
  /**
   * The realm's JWKS endpoint, fetched with caching and an unknown-`kid` refetch.
   * @default `<issuer>/protocol/openid-connect/certs` (Keycloak's)
   */
  readonly jwksUri?: string | URL;
  /** A key getter to use instead of fetching `jwksUri` (jose `createLocalJWKSet`, or one shared by several handlers). */
  readonly jwks?: JWTVerifyGetKey;
  /** Accepted `alg` values; asymmetric only. @default every entry of ASYMMETRIC_JWS_ALGORITHMS */
  readonly algorithms?: readonly AsymmetricJwsAlgorithm[];
  /** How long a fetched JWKS is used before it is fetched again. @default 600000 */
  readonly jwksCacheMaxAgeMs?: number;
  /** Minimum time between two fetches triggered by an unknown `kid`. @default 30000 */
  readonly jwksCooldownMs?: number;
  /** Timeout of one JWKS fetch. @default 5000 */
  readonly jwksTimeoutMs?: number;
}

export const REALM_KEYS_DEFAULTS = {
  jwksCacheMaxAgeMs: 600_000,
  jwksCooldownMs: 30_000,
  jwksTimeoutMs: 5_000,
} as const;

/** The realm key getter and algorithm list, resolved from RealmKeysOptions. */
export interface RealmKeys {
  readonly getKey: JWTVerifyGetKey;
  readonly algorithms: readonly AsymmetricJwsAlgorithm[];
}

function checkDuration(value: number | undefined, option: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
    throw new TypeError(`${option}: ${value} must be a whole number of milliseconds, 0 or more`);
  }
}

/**
 * Resolves where keys come from and which algorithms are allowed; throws a TypeError naming the
 * option on misuse (an HMAC or `none` algorithm, both `jwks` and `jwksUri`, a bad issuer).
 *
 * @example
 * const keys = resolveRealmKeys({ issuer: 'https://sso.example.com/realms/shop' });
 * // share keys.getKey between the back-channel and Keycloak admin handlers:
 * createBackchannelLogoutHandler({ ..., jwks: keys.getKey });
 */
export function resolveRealmKeys(options: RealmKeysOptions): RealmKeys {
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(options.issuer);
  } catch {
    throw new TypeError(`issuer: "${String(options.issuer)}" must be an absolute URL (the realm's issuer)`);
  }
  const algorithms = options.algorithms ?? ASYMMETRIC_JWS_ALGORITHMS;
  if (algorithms.length === 0) throw new TypeError('algorithms: must list at least one asymmetric JWS algorithm');
  for (const alg of algorithms) {
    if (!(ASYMMETRIC_JWS_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`algorithms: "${alg}" is not allowed; use asymmetric algorithms only (${ASYMMETRIC_JWS_ALGORITHMS.join(', ')})`);
    }
  }
  checkDuration(options.jwksCacheMaxAgeMs, 'jwksCacheMaxAgeMs');
  checkDuration(options.jwksCooldownMs, 'jwksCooldownMs');
  checkDuration(options.jwksTimeoutMs, 'jwksTimeoutMs');
  if (options.jwks) {
    if (options.jwksUri !== undefined) throw new TypeError('jwks, jwksUri: give one of them, not both');
    return { getKey: options.jwks, algorithms };
  }
  const base = issuerUrl.href.replace(/\/+$/, '');
  let jwksUrl: URL;
  try {
    jwksUrl = new URL(options.jwksUri ?? `${base}/protocol/openid-connect/certs`);
  } catch {
    throw new TypeError(`jwksUri: "${String(options.jwksUri)}" must be an absolute URL`);
  }
  const getKey = createRemoteJWKSet(jwksUrl, {
    cacheMaxAge: options.jwksCacheMaxAgeMs ?? REALM_KEYS_DEFAULTS.jwksCacheMaxAgeMs,
    cooldownDuration: options.jwksCooldownMs ?? REALM_KEYS_DEFAULTS.jwksCooldownMs,
    timeoutDuration: options.jwksTimeoutMs ?? REALM_KEYS_DEFAULTS.jwksTimeoutMs,
  });
  return { getKey, algorithms };
}

/** Why a signed token failed before its payload was looked at. */
export type SignatureFailure = 'malformed_token' | 'unsupported_alg' | 'unknown_kid' | 'bad_signature';

const SIGNATURE_FAILURES: Readonly<Record<string, SignatureFailure>> = {
  ERR_JWS_INVALID: 'malformed_token',
  ERR_JWT_INVALID: 'malformed_token',
  ERR_JOSE_NOT_SUPPORTED: 'malformed_token',
  ERR_JOSE_ALG_NOT_ALLOWED: 'unsupported_alg',
  ERR_JWKS_NO_MATCHING_KEY: 'unknown_kid',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'bad_signature',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
};

const CLAIM_ERRORS = new Set(['ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWT_EXPIRED']);

/**
 * Sorts an error thrown by jose's verification: a signature-stage failure of the token (400), a
 * claim failure (`'claims'`, for the caller to map), or anything else — the JWKS could not be
 * fetched, timed out or was invalid — `'keys_unavailable'` (503, the identity provider retries).
 */
export function classifyVerificationError(error: unknown): SignatureFailure | 'claims' | 'keys_unavailable' {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') {
    const failure = SIGNATURE_FAILURES[code];
    if (failure) return failure;
    if (CLAIM_ERRORS.has(code)) return 'claims';
  }
  return 'keys_unavailable';
}
