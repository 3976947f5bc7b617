import { type JWTPayload, jwtVerify } from 'jose';
import { type KccLogger, defaultLogger, kccLogger } from '../logger.js';
import { isPlainObject } from '../plain-object.js';
import { OptionProblems, kindOf, requireOptionsObject, show } from '../option-checks.js';
import { REALM_KEYS_OPTION_NAMES, type RealmKeysOptions, classifyVerificationError, jwksUrlOf, realmKeysFrom } from './realm-keys.js';
import type { ReplayGuard } from './replay-guard.js';
import type { RevocationSink, RevokeSessionOptions } from './revocation-sink.js';
import { latestNotBefore } from './revocation-event.js';
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
  FORM_CONTENT_TYPE,
  keysUnavailableCause,
  unavailableResponse,
  unavailableWarner,
} from './revocation-endpoint.js';

/** Options of the OpenID Connect Back-Channel Logout endpoint. Times are milliseconds. */
export interface BackchannelLogoutOptions extends RealmKeysOptions {
  /** This client's id: the logout token's `aud` must contain it. */
  readonly clientId: string;
  /** Where accepted logouts go (`Revocations`). */
  readonly sink: RevocationSink;
  /** Remembers accepted `jti`s cluster-wide, so that a replay is refused on every instance (`new RedisReplayGuard(redis)`). */
  readonly replayGuard: ReplayGuard;
  /** Larger bodies are refused (400) before anything is parsed. @default 16384 */
  readonly maxBodyBytes?: number;
  /** Oldest `iat` accepted, as an age. @default 600000 (10 minutes) */
  readonly maxTokenAgeMs?: number;
  /**
   * Allowed clock difference with the identity provider, for `iat` and `exp`. A token whose `iat` lies
   * further ahead of this instance's clock is refused (400 `bad_iat`, warned at most once a minute):
   * Keycloak does not send it again, so that logout is lost. The default is the 60 s every other
   * not-before input allows (`MAX_NOT_BEFORE_SKEW_SECONDS`); a larger value does not help a
   * token naming only `sub`, whose `iat` becomes a not-before the sink refuses past those 60 s.
   * @default 60000
   */
  readonly clockToleranceMs?: number;
  /**
   * Accept logout tokens without `exp` (Keycloak versions before it added one). The `iat` window
   * still bounds their lifetime and the `jti` replay record.
   * @default false
   */
  readonly allowMissingExp?: boolean;
  /**
   * Accepted `typ` header values, compared without case and an `application/` prefix. The spec's
   * `logout+jwt`, and `JWT` / `Logout` sent by Keycloak versions that predate it.
   * @default ['logout+jwt', 'JWT', 'Logout']
   */
  readonly acceptedTypes?: readonly string[];
  /**
   * Whether a logout lets through the tokens Keycloak goes on refreshing from the offline session
   * that shares the logged-out session's `sid` (their `iat` more than 5 s after the logout's, their
   * `scope` holding `offline_access`), as Keycloak does when the client's "Backchannel logout revoke
   * offline sessions" is off. `false` refuses every token of the `sid`, whatever Keycloak keeps:
   * for an app that serves no offline tokens, or that wants a logout of an offline session (an
   * admin ending a stolen offline token) to refuse the tokens refreshed from it while Keycloak
   * still sends the logout tokens (docs/logout-sync.md).
   * @default true
   */
  readonly keepOfflineSessions?: boolean;
  /**
   * Rejections are reported at `info` (reason, no token); 503s, tokens refused for an `iat` ahead of this
   * instance's clock, tokens signed by the realm whose `iss` is not `issuer` or whose `aud` does not
   * contain `clientId` (a configuration mismatch: every logout is lost), and tokens refused as
   * `unknown_kid`, `bad_signature` or `unsupported_alg` (the keys of another realm, or a narrowed `algorithms`
   * leaving out the realm's), also at `warn` (at most once a minute for each cause, the next one
   * counting those not logged).
   * @default defaultLogger
   */
  readonly logger?: KccLogger;
}

export const BACKCHANNEL_LOGOUT_DEFAULTS = {
  maxBodyBytes: 16_384,
  maxTokenAgeMs: 600_000,
  clockToleranceMs: 60_000,
  allowMissingExp: false,
  acceptedTypes: ['logout+jwt', 'JWT', 'Logout'] as readonly string[],
  keepOfflineSessions: true,
} as const;

