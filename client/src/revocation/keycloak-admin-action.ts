import { compactVerify } from 'jose';
import { OptionProblems, requireOptionsObject, show } from '../option-checks.js';
import { isPlainObject } from '../plain-object.js';
import { REALM_KEYS_OPTION_NAMES, type RealmKeys, type RealmKeysOptions, type SignatureFailure, classifyVerificationError, realmKeysFrom } from './realm-keys.js';
import { MAX_NOT_BEFORE_SKEW_SECONDS, NOT_BEFORE_READ_SLACK_SECONDS, latestNotBefore } from './revocation-event.js';

/**
 * The payload Keycloak signs for its legacy admin endpoints (`AdminAction`, `LogoutAction`,
 * `PushNotBeforeAction` in keycloak/keycloak `core/.../representations/adapters/action/`): times are
 * epoch seconds (Java `int`); `expiration` is 30 s after sending; the id lists are absent when null.
 */
export interface KeycloakAdminAction {
  readonly id: string;
  readonly expiration: number;
  readonly resource: string;
  readonly action: 'LOGOUT' | 'PUSH_NOT_BEFORE';
  readonly notBefore: number;
  /** Keycloak user-session ids: the `sid` of the tokens. */
  readonly keycloakSessionIds?: readonly string[];
  /** The ids the adapter registered as `client_session_state`. */
  readonly adapterSessionIds?: readonly string[];
}

/**
 * Keycloak sets an action's `expiration` to the time it sends it plus this (`Time.currentTime() + 30`
 * in `ResourceAdminManager.sendLogoutRequest` and `OIDCLoginProtocol.sendPushRevocationPolicyRequest`).
 */
export const KEYCLOAK_ACTION_LIFETIME_SECONDS = 30;

/**
 * How far ahead of this instance's clock an action's `expiration` may lie (seconds): Keycloak's 30 s
 * plus the clock difference allowed for not-befores ({@link MAX_NOT_BEFORE_SKEW_SECONDS}). A later
 * one is no action Keycloak sent; refusing it also keeps the action's replay record short.
 */
export const MAX_ACTION_EXPIRATION_AHEAD_SECONDS = KEYCLOAK_ACTION_LIFETIME_SECONDS + MAX_NOT_BEFORE_SKEW_SECONDS;

/**
 * The latest `expiration` (epoch s) accepted at `nowMs`; `slackSeconds` for a push read from Redis
 * ({@link NOT_BEFORE_READ_SLACK_SECONDS}).
 * @internal
 */
export function latestActionExpiration(nowMs: number, slackSeconds = 0): number {
  return Math.floor(nowMs / 1000) + MAX_ACTION_EXPIRATION_AHEAD_SECONDS + slackSeconds;
}

/**
 * Claims every JWT Keycloak signs carries some of (access, ID, refresh, logout and action tokens are
 * `JsonWebToken`s with `iss`, `iat`, `exp`, `typ`, …) and an admin action never does: an admin action
 * is a bare `AdminAction` whose only members are those of {@link KeycloakAdminAction}. A realm-signed
 * token with any of them is not an admin action, whatever else it carries.
 */
export const NON_ADMIN_ACTION_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'typ', 'azp', 'sid'] as const;

/** Why a realm-signed admin action is refused. */
export type AdminActionRejection =
  | SignatureFailure
  | 'bad_typ' | 'bad_payload' | 'not_admin_action' | 'wrong_action' | 'bad_resource'
  | 'bad_expiration' | 'expired' | 'future_not_before';

export type AdminActionVerdict =
  | { readonly ok: true; readonly action: KeycloakAdminAction }
  | { readonly ok: false; readonly reason: AdminActionRejection; readonly description: string }
  /** The realm's JWKS could not be fetched: nothing was decided. */
  | { readonly ok: false; readonly reason: 'unavailable'; readonly cause: unknown };

/** What an action is checked against besides its signature. */
export interface AdminActionCheck {
  readonly clientId: string;
  readonly expected: KeycloakAdminAction['action'];
  readonly nowMs: number;
  /**
   * Refuse the action once `expiration` (plus this tolerance) has passed. Undefined for a push relayed
   * by another instance or loaded from Redis: it stays what the realm last said until a newer push.
   */
  readonly expiryToleranceMs: number | undefined;
  /**
   * Seconds more allowed past the `notBefore` and `expiration` bounds: {@link NOT_BEFORE_READ_SLACK_SECONDS}
   * for a push read from Redis, which the instance that took it from Keycloak judged by its own
   * clock; 0 (strict) for Keycloak's own request.
   */
  readonly slackSeconds?: number;
}

const MAX_ID_LENGTH = 255;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH;
const isIdList = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.every(isId));
const isWholeNumber = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const fail = (reason: AdminActionRejection, description: string): AdminActionVerdict => ({ ok: false, reason, description });

const SIGNATURE_DESCRIPTIONS: Readonly<Record<SignatureFailure, string>> = {
  malformed_token: 'not a valid compact JWS',
  unsupported_alg: '"alg" not allowed',
  unknown_kid: 'no realm key matches the token',
  bad_signature: 'signature verification failed',
};

