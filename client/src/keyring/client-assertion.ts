import { randomUUID, type webcrypto } from 'node:crypto';
import { SignJWT } from 'jose';
import { checkNumberArgument } from '../option-checks.js';
import type { SigningAlgorithm } from './ring-data.js';

/** The key to sign with now. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  /** Non-extractable private key. */
  readonly key: webcrypto.CryptoKey;
}

export interface ClientAssertionRequest {
  /** The OIDC client id: `iss` and `sub` of the assertion. */
  readonly clientId: string;
  /** The single audience: the realm's issuer URL (Keycloak also accepts the token endpoint). */
  readonly audience: string;
  /** Lifetime in seconds, at most 60. @default 60 */
  readonly lifetimeSeconds?: number;
}

const MAX_LIFETIME_SECONDS = 60;

/**
 * Signs a `private_key_jwt` client assertion (RFC 7523) the way Keycloak expects: `iss` = `sub` =
 * client id, one `aud`, `exp` at most 60 s after `iat`, a unique `jti`, header `kid` and `alg`.
 *
 * No `nbf` (RFC 7523 does not ask for one): Keycloak before 26.4 checks an assertion's `nbf` with no
 * clock skew allowed (keycloak/keycloak#8966, fixed by #34841), so an app clock a fraction of a second
 * ahead of Keycloak's failed a share of the token requests with "Token is not active".
 */
export function signClientAssertion(signingKey: SigningKey, request: ClientAssertionRequest): Promise<string> {
  const lifetime = checkNumberArgument('lifetimeSeconds', request.lifetimeSeconds ?? MAX_LIFETIME_SECONDS, { min: 1, max: MAX_LIFETIME_SECONDS, unit: 's' });
  if (!request.clientId) throw new TypeError('clientId: must be a non-empty string');
  if (!request.audience) throw new TypeError('audience: must be a non-empty string (the issuer URL)');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: signingKey.alg, kid: signingKey.kid, typ: 'JWT' })
    .setIssuer(request.clientId)
    .setSubject(request.clientId)
    .setAudience(request.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(randomUUID())
    .sign(signingKey.key);
}

/**
 * The shape of openid-client v6's `ClientAuth`: called on every token-endpoint request to
 * authenticate the client. Structural, so the client package does not depend on openid-client.
 */
export type ClientAuthFunction = (
  as: { readonly issuer: string },
  client: { readonly client_id: string },
  body: URLSearchParams,
  headers: Headers,
) => Promise<void>;

/** openid-client `ClientAuth` that signs with whatever key `currentKey` gives at each call (it may wait, e.g. for the ring to catch up). */
export function privateKeyJwtClientAuth(currentKey: () => SigningKey | Promise<SigningKey>): ClientAuthFunction {
  return async (as, client, body) => {
    const assertion = await signClientAssertion(await currentKey(), { clientId: client.client_id, audience: as.issuer });
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    body.set('client_assertion', assertion);
  };
}
