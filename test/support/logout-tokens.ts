import { createHmac, randomUUID } from 'node:crypto';
import { CompactSign, type CryptoKey, type JWK, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { KeycloakPushVerifier, VerifiedKeycloakPush } from '../../client/src/index.js';

export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A realm signing key: the private key and its public JWK (with kid, alg, use). */
export interface RealmKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function realmKey(kid: string, alg = 'RS256'): Promise<RealmKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export type Claims = Record<string, unknown>;

/** Claims of a valid logout token; `undefined` in `overrides` removes a claim. */
export function logoutClaims(issuer: string, overrides: Claims = {}): Claims {
  const now = Math.floor(Date.now() / 1000);
  const claims: Claims = {
    iss: issuer, aud: 'shop', iat: now, exp: now + 120, jti: randomUUID(),
    sub: 'user-1', sid: 'session-1', events: { [LOGOUT_EVENT]: {} },
    ...overrides,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims;
}

/** Signs `claims` with `key`; `header` overrides the protected header (`typ: undefined` removes it). */
export async function signToken(key: RealmKey, claims: Claims, header: Record<string, unknown> = {}): Promise<string> {
  const protectedHeader: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'logout+jwt', ...header };
  for (const [name, value] of Object.entries(protectedHeader)) if (value === undefined) delete protectedHeader[name];
  return new SignJWT(claims).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey);
}

/**
 * A Keycloak "push not-before" admin action for client `resource`, valid 30 s, signed with `key` as
 * Keycloak signs what it POSTs to k_push_not_before, then verified by `verifier` (which throws
 * here when it refuses it): what a Keycloak admin handler hands to Revocations.applyKeycloakPush.
 */
export async function verifiedNotBeforePush(key: RealmKey, verifier: KeycloakPushVerifier, notBefore: number, resource = 'shop'): Promise<VerifiedKeycloakPush> {
  const expiration = Math.floor(Date.now() / 1000) + 30;
  const action = await new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration, resource, action: 'PUSH_NOT_BEFORE', notBefore })))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
  const verdict = await verifier.verify(action);
  if (!verdict.ok) throw new Error(`push not verified: ${verdict.reason}`);
  return verdict.push;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token: `alg: none`, empty signature. */
export function unsignedToken(claims: Claims, kid: string): string {
  return `${b64({ alg: 'none', kid, typ: 'logout+jwt' })}.${b64(claims)}.`;
}

/** The classic confusion attack: HS256 "signed" with bytes of the realm's public key as the HMAC secret. */
export function hmacToken(claims: Claims, kid: string, secret: string | Buffer): string {
  const input = `${b64({ alg: 'HS256', kid, typ: 'logout+jwt' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export function publicKeyPem(key: RealmKey): Promise<string> {
  return exportSPKI(key.publicKey);
}

/** A form body carrying `token` as `logout_token`. */
export function form(token: string): string {
  return new URLSearchParams({ logout_token: token }).toString();
}

export const FORM_TYPE = 'application/x-www-form-urlencoded';