/** Why a back-channel logout request was refused (400). */
export const LOGOUT_REJECTION_REASONS = [
  'body_too_large', 'unsupported_content_type', 'malformed_request',
  'malformed_token', 'unsupported_alg', 'unknown_kid', 'bad_signature', 'bad_typ',
  'bad_iss', 'bad_aud', 'expired', 'missing_exp', 'bad_iat', 'bad_claim',
  'bad_events', 'bad_subject', 'nonce_present', 'missing_jti', 'replayed_jti',
] as const;

export type LogoutRejectionReason = (typeof LOGOUT_REJECTION_REASONS)[number];

export type BackchannelLogoutHandler = EndpointHandler<LogoutRejectionReason>;

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/**
 * Keycloak puts `"revoke_offline_access": true` into `events`, beside the logout event, when the
 * client's "Backchannel logout revoke offline sessions" is on (its `DefaultTokenManager.initLogoutToken`:
 * `putEvents(TOKEN_BACKCHANNEL_LOGOUT_EVENT_REVOKE_OFFLINE_TOKENS, true)`): it then ends the offline
 * sessions of the `sid` too.
 */
const REVOKE_OFFLINE_ACCESS = 'revoke_offline_access';

/** A claim of a token signed by the realm that does not match this handler's option: the option is wrong, not the token. */
interface Mismatch {
  readonly option: 'issuer' | 'clientId';
  /** What the token carried (`iss` or `aud`: not secret). */
  readonly carried: unknown;
}

type Verdict =
  | { readonly ok: true; readonly payload: JWTPayload }
  /** `iatAheadS`: refused for an `iat` this many seconds ahead of this instance's clock. `mismatch`: refused for an `iss` or `aud` that does not match the options. */
  | { readonly ok: false; readonly reason: LogoutRejectionReason; readonly description: string; readonly iatAheadS?: number; readonly mismatch?: Mismatch }
  | { readonly ok: false; readonly reason: 'unavailable'; readonly cause: unknown };

