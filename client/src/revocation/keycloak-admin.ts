import { compactVerify } from 'jose';
import { type KccLogger, defaultLogger } from '../logger.js';
import { isPlainObject } from '../plain-object.js';
import { OptionProblems } from '../option-checks.js';
import { type RealmKeysOptions, classifyVerificationError, realmKeysFrom } from './realm-keys.js';
import type { ReplayGuard } from './replay-guard.js';
import type { RevocationSink } from './revocation-sink.js';
import {
  type EndpointHandler,
  type EndpointRequest,
  type EndpointResponse,
  applyAndRecord,
  checkEndpointCollaborators,
  emptyStats,
  endpointHandler,
  invalidRequestResponse,
  okResponse,
  readBody,
  TEXT_CONTENT_TYPE,
  unavailableResponse,
} from './revocation-endpoint.js';

/**
 * Options of Keycloak's legacy admin endpoints (the client's "Admin URL"). Keycloak POSTs to
 * `<admin URL>/k_logout` and `<admin URL>/k_push_not_before` a text/plain JWS signed by the realm.
 */
export interface KeycloakAdminOptions extends RealmKeysOptions {
  /**
   * Must be `true`: these endpoints are off unless asked for, and the factory throws a KccConfigError
   * otherwise — mount them only when enabled, and the framework answers 404 for them.
   */
  readonly enabled: boolean;
  /** This client's id: the action's `resource` must equal it. */
  readonly clientId: string;
  /** Where accepted logouts go (`Revocations`). */
  readonly sink: RevocationSink;
  /** Remembers accepted action ids cluster-wide, so that a replay is refused on every instance (`new RedisReplayGuard(redis)`). */
  readonly replayGuard: ReplayGuard;
  /** Larger bodies are refused (400) before anything is parsed; a logout may list many sessions. @default 65536 */
  readonly maxBodyBytes?: number;
  /** Allowed clock difference with Keycloak for `expiration` (Keycloak gives 30 s). @default 5000 */
  readonly clockToleranceMs?: number;
  /** Rejections are reported at `info` (reason, no token), 503s at `warn`. @default defaultLogger */
  readonly logger?: KccLogger;
}

export const KEYCLOAK_ADMIN_DEFAULTS = {
  maxBodyBytes: 65_536,
  clockToleranceMs: 5_000,
} as const;

/** The path segment each handler answers, under the client's admin URL. */
export const KEYCLOAK_ADMIN_PATHS = { logout: 'k_logout', pushNotBefore: 'k_push_not_before' } as const;

/** Why a Keycloak admin request was refused (400). */
export const ADMIN_REJECTION_REASONS = [
  'body_too_large', 'unsupported_content_type', 'malformed_request',
  'malformed_token', 'unsupported_alg', 'unknown_kid', 'bad_signature',
  'bad_payload', 'wrong_action', 'bad_resource', 'expired', 'replayed_id',
] as const;

export type AdminRejectionReason = (typeof ADMIN_REJECTION_REASONS)[number];

export type KeycloakAdminHandler = EndpointHandler<AdminRejectionReason>;

export interface KeycloakAdminHandlers {
  /** `POST <admin URL>/k_logout`, action `LOGOUT`. */
  readonly logout: KeycloakAdminHandler;
  /** `POST <admin URL>/k_push_not_before`, action `PUSH_NOT_BEFORE`. */
  readonly pushNotBefore: KeycloakAdminHandler;
}

