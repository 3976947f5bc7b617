import { isPlainObject } from '../plain-object.js';
import { type KccLogger, defaultLogger, kccLogger } from '../logger.js';
import { OptionProblems, requireOptionsObject } from '../option-checks.js';
import {
  type AdminActionRejection,
  KEYCLOAK_ACTION_LIFETIME_SECONDS,
  type KeycloakAdminAction,
  MAX_ACTION_EXPIRATION_AHEAD_SECONDS,
  verifiedKeycloakPush,
  verifyAdminAction,
} from './keycloak-admin-action.js';
import { REALM_KEYS_OPTION_NAMES, type RealmKeysOptions, jwksUrlOf, realmKeysFrom } from './realm-keys.js';
import { MAX_NOT_BEFORE_SKEW_SECONDS } from './revocation-event.js';
import type { ReplayGuard } from './replay-guard.js';
import type { KeycloakAdminSink } from './revocation-sink.js';
import {
  AppliedHere,
  type EndpointHandler,
  type EndpointRequest,
  type EndpointResponse,
  applyAndRecord,
  checkEndpointCollaborators,
  claimText,
  emptyStats,
  endpointHandler,
  invalidRequestResponse,
  isKeySetRejection,
  keySetWarning,
  okResponse,
  readBody,
  TEXT_CONTENT_TYPE,
  keysUnavailableCause,
  unavailableResponse,
  unavailableWarner,
} from './revocation-endpoint.js';

export type { KeycloakAdminAction } from './keycloak-admin-action.js';

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
  /** Where accepted logouts and not-before pushes go (`Revocations`). */
  readonly sink: KeycloakAdminSink;
  /** Remembers accepted action ids cluster-wide, so that a replay is refused on every instance (`new RedisReplayGuard(redis)`). */
  readonly replayGuard: ReplayGuard;
  /** Larger bodies are refused (400) before anything is parsed; a logout may list many sessions. @default 65536 */
  readonly maxBodyBytes?: number;
  /**
   * Allowed clock difference with Keycloak for `expiration`, which Keycloak sets 30 s after sending:
   * an action is accepted until `expiration` + this on this instance's clock, so with the default
   * Keycloak's clock may run up to 90 s behind. Ahead, `expiration` may lie at most
   * {@link MAX_ACTION_EXPIRATION_AHEAD_SECONDS} (90 s) ahead, Keycloak's clock up to 60 s, whatever this is.
   * @default 60000
   */
  readonly clockToleranceMs?: number;
  /**
   * Rejections are reported at `info` (reason, no token); 503s, actions signed by the realm whose
   * `resource` is not `clientId`, actions refused for a clock (`expired`, `future_not_before`, an
   * `expiration` too far ahead), and actions refused as `unknown_kid`, `bad_signature` or
   * `unsupported_alg` (the keys of another realm, or a narrowed `algorithms` leaving out the realm's), also at
   * `warn` (at most once a minute for each cause and endpoint, the next one counting those not logged).
   * @default defaultLogger
   */
  readonly logger?: KccLogger;
}

export const KEYCLOAK_ADMIN_DEFAULTS = {
  maxBodyBytes: 65_536,
  clockToleranceMs: 60_000,
} as const;

/** The path segment each handler answers, under the client's admin URL. */
export const KEYCLOAK_ADMIN_PATHS = { logout: 'k_logout', pushNotBefore: 'k_push_not_before' } as const;

/** Why a Keycloak admin request was refused (400). */
export const ADMIN_REJECTION_REASONS = [
  'body_too_large', 'unsupported_content_type', 'malformed_request',
  'malformed_token', 'unsupported_alg', 'unknown_kid', 'bad_signature', 'bad_typ',
  'bad_payload', 'not_admin_action', 'wrong_action', 'bad_resource', 'bad_expiration', 'expired',
  'future_not_before', 'replayed_id', 'refused_by_sink',
] as const satisfies readonly (AdminActionRejection | 'body_too_large' | 'unsupported_content_type' | 'malformed_request' | 'replayed_id' | 'refused_by_sink')[];