const fail = (reason: LogoutRejectionReason, description: string): Verdict => ({ ok: false, reason, description });
const normalizeTyp = (typ: string): string => typ.toLowerCase().replace(/^application\//, '');
/** OpenID Connect caps `sub` at 255 ASCII characters; `sid` is held to the same. */
const MAX_ID_LENGTH = 255;
const isOptionalId = (value: unknown): boolean => value === undefined || (typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH);

function claimFailure(error: unknown): Verdict {
  const { claim, reason, message, payload } = error as { claim?: string; reason?: string; message?: string; payload?: JWTPayload };
  const missing = reason === 'missing';
  if (reason === 'invalid') return fail('bad_claim', message ?? 'claim check failed'); // e.g. a non-numeric "exp"
  switch (claim) {
    // jose checks the claims after the signature: these tokens are the realm's own.
    case 'iss':
      if (missing) return fail('bad_iss', 'missing required "iss" claim');
      return { ok: false, reason: 'bad_iss', description: '"iss" claim mismatch', mismatch: { option: 'issuer', carried: payload?.iss } };
    case 'aud':
      if (missing) return fail('bad_aud', 'missing required "aud" claim');
      return { ok: false, reason: 'bad_aud', description: '"aud" claim mismatch', mismatch: { option: 'clientId', carried: payload?.aud } };
    case 'exp': return missing ? fail('missing_exp', 'missing required "exp" claim') : fail('expired', '"exp" claim timestamp check failed');
    case 'iat': {
      if (missing) return fail('bad_iat', 'missing required "iat" claim');
      // jose's own "now": whole seconds, rounded down.
      const aheadS = typeof payload?.iat === 'number' ? payload.iat - Math.floor(Date.now() / 1000) : 0;
      return aheadS > 0 ? { ok: false, reason: 'bad_iat', description: '"iat" claim in the future', iatAheadS: aheadS } : fail('bad_iat', '"iat" claim too old');
    }
    case 'jti': return fail('missing_jti', 'missing required "jti" claim');
    default: return fail('bad_claim', message ?? 'claim check failed');
  }
}

/** The warning for a token signed by the realm whose `iss` or `aud` does not match `issuer` or `clientId`. */
function mismatchWarning({ option, carried }: Mismatch, issuer: string, clientId: string): string {
  const what = option === 'issuer'
    ? `its "iss" is ${claimText(carried)}, not issuer (${claimText(issuer)}): set issuer to the realm's issuer exactly as in its tokens (Keycloak's: https://<host>/realms/<realm>, no "/" at the end)`
    : `its "aud" is ${claimText(carried)}, which does not contain clientId (${claimText(clientId)}): set clientId to this client's id in the realm, exactly (case counts)`;
  return `back-channel logout refused: the token is signed by the realm, but ${what}. Every logout is refused until then, and Keycloak does not send a token again: these logouts are lost`;
}

/** The `/` at the end of a Keycloak realm's issuer (`https://host/realms/shop/`), which the `iss` of its tokens never has. */
function issuerSlashProblem(issuer: unknown): string | undefined {
  if (typeof issuer !== 'string') return undefined;
  let path: string;
  try {
    path = new URL(issuer).pathname;
  } catch {
    return undefined; // reported by the realm keys' check
  }
  return /\/realms\/[^/]+\/+$/.test(path)
    ? `issuer: ${show(issuer)} ends with "/", which the "iss" of Keycloak's logout tokens never does (https://<host>/realms/<realm>): every logout would be refused; remove the "/"`
    : undefined;
}

/** What is wrong with `acceptedTypes` (a list of non-empty strings); none when it is fine. */
function acceptedTypesProblems(value: unknown): string[] {
  const usage = `e.g. ${JSON.stringify(BACKCHANNEL_LOGOUT_DEFAULTS.acceptedTypes)}`;
  if (!Array.isArray(value)) return [`acceptedTypes: ${typeof value === 'string' ? `${show(value)} is a string, not a list; give [${show(value)}]` : `${kindOf(value)}, not a list; give a list of "typ" values`} (${usage})`];
  if (value.length === 0) return ['acceptedTypes: must list at least one "typ" value'];
  return value.filter((typ) => typeof typ !== 'string' || typ.length === 0).map((typ) => `acceptedTypes: ${show(typ)} is not a "typ" value; list non-empty strings (${usage})`);
}

/** Every option of BackchannelLogoutOptions (the compiler keeps the list whole). */
const BACKCHANNEL_LOGOUT_OPTION_NAMES = {
  ...REALM_KEYS_OPTION_NAMES, clientId: true, sink: true, replayGuard: true, maxBodyBytes: true, maxTokenAgeMs: true,
  clockToleranceMs: true, allowMissingExp: true, acceptedTypes: true, keepOfflineSessions: true, logger: true,
} as const satisfies Record<keyof BackchannelLogoutOptions, true>;

/**
 * Creates the OpenID Connect Back-Channel Logout 1.0 endpoint (§2.6): give it the POSTed form, send
 * back what it returns. It accepts exactly one `logout_token` signed by the realm (asymmetric `alg`,
 * key from the realm's JWKS), with `iss` = issuer, `aud` containing `clientId`, `iat` within
 * `maxTokenAgeMs`, `exp` (unless `allowMissingExp`), the back-channel-logout `events` member, `sub`
 * or `sid`, no `nonce`, a `jti` not seen before anywhere in the cluster and an accepted `typ`.
 * Then `sid` → `sink.revokeSession(sid, { issuedUpTo: iat })`: every token of the session but
 * those Keycloak issues later from the offline session of the same `sid`, which it keeps (`scope`
 * with `offline_access`) — every token of the `sid` when `events` holds `"revoke_offline_access":
 * true` (Keycloak then ends the offline session too), when `keepOfflineSessions` is off, or when
 * `iat` lies too far ahead to pass as a time (more than `MAX_NOT_BEFORE_SKEW_SECONDS`); `sub` alone
 * → `sink.revokeSubject(sub, iat)`.
 *
 * Answers 200 (empty body) once the revocation is durable; 400 `invalid_request` with a terse
 * description for anything else it was sent; 503 `temporarily_unavailable` when the JWKS or the
 * sink (Redis) is unavailable, or has not answered within `ENDPOINT_REDIS_WAIT_MS` (4 s,
 * below the 5 s Keycloak waits). Keycloak does not send a logout token again after a failed answer:
 * a revocation `Revocations` applied but could not store (yet) is written again by it until Redis
 * takes it; one whose token could not be verified (JWKS unavailable) is lost. Always `Cache-Control: no-store`.
 * Throws one KccConfigError naming every problem when the options are wrong.
 *
 * @example
 * const logout = createBackchannelLogoutHandler({
 *   issuer: 'https://sso.example.com/realms/shop', clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis),
 * });
 * app.post('/backchannel-logout', async (req, reply) => {
 *   const { status, headers, body } = await logout({ contentType: req.headers['content-type'], body: req.rawBody });
 *   reply.code(status).headers(headers).send(body);
 * });
 */
export function createBackchannelLogoutHandler(options: BackchannelLogoutOptions): BackchannelLogoutHandler {
  requireOptionsObject(options, 'kcc-redis back-channel logout options', 'createBackchannelLogoutHandler({ issuer, clientId, sink, replayGuard })');
  const problems = new OptionProblems();
  problems.unknownKeys(options, BACKCHANNEL_LOGOUT_OPTION_NAMES);
  const { sink, replayGuard } = checkEndpointCollaborators(options, problems);
  const realmKeys = realmKeysFrom(options, problems);
  const d = BACKCHANNEL_LOGOUT_DEFAULTS;
  const maxBodyBytes = problems.number('maxBodyBytes', options.maxBodyBytes, d.maxBodyBytes, { min: 1, unit: 'bytes' });
  const maxTokenAgeS = problems.number('maxTokenAgeMs', options.maxTokenAgeMs, d.maxTokenAgeMs, { min: 1, unit: 'ms' }) / 1000;
  const toleranceS = problems.number('clockToleranceMs', options.clockToleranceMs, d.clockToleranceMs, { unit: 'ms' }) / 1000;
  const acceptedTypes = options.acceptedTypes ?? d.acceptedTypes;
  const keepOfflineSessions = problems.boolean('keepOfflineSessions', options.keepOfflineSessions, d.keepOfflineSessions);
  const allowMissingExp = problems.boolean('allowMissingExp', options.allowMissingExp, d.allowMissingExp);
  for (const problem of acceptedTypesProblems(acceptedTypes)) problems.add(problem);
  const slash = issuerSlashProblem(options.issuer);
  if (slash) problems.add(slash);
  problems.throwIfAny('kcc-redis back-channel logout options');
  const keys = realmKeys!; // defined: its problems were thrown above
  const types = new Set(acceptedTypes.map(normalizeTyp));
  const requiredClaims = allowMissingExp ? ['iat', 'jti'] : ['iat', 'jti', 'exp'];
  const logger = options.logger ? kccLogger(options.logger) : defaultLogger;
  const stats = emptyStats(LOGOUT_REJECTION_REASONS);
  const appliedHere = new AppliedHere();
  const jwksUrl = jwksUrlOf(keys.getKey);

  async function verify(token: string): Promise<Verdict> {
    let payload: JWTPayload;
    let typ: unknown;
    try {
      const result = await jwtVerify(token, keys.getKey, {
        issuer: options.issuer,
        audience: options.clientId,
        algorithms: [...keys.algorithms],
        clockTolerance: toleranceS,
        maxTokenAge: maxTokenAgeS,
        requiredClaims,
      });
      payload = result.payload;
      typ = result.protectedHeader.typ;
    } catch (error) {
      const kind = classifyVerificationError(error);
      if (kind === 'claims') return claimFailure(error);
      if (kind === 'keys_unavailable') return { ok: false, reason: 'unavailable', cause: error };
      const descriptions = {
        malformed_token: 'not a valid signed JWT',
        unsupported_alg: '"alg" not allowed',
        unknown_kid: 'no realm key matches the token',
        bad_signature: 'signature verification failed',
      } as const;
      return fail(kind, descriptions[kind]);
    }
    if (typeof typ !== 'string' || !types.has(normalizeTyp(typ))) return fail('bad_typ', 'unexpected "typ" header');
    if (!isOptionalId(payload.sub) || !isOptionalId(payload.sid) || (payload.sub === undefined && payload.sid === undefined)) {
      return fail('bad_subject', `"sub" or "sid" claim required, as strings of 1 to ${MAX_ID_LENGTH} characters`);
    }
    const events = payload.events;
    if (!isPlainObject(events) || !isPlainObject(events[LOGOUT_EVENT])) return fail('bad_events', `"events" claim must contain ${LOGOUT_EVENT}`);
    if (Object.hasOwn(payload, 'nonce')) return fail('nonce_present', '"nonce" claim not allowed');
    if (typeof payload.jti !== 'string' || payload.jti.length === 0) return fail('missing_jti', '"jti" claim must be a non-empty string');
    return { ok: true, payload };
  }

  /**
   * How far a logout of `payload.sid` revokes: up to its `iat`, unless Keycloak ends the offline
   * session as well ({@link REVOKE_OFFLINE_ACCESS}), `keepOfflineSessions` is off, or the `iat` is too far ahead for the sink to
   * take as a time (clockToleranceMs above the skew it allows): then every token of the session,
   * refusing more rather than losing the logout.
   */
  function sessionScope(payload: JWTPayload): RevokeSessionOptions | undefined {
    const events = payload.events as Record<string, unknown>; // checked in verify()
    // Keycloak's own receiver of logout tokens also takes the string "true".
    const revokeOffline = events[REVOKE_OFFLINE_ACCESS] === true || events[REVOKE_OFFLINE_ACCESS] === 'true';
    if (!keepOfflineSessions || revokeOffline || payload.iat! > latestNotBefore(Date.now())) return undefined;
    return { issuedUpTo: Math.ceil(payload.iat!) };
  }

  /** How long the jti must be remembered: until this token could no longer be accepted. */
  function replayWindowMs(payload: JWTPayload): number {
    const lastAccepted = Math.min(payload.exp ?? Infinity, payload.iat! + maxTokenAgeS) + toleranceS;
    return Math.max(1_000, Math.ceil((lastAccepted - Date.now() / 1000) * 1000) + 1_000);
  }

  function reject(reason: LogoutRejectionReason, description: string, prefix = 'invalid logout_token: '): EndpointResponse {
    stats.rejected[reason] += 1;
    logger.info('back-channel logout rejected', { reason, description });
    return invalidRequestResponse(`${prefix}${description}`);
  }

  // One pacing per kind: the 503 causes, the clock, the claim mismatches and the key set's reasons are kept apart by prefix.
  const warnPaced = unavailableWarner(logger);
  function unavailable(what: string, cause: unknown): EndpointResponse {
    stats.unavailable += 1;
    warnPaced(`unavailable: ${what}`, `back-channel logout not completed: ${what}; answered 503 (Keycloak does not send the token again)`, {
      error: cause instanceof Error ? cause.message : String(cause),
    });
    return unavailableResponse();
  }

  async function handle(request: EndpointRequest): Promise<EndpointResponse> {
    const body = readBody(request, FORM_CONTENT_TYPE, maxBodyBytes);
    if (!body.ok) return reject(body.failure, body.description, '');
    const tokens = new URLSearchParams(body.text).getAll('logout_token');
    if (tokens.length !== 1 || !tokens[0]) return reject('malformed_request', 'exactly one non-empty logout_token parameter is required', '');
    const verdict = await verify(tokens[0]);
    if (!verdict.ok) {
      if (verdict.reason !== 'unavailable') {
        if (verdict.iatAheadS !== undefined) {
          warnPaced('clock: iat ahead', `back-channel logout refused: its "iat" is ${verdict.iatAheadS} s ahead of this instance's clock, more than clockToleranceMs (${toleranceS} s) allows: ` +
            'the identity provider\'s clock and this instance\'s differ (keep both on NTP). Keycloak does not send the token again: this logout is lost', { iatAheadSeconds: verdict.iatAheadS });
        }
        if (verdict.mismatch !== undefined) {
          warnPaced(`mismatch: ${verdict.mismatch.option}`, mismatchWarning(verdict.mismatch, options.issuer, options.clientId), { option: verdict.mismatch.option });
        }
        const response = reject(verdict.reason, verdict.description);
        if (isKeySetRejection(verdict.reason, keys.algorithms)) {
          const count = stats.rejected[verdict.reason];
          warnPaced(`key set: ${verdict.reason}`, keySetWarning('back-channel logout', verdict.reason, {
            jwksUrl, algorithms: keys.algorithms, count, lost: 'Keycloak does not send a token again: these logouts are lost',
          }), { reason: verdict.reason, rejected: count });
        }
        return response;
      }
      const { what, inCooldown } = keysUnavailableCause(verdict.cause, jwksUrl);
      if (inCooldown) stats.unavailableInCooldown += 1;
      return unavailable(what, verdict.cause);
    }
    const { payload } = verdict;
    const jti = payload.jti!;
    // A token whose revocation this instance applied and recorded itself: nothing to write again.
    if (appliedHere.has(jti)) return reject('replayed_jti', '"jti" already used');
    const outcome = await applyAndRecord(
      replayGuard,
      jti,
      replayWindowMs(payload),
      () => (typeof payload.sid === 'string' ? sink.revokeSession(payload.sid, sessionScope(payload)) : sink.revokeSubject(payload.sub!, payload.iat!)),
      (late) => {
        appliedHere.note(jti, late);
        if (late.status === 'applied') logger.info('back-channel logout answered 503 for a slow Redis: stored in Redis afterwards');
      },
    );
    appliedHere.note(jti, outcome);
    if (outcome.status === 'unrecordable') return reject('bad_claim', '"exp" / "iat" give a lifetime out of range');
    if (outcome.status === 'refused') {
      logger.info('back-channel logout: the revocation store refused the token', { error: outcome.cause.message });
      return reject('bad_claim', 'a claim value is out of range');
    }
    if (outcome.status === 'failed') return unavailable(outcome.step, outcome.cause);
    if (outcome.status === 'replayed') return reject('replayed_jti', '"jti" already used');
    stats.accepted += 1;
    return okResponse();
  }

  return endpointHandler(handle, (error) => unavailable('unexpected error', error), maxBodyBytes, stats);
}