/**
 * The payload Keycloak signs (`AdminAction`, `LogoutAction`, `PushNotBeforeAction`): times are
 * epoch seconds; `expiration` is 30 s after sending; the id lists are absent when null.
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

type AdminVerdict =
  | { readonly ok: true; readonly action: KeycloakAdminAction }
  | { readonly ok: false; readonly reason: AdminRejectionReason; readonly description: string }
  | { readonly ok: false; readonly reason: 'unavailable'; readonly cause: unknown };

const fail = (reason: AdminRejectionReason, description: string): AdminVerdict => ({ ok: false, reason, description });
const MAX_ID_LENGTH = 255;
const isIdList = (v: unknown): boolean =>
  v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= MAX_ID_LENGTH));
const REPLAY_PREFIX = 'keycloak-admin:';

function parseAction(bytes: Uint8Array): KeycloakAdminAction | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed)) return undefined;
  const p = parsed;
  const wellFormed =
    typeof p.id === 'string' && p.id.length > 0 &&
    Number.isInteger(p.expiration) &&
    typeof p.resource === 'string' &&
    typeof p.action === 'string' &&
    (p.notBefore === undefined || (Number.isInteger(p.notBefore) && (p.notBefore as number) >= 0)) &&
    isIdList(p.keycloakSessionIds) && isIdList(p.adapterSessionIds);
  if (!wellFormed) return undefined;
  return {
    id: p.id as string,
    expiration: p.expiration as number,
    resource: p.resource as string,
    action: p.action as KeycloakAdminAction['action'],
    notBefore: (p.notBefore as number | undefined) ?? 0,
    ...(Array.isArray(p.keycloakSessionIds) ? { keycloakSessionIds: p.keycloakSessionIds as string[] } : {}),
    ...(Array.isArray(p.adapterSessionIds) ? { adapterSessionIds: p.adapterSessionIds as string[] } : {}),
  };
}

/**
 * Creates Keycloak's legacy admin endpoints `k_logout` and `k_push_not_before` (off unless
 * `enabled: true`; otherwise this throws a KccConfigError). Each takes the text/plain JWS Keycloak POSTs,
 * checks the realm signature (asymmetric `alg`, realm JWKS), `action` for the endpoint, `expiration`
 * not passed, `resource` = `clientId`, and the action `id` not seen before in the cluster. Then:
 * - `LOGOUT` with `keycloakSessionIds` / `adapterSessionIds` → `sink.revokeSession` for each id;
 * - `LOGOUT` without them ("log out all") → `sink.revokeAllBefore(notBefore || now)`;
 * - `PUSH_NOT_BEFORE` → `sink.revokeAllBefore(notBefore)`; `notBefore: 0` (Keycloak's "clear") lowers nothing.
 *
 * Responses follow the back-channel endpoint: 200 empty, 400 `invalid_request`, 503
 * `temporarily_unavailable`, always `Cache-Control: no-store`.
 *
 * @example
 * const admin = createKeycloakAdminHandlers({
 *   enabled: true, issuer: 'https://sso.example.com/realms/shop', clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis),
 * });
 * for (const [name, handler] of Object.entries(admin)) {
 *   app.post(`/keycloak/${KEYCLOAK_ADMIN_PATHS[name as keyof KeycloakAdminHandlers]}`, async (req, reply) => {
 *     const { status, headers, body } = await handler({ contentType: req.headers['content-type'], body: req.rawBody });
 *     reply.code(status).headers(headers).send(body);
 *   });
 * }
 */