export type AdminRejectionReason = (typeof ADMIN_REJECTION_REASONS)[number];

export type KeycloakAdminHandler = EndpointHandler<AdminRejectionReason>;

export interface KeycloakAdminHandlers {
  /** `POST <admin URL>/k_logout`, action `LOGOUT`. */
  readonly logout: KeycloakAdminHandler;
  /** `POST <admin URL>/k_push_not_before`, action `PUSH_NOT_BEFORE`. */
  readonly pushNotBefore: KeycloakAdminHandler;
}

const REPLAY_PREFIX = 'keycloak-admin:';

/** How each endpoint's warnings end: what the refusal costs. */
const LOST: Readonly<Record<string, string>> = {
  [KEYCLOAK_ADMIN_PATHS.logout]: 'Keycloak does not send the action again, nor show it as failed: this logout is lost',
  [KEYCLOAK_ADMIN_PATHS.pushNotBefore]: 'Keycloak shows the push as failed: push again once this is fixed',
};

/**
 * The payload of a refused action, for the values a warning names: an object, or `{}` for anything
 * else. Read for every refusal, of anyone's body: a payload of JSON `null` (`x.bnVsbA.x`) made the
 * warning throw, and the request was answered 503 "unexpected error" and counted unavailable (a live fuzz).
 */
function signedPayload(token: string): Record<string, unknown> {
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return isPlainObject(payload) ? payload : {};
  } catch {
    return {};
  }
}

/** Every option of KeycloakAdminOptions (the compiler keeps the list whole). */
const KEYCLOAK_ADMIN_OPTION_NAMES = {
  ...REALM_KEYS_OPTION_NAMES, enabled: true, clientId: true, sink: true, replayGuard: true, maxBodyBytes: true, clockToleranceMs: true, logger: true,
} as const satisfies Record<keyof KeycloakAdminOptions, true>;