/**
 * Verifies a realm-signed admin action: the signature (asymmetric `alg`, realm key), the JWS `typ`
 * Keycloak writes (`JWT`, when present), a payload that is an admin action and nothing else (no claim
 * of {@link NON_ADMIN_ACTION_CLAIMS}), the expected `action`, `resource` = `clientId`, and every number
 * in range: `expiration` at most {@link MAX_ACTION_EXPIRATION_AHEAD_SECONDS} ahead (and not passed,
 * when checked), `notBefore` from 0 to now + {@link MAX_NOT_BEFORE_SKEW_SECONDS}.
 */
export async function verifyAdminAction(token: string, keys: RealmKeys, check: AdminActionCheck): Promise<AdminActionVerdict> {
  let payload: Uint8Array;
  let typ: unknown;
  try {
    const verified = await compactVerify(token, keys.getKey, { algorithms: [...keys.algorithms] });
    payload = verified.payload;
    typ = verified.protectedHeader.typ;
  } catch (error) {
    const kind = classifyVerificationError(error);
    if (kind === 'keys_unavailable') return { ok: false, reason: 'unavailable', cause: error };
    if (kind === 'claims') return fail('bad_payload', 'payload check failed');
    return fail(kind, SIGNATURE_DESCRIPTIONS[kind]);
  }
  // Keycloak's DefaultTokenManager.encode writes typ "JWT" for admin actions; logout tokens carry
  // "logout+jwt", RFC 9068 access tokens "at+jwt".
  if (typ !== undefined && (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'jwt')) {
    return fail('bad_typ', 'unexpected "typ" header; Keycloak signs admin actions with "JWT"');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    return fail('bad_payload', 'payload is not JSON');
  }
  if (!isPlainObject(parsed)) return fail('bad_payload', 'payload is not a Keycloak admin action');
  const p = parsed;
  const claim = NON_ADMIN_ACTION_CLAIMS.find((name) => Object.hasOwn(p, name));
  if (claim) return fail('not_admin_action', `payload carries "${claim}": a realm-signed token of another kind, not an admin action`);
  const wellFormed =
    isId(p.id) && isWholeNumber(p.expiration) && typeof p.resource === 'string' && typeof p.action === 'string' &&
    (p.notBefore === undefined || isWholeNumber(p.notBefore)) && isIdList(p.keycloakSessionIds) && isIdList(p.adapterSessionIds);
  if (!wellFormed) return fail('bad_payload', 'payload is not a Keycloak admin action');
  if (p.action !== check.expected) return fail('wrong_action', `"action" must be ${check.expected}`);
  if (p.resource !== check.clientId) return fail('bad_resource', '"resource" mismatch');
  const expiration = p.expiration as number;
  const slack = check.slackSeconds ?? 0;
  if (expiration < 1 || expiration > latestActionExpiration(check.nowMs, slack)) {
    return fail('bad_expiration', `"expiration" ${show(expiration)} out of range: Keycloak sets it ${KEYCLOAK_ACTION_LIFETIME_SECONDS} s after sending (accepted up to ${MAX_ACTION_EXPIRATION_AHEAD_SECONDS + slack} s ahead of this instance's clock)`);
  }
  if (check.expiryToleranceMs !== undefined && expiration * 1000 + check.expiryToleranceMs < check.nowMs) return fail('expired', '"expiration" passed');
  const notBefore = (p.notBefore as number | undefined) ?? 0;
  if (notBefore < 0) return fail('bad_payload', '"notBefore" must be 0 or a time');
  if (notBefore > latestNotBefore(check.nowMs, slack)) {
    return fail('future_not_before', `"notBefore" ${show(notBefore)} is more than ${MAX_NOT_BEFORE_SKEW_SECONDS + slack} s ahead of this instance's clock: it would refuse every token until then; a push from the admin console's 'Set to now' takes the admin's browser clock: correct that computer's clock and push again (or check Keycloak's)`);
  }
  return {
    ok: true,
    action: {
      id: p.id as string,
      expiration,
      resource: p.resource as string,
      action: check.expected,
      notBefore,
      ...(Array.isArray(p.keycloakSessionIds) ? { keycloakSessionIds: p.keycloakSessionIds as string[] } : {}),
      ...(Array.isArray(p.adapterSessionIds) ? { adapterSessionIds: p.adapterSessionIds as string[] } : {}),
    },
  };
}

/**
 * A `PUSH_NOT_BEFORE` the realm signed, verified in this process: the only thing that may lower the
 * client-wide not-before. Made by {@link KeycloakPushVerifier.verify} (or an admin handler), never by hand.
 */
export interface VerifiedKeycloakPush {
  /** The pushed not-before (epoch s; 0 = none, Keycloak's "Clear"). */
  readonly notBefore: number;
  /** When Keycloak sent it, plus 30 s (epoch s): pushes are ordered by it. */
  readonly expiration: number;
  /** The action's id. */
  readonly id: string;
  /** The compact JWS as the realm signed it: what is relayed to the other instances and stored. */
  readonly signedAction: string;
}