export function createKeycloakAdminHandlers(options: KeycloakAdminOptions): KeycloakAdminHandlers {
  const problems = new OptionProblems();
  if (options.enabled !== true) {
    problems.add('enabled: Keycloak admin endpoints (k_logout, k_push_not_before) are off unless enabled is true; do not mount them otherwise');
  }
  const { sink, replayGuard } = checkEndpointCollaborators(options, problems);
  const realmKeys = realmKeysFrom(options, problems);
  const d = KEYCLOAK_ADMIN_DEFAULTS;
  const maxBodyBytes = problems.number('maxBodyBytes', options.maxBodyBytes, d.maxBodyBytes, { min: 1, unit: 'bytes' });
  const toleranceMs = problems.number('clockToleranceMs', options.clockToleranceMs, d.clockToleranceMs, { unit: 'ms' });
  problems.throwIfAny('kcc-redis Keycloak admin options');
  const keys = realmKeys!; // defined: its problems were thrown above
  const logger = options.logger ?? defaultLogger;

  async function verify(token: string, expected: KeycloakAdminAction['action']): Promise<AdminVerdict> {
    let payload: Uint8Array;
    try {
      payload = (await compactVerify(token, keys.getKey, { algorithms: [...keys.algorithms] })).payload;
    } catch (error) {
      const kind = classifyVerificationError(error);
      if (kind === 'keys_unavailable') return { ok: false, reason: 'unavailable', cause: error };
      if (kind === 'claims') return fail('bad_payload', 'payload check failed');
      const descriptions = {
        malformed_token: 'not a valid compact JWS',
        unsupported_alg: '"alg" not allowed',
        unknown_kid: 'no realm key matches the token',
        bad_signature: 'signature verification failed',
      } as const;
      return fail(kind, descriptions[kind]);
    }
    const action = parseAction(payload);
    if (!action) return fail('bad_payload', 'payload is not a Keycloak admin action');
    if (action.action !== expected) return fail('wrong_action', `"action" must be ${expected}`);
    if (action.resource !== options.clientId) return fail('bad_resource', '"resource" mismatch');
    if (action.expiration * 1000 + toleranceMs < Date.now()) return fail('expired', '"expiration" passed');
    return { ok: true, action };
  }

  async function apply(action: KeycloakAdminAction): Promise<void> {
    if (action.action === 'PUSH_NOT_BEFORE') {
      if (action.notBefore > 0) await sink.revokeAllBefore(action.notBefore);
      return;
    }
    if (action.keycloakSessionIds === undefined && action.adapterSessionIds === undefined) {
      await sink.revokeAllBefore(action.notBefore > 0 ? action.notBefore : Math.floor(Date.now() / 1000));
      return;
    }
    const ids = new Set([...(action.keycloakSessionIds ?? []), ...(action.adapterSessionIds ?? [])]);
    await Promise.all([...ids].map((sid) => sink.revokeSession(sid)));
  }

  function create(expected: KeycloakAdminAction['action'], path: string): KeycloakAdminHandler {
    const stats = emptyStats(ADMIN_REJECTION_REASONS);
    const reject = (reason: AdminRejectionReason, description: string): EndpointResponse => {
      stats.rejected[reason] += 1;
      logger.info(`Keycloak ${path} rejected`, { reason, description });
      return invalidRequestResponse(description);
    };
    const unavailable = (what: string, cause: unknown): EndpointResponse => {
      stats.unavailable += 1;
      logger.warn(`Keycloak ${path} not applied: ${what}; answered 503`, { error: cause instanceof Error ? cause.message : String(cause) });
      return unavailableResponse();
    };

    async function handle(request: EndpointRequest): Promise<EndpointResponse> {
      const body = readBody(request, TEXT_CONTENT_TYPE, maxBodyBytes);
      if (!body.ok) return reject(body.failure, body.description);
      const token = body.text.trim();
      if (token.length === 0) return reject('malformed_request', 'empty body; expected a signed admin action');
      const verdict = await verify(token, expected);
      if (!verdict.ok) {
        return verdict.reason === 'unavailable' ? unavailable('the realm JWKS is unavailable', verdict.cause) : reject(verdict.reason, `invalid admin action: ${verdict.description}`);
      }
      const { action } = verdict;
      const replayKey = `${REPLAY_PREFIX}${action.id}`;
      const outcome = await applyAndRecord(replayGuard, replayKey, Math.max(1_000, action.expiration * 1000 + toleranceMs - Date.now() + 1_000), () => apply(action));
      if (outcome.status === 'failed') return unavailable(outcome.step, outcome.cause);
      if (outcome.status === 'replayed') return reject('replayed_id', 'invalid admin action: "id" already used');
      stats.accepted += 1;
      return okResponse();
    }

    return endpointHandler(handle, (error) => unavailable('unexpected error', error), maxBodyBytes, stats);
  }

  return {
    logout: create('LOGOUT', KEYCLOAK_ADMIN_PATHS.logout),
    pushNotBefore: create('PUSH_NOT_BEFORE', KEYCLOAK_ADMIN_PATHS.pushNotBefore),
  };
}