/**
 * Creates Keycloak's legacy admin endpoints `k_logout` and `k_push_not_before` (off unless
 * `enabled: true`; otherwise this throws a KccConfigError). Each takes the text/plain JWS Keycloak
 * POSTs and checks, before anything is applied: the realm signature (asymmetric `alg`, realm JWKS),
 * the JWS `typ` Keycloak writes (`JWT`), a payload that is an admin action and no other realm-signed
 * token (no `iss`, `exp`, `typ`, … claim), `action` for the endpoint, `resource` = `clientId`,
 * `expiration` passed by at most `clockToleranceMs` and at most 90 s ahead, `notBefore` from 0 to now + 60 s
 * (`MAX_NOT_BEFORE_SKEW_SECONDS`: a Keycloak whose clock runs fast, or a 'Set to now' from an admin's
 * computer whose clock does, gets a 400 and nothing changes),
 * and the action `id` not seen before in the cluster. Then:
 * - `LOGOUT` with `keycloakSessionIds` / `adapterSessionIds` → `sink.revokeSession` for each id;
 * - `LOGOUT` without them ("log out all") → `sink.revokeAllBefore(notBefore || now)` (raises only, as
 *   Keycloak's Java adapter does: Keycloak ended those sessions);
 * - `PUSH_NOT_BEFORE` → `sink.applyKeycloakPush`: the not-before becomes what was pushed, also lower
 *   (`notBefore: 0` is Keycloak's "Clear"), as Keycloak's adapters do.
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
  requireOptionsObject(options, 'kcc-redis Keycloak admin options', 'createKeycloakAdminHandlers({ enabled: true, issuer, clientId, sink, replayGuard })');
  const problems = new OptionProblems();
  problems.unknownKeys(options, KEYCLOAK_ADMIN_OPTION_NAMES);
  if (options.enabled !== true) {
    problems.add('enabled: Keycloak admin endpoints (k_logout, k_push_not_before) are off unless enabled is true; do not mount them otherwise');
  }
  const { replayGuard } = checkEndpointCollaborators(options, problems);
  const sink = options.sink;
  if (options.sink && typeof (options.sink as Partial<KeycloakAdminSink>).applyKeycloakPush !== 'function') {
    problems.add('sink: must also implement applyKeycloakPush (KeycloakAdminSink), e.g. a started Revocations');
  }
  const realmKeys = realmKeysFrom(options, problems);
  const d = KEYCLOAK_ADMIN_DEFAULTS;
  const maxBodyBytes = problems.number('maxBodyBytes', options.maxBodyBytes, d.maxBodyBytes, { min: 1, unit: 'bytes' });
  const toleranceMs = problems.number('clockToleranceMs', options.clockToleranceMs, d.clockToleranceMs, { unit: 'ms' });
  problems.throwIfAny('kcc-redis Keycloak admin options');
  const keys = realmKeys!; // defined: its problems were thrown above
  const logger = options.logger ? kccLogger(options.logger) : defaultLogger;
  const jwksUrl = jwksUrlOf(keys.getKey);

  async function apply(action: KeycloakAdminAction, token: string): Promise<void> {
    if (action.action === 'PUSH_NOT_BEFORE') return sink.applyKeycloakPush(verifiedKeycloakPush(action, token));
    if (action.keycloakSessionIds === undefined && action.adapterSessionIds === undefined) {
      return sink.revokeAllBefore(action.notBefore > 0 ? action.notBefore : Math.floor(Date.now() / 1000));
    }
    const ids = new Set([...(action.keycloakSessionIds ?? []), ...(action.adapterSessionIds ?? [])]);
    await Promise.all([...ids].map((sid) => sink.revokeSession(sid)));
  }

  function create(expected: KeycloakAdminAction['action'], path: string): KeycloakAdminHandler {
    const stats = emptyStats(ADMIN_REJECTION_REASONS);
    const appliedHere = new AppliedHere();
    const reject = (reason: AdminRejectionReason, description: string): EndpointResponse => {
      stats.rejected[reason] += 1;
      logger.info(`Keycloak ${path} rejected`, { reason, description });
      return invalidRequestResponse(description);
    };
    // One pacing per kind: the 503 causes and the refusals are kept apart by prefix.
    const warnPaced = unavailableWarner(logger);
    const warnRefusal = (what: string, message: string, context: Record<string, unknown>): void => warnPaced(`refused: ${what}`, message, context);
    /** Warns of a refusal that points at an option or a clock (every action alike is lost) rather than at one bad request. */
    const warnIfTelling = (reason: AdminRejectionReason, token: string, nowMs: number): void => {
      const lost = LOST[path]!;
      const count = stats.rejected[reason];
      if (isKeySetRejection(reason, keys.algorithms)) {
        warnRefusal(reason, keySetWarning(`Keycloak ${path}`, reason, { jwksUrl, algorithms: keys.algorithms, count, lost }), { reason, rejected: count });
        return;
      }
      const nowS = Math.floor(nowMs / 1000);
      const { resource, expiration, notBefore } = signedPayload(token);
      const clocks = 'Keycloak\'s clock and this instance\'s differ (keep both on NTP)';
      if (reason === 'bad_resource') {
        warnRefusal('clientId', `Keycloak ${path} refused: the action is signed by the realm, but its "resource" is ${claimText(resource)}, not clientId (${claimText(options.clientId)}): ` +
          `set clientId to this client's id in the realm, exactly (case counts), or, if other clients of the realm share this admin URL, this refusal is theirs and expected. Until then every action is refused. ${lost}`, { option: 'clientId' });
      } else if (reason === 'expired' && typeof expiration === 'number') {
        const passedS = nowS - expiration;
        warnRefusal(reason, `Keycloak ${path} refused: its "expiration" passed ${passedS} s ago by this instance's clock, more than clockToleranceMs (${toleranceMs / 1000} s) allows; ` +
          `Keycloak sets it ${KEYCLOAK_ACTION_LIFETIME_SECONDS} s after sending: ${clocks}, or the action took that long to arrive. ${lost}`, { expiredSecondsAgo: passedS });
      } else if (reason === 'bad_expiration' && typeof expiration === 'number' && expiration > nowS) {
        const aheadS = expiration - nowS;
        warnRefusal('expiration ahead', `Keycloak ${path} refused: its "expiration" is ${aheadS} s ahead of this instance's clock, more than ${MAX_ACTION_EXPIRATION_AHEAD_SECONDS} s allows; ` +
          `Keycloak sets it ${KEYCLOAK_ACTION_LIFETIME_SECONDS} s after sending, so its clock runs more than ${MAX_NOT_BEFORE_SKEW_SECONDS} s ahead: ${clocks}. ${lost}`, { expirationAheadSeconds: aheadS });
      } else if (reason === 'future_not_before' && typeof notBefore === 'number') {
        const aheadS = notBefore - nowS;
        warnRefusal(reason, `Keycloak ${path} refused: its "notBefore" is ${aheadS} s ahead of this instance's clock, more than ${MAX_NOT_BEFORE_SKEW_SECONDS} s allows: ` +
          `a not-before from the admin console's 'Set to now' takes the admin's browser clock (correct that computer's clock), otherwise ${clocks}. ${lost}`, { notBeforeAheadSeconds: aheadS });
      }
    };
    const unavailable = (what: string, cause: unknown): EndpointResponse => {
      stats.unavailable += 1;
      warnPaced(`unavailable: ${what}`, `Keycloak ${path} not applied: ${what}; answered 503`, { error: cause instanceof Error ? cause.message : String(cause) });
      return unavailableResponse();
    };

    async function handle(request: EndpointRequest): Promise<EndpointResponse> {
      const body = readBody(request, TEXT_CONTENT_TYPE, maxBodyBytes);
      if (!body.ok) return reject(body.failure, body.description);
      const token = body.text.trim();
      if (token.length === 0) return reject('malformed_request', 'empty body; expected a signed admin action');
      const nowMs = Date.now();
      const verdict = await verifyAdminAction(token, keys, { clientId: options.clientId, expected, nowMs, expiryToleranceMs: toleranceMs });
      if (!verdict.ok) {
        if (verdict.reason !== 'unavailable') {
          const response = reject(verdict.reason, `invalid admin action: ${verdict.description}`);
          warnIfTelling(verdict.reason, token, nowMs);
          return response;
        }
        const { what, inCooldown } = keysUnavailableCause(verdict.cause, jwksUrl);
        if (inCooldown) stats.unavailableInCooldown += 1;
        return unavailable(what, verdict.cause);
      }
      const { action } = verdict;
      // Until the action could no longer be accepted: at most MAX_ACTION_EXPIRATION_AHEAD_SECONDS plus the tolerance.
      const replayTtlMs = Math.max(1_000, action.expiration * 1000 + toleranceMs - Date.now() + 1_000);
      const replayKey = `${REPLAY_PREFIX}${action.id}`;
      // An action this instance applied and recorded itself: nothing to apply or relay again (a
      // replayed "log out all" without a notBefore would otherwise raise the cut-off to its own now).
      if (appliedHere.has(replayKey)) return reject('replayed_id', 'invalid admin action: "id" already used');
      const outcome = await applyAndRecord(replayGuard, replayKey, replayTtlMs, () => apply(action, token), (late) => {
        appliedHere.note(replayKey, late);
        if (late.status === 'applied') logger.info(`Keycloak ${path} answered 503 for a slow Redis: stored in Redis afterwards`);
      });
      appliedHere.note(replayKey, outcome);
      if (outcome.status === 'unrecordable') return reject('bad_expiration', `invalid admin action: "expiration" out of range (at most ${MAX_ACTION_EXPIRATION_AHEAD_SECONDS} s ahead)`);
      if (outcome.status === 'refused') {
        logger.info(`Keycloak ${path}: the revocation store refused the action`, { error: outcome.cause.message });
        return reject('refused_by_sink', 'invalid admin action: a value is out of range');
      }
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