const verifiedPushes = new WeakSet<VerifiedKeycloakPush>();

/** Whether `value` was made by a verification in this process (not built by hand, not parsed from data). */
export function isVerifiedKeycloakPush(value: unknown): value is VerifiedKeycloakPush {
  return typeof value === 'object' && value !== null && verifiedPushes.has(value as VerifiedKeycloakPush);
}

/** The verified push of an action that passed {@link verifyAdminAction} as a PUSH_NOT_BEFORE. */
export function verifiedKeycloakPush(action: KeycloakAdminAction, signedAction: string): VerifiedKeycloakPush {
  if (action.action !== 'PUSH_NOT_BEFORE') throw new TypeError(`action: ${show(action.action)} is not a PUSH_NOT_BEFORE`);
  const push = Object.freeze({ notBefore: action.notBefore, expiration: action.expiration, id: action.id, signedAction });
  verifiedPushes.add(push);
  return push;
}

/** The outcome of {@link KeycloakPushVerifier.verify}. */
export type KeycloakPushVerdict =
  | { readonly ok: true; readonly push: VerifiedKeycloakPush }
  | { readonly ok: false; readonly reason: AdminActionRejection; readonly description: string }
  | { readonly ok: false; readonly reason: 'unavailable'; readonly cause: unknown };

/** Verifies Keycloak's not-before pushes that another instance relayed or stored in Redis. */
export interface KeycloakPushVerifier {
  /** Checks a compact JWS as a realm-signed PUSH_NOT_BEFORE for this client (its expiry aside: see {@link AdminActionCheck}). */
  verify(signedAction: string): Promise<KeycloakPushVerdict>;
}

/** Options of {@link createKeycloakPushVerifier}: the realm's keys and this client's id. */
export interface KeycloakPushVerifierOptions extends RealmKeysOptions {
  /** This client's id: the action's `resource` must equal it. */
  readonly clientId: string;
}

/** The verifiers {@link createKeycloakPushVerifier} made, with their verification at a given time. */
const verifiersAt = new WeakMap<KeycloakPushVerifier, (signedAction: string, nowMs: number) => Promise<KeycloakPushVerdict>>();

/**
 * The verifier `Revocations` needs to follow Keycloak's not-before pushes (also when they lower it):
 * an instance that receives a push relays the realm-signed action itself, and every other instance
 * checks it with the realm's keys before applying it. Throws a KccConfigError naming every problem.
 *
 * @example
 * const revocations = await Revocations.start(redis, {
 *   keycloakPushes: createKeycloakPushVerifier({ issuer: 'https://sso.example.com/realms/shop', clientId: 'shop' }),
 * });
 */
export function createKeycloakPushVerifier(options: KeycloakPushVerifierOptions): KeycloakPushVerifier {
  requireOptionsObject(options, 'kcc-redis Keycloak push verifier options', 'createKeycloakPushVerifier({ issuer, clientId })');
  const problems = new OptionProblems();
  problems.unknownKeys(options, { ...REALM_KEYS_OPTION_NAMES, clientId: true } satisfies Record<keyof KeycloakPushVerifierOptions, true>);
  if (!isId(options.clientId)) problems.add(`clientId: ${show(options.clientId)} must be a non-empty string (this client's id)`);
  const keys = realmKeysFrom(options, problems);
  problems.throwIfAny('kcc-redis Keycloak push verifier options');
  const verifyAt = async (signedAction: string, nowMs: number): Promise<KeycloakPushVerdict> => {
    const verdict = await verifyAdminAction(signedAction, keys!, { clientId: options.clientId, expected: 'PUSH_NOT_BEFORE', nowMs, expiryToleranceMs: undefined, slackSeconds: NOT_BEFORE_READ_SLACK_SECONDS });
    return verdict.ok ? { ok: true, push: verifiedKeycloakPush(verdict.action, signedAction) } : verdict;
  };
  const verifier: KeycloakPushVerifier = { verify: (signedAction) => verifyAt(signedAction, Date.now()) };
  verifiersAt.set(verifier, verifyAt);
  return verifier;
}

/**
 * {@link KeycloakPushVerifier.verify}, with the time bounds (`expiration`, `notBefore`) judged at
 * `nowMs` instead of this host's clock: the relay passes the Redis server's time, measured with `TIME`,
 * for the stored push, as the rest of the stored state is judged (a host whose clock ran 120 s behind
 * refused the honest stored push as bad_expiration: a review of 9227a7e). Only a verifier made by
 * {@link createKeycloakPushVerifier} can be told the time; any other (an app's own implementation of
 * the interface) is called as it is and judges by its own clock, as without `nowMs`.
 * @internal Not exported from the package: `KeycloakPushVerifier.verify` keeps its signature.
 */
export function verifyKeycloakPushAt(verifier: KeycloakPushVerifier, signedAction: string, nowMs: number | undefined): Promise<KeycloakPushVerdict> {
  const verifyAt = verifiersAt.get(verifier);
  return nowMs === undefined || verifyAt === undefined ? verifier.verify(signedAction) : verifyAt(signedAction, nowMs);
}
