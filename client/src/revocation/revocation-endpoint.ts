import { createHash } from 'node:crypto';
import { KccClosedError, KccConnectionError, KccInputError } from '../errors.js';
import { RecentIds } from '../recent-ids.js';
import { type OptionProblems, kindOf, show } from '../option-checks.js';
import { PACED_WARNING_INTERVAL_MS, pacedWarner } from '../paced-warning.js';
import { ASYMMETRIC_JWS_ALGORITHMS, isJwksFetchSkipped } from './realm-keys.js';
import type { ReplayGuard } from './replay-guard.js';
import type { RevocationSink } from './revocation-sink.js';

/** What a logout endpoint needs from an HTTP request, whatever the framework. */
export interface EndpointRequest {
  /** The `Content-Type` header as received. */
  readonly contentType: string | undefined;
  /** The raw request body. */
  readonly body: string | Buffer;
}

/** What to send back; `headers` always include `Cache-Control: no-store`. */
export interface EndpointResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Counts of one endpoint's outcomes. Mutated in place; read it any time. */
export interface EndpointStats<Reason extends string> {
  /** Requests answered 200. */
  accepted: number;
  /** Requests answered 400, by reason. */
  readonly rejected: Record<Reason, number>;
  /** Requests answered 503: the realm's JWKS or the revocation store was unavailable. */
  unavailable: number;
  /**
   * Of `unavailable`: requests answered 503 without a JWKS fetch tried for them. The last fetch had
   * failed less than `jwksCooldownMs` before, and the token's wait for the next one (3 s at most)
   * ran out first: only with a `jwksCooldownMs` over 3 s. Set by the logout and Keycloak admin
   * handlers (0 from the start).
   */
  unavailableInCooldown?: number;
}

/** A framework-agnostic endpoint: give it the request, send what it resolves with. Never rejects. */
export interface EndpointHandler<Reason extends string> {
  (request: EndpointRequest): Promise<EndpointResponse>;
  /** The body size limit; adapters should stop reading (and answer 400) beyond it. */
  readonly maxBodyBytes: number;
  readonly stats: EndpointStats<Reason>;
}

/** Why a request was refused before its token was verified. */
export type RequestFailure = 'body_too_large' | 'unsupported_content_type' | 'malformed_request';

export const NO_STORE = { 'Cache-Control': 'no-store' } as const;

/** The media type of OIDC back-channel logout requests (a form with `logout_token`). */
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
/** The media type of Keycloak's admin actions (a compact JWS as text). */
export const TEXT_CONTENT_TYPE = 'text/plain';

export function okResponse(): EndpointResponse {
  return { status: 200, headers: { ...NO_STORE }, body: '' };
}

/** 400 `invalid_request` with a terse public description; never put the token or a secret in it. */
export function invalidRequestResponse(description: string): EndpointResponse {
  return {
    status: 400,
    headers: { ...NO_STORE, 'Content-Type': 'application/json' },
    body: JSON.stringify({ error: 'invalid_request', error_description: description }),
  };
}

/** 503 `temporarily_unavailable`: the request could not be completed now (Keycloak logs it; it does not send it again). */
export function unavailableResponse(): EndpointResponse {
  return {
    status: 503,
    headers: { ...NO_STORE, 'Content-Type': 'application/json' },
    body: JSON.stringify({ error: 'temporarily_unavailable' }),
  };
}

export function emptyStats<Reason extends string>(reasons: readonly Reason[]): EndpointStats<Reason> & { unavailableInCooldown: number } {
  const rejected = Object.fromEntries(reasons.map((r) => [r, 0])) as Record<Reason, number>;
  return { accepted: 0, rejected, unavailable: 0, unavailableInCooldown: 0 };
}

/**
 * The 503 cause (a `what` of {@link unavailableWarner}) of a token whose realm key could not be
 * had: a fetch that failed, or none tried (the cooldown after one that failed, counted in
 * `stats.unavailableInCooldown`), warned apart.
 */
export function keysUnavailableCause(cause: unknown, jwksUrl: string | undefined): { readonly what: string; readonly inCooldown: boolean } {
  return isJwksFetchSkipped(cause)
    ? { what: `the realm JWKS was not fetched (${jwksUrl ? `${jwksUrl}; ` : ''}its last fetch failed less than jwksCooldownMs ago, and the wait for the next ran out)`, inCooldown: true }
    : { what: `the realm JWKS is unavailable${jwksUrl ? ` (${jwksUrl})` : ''}`, inCooldown: false };
}

/** The rejections that, repeated, point at the realm-key options rather than at one bad request. */
const KEY_SET_REJECTIONS = ['unknown_kid', 'bad_signature', 'unsupported_alg'] as const;
export type KeySetRejection = (typeof KEY_SET_REJECTIONS)[number];

/**
 * Whether `reason` is a {@link KeySetRejection} worth a warning: `unsupported_alg` only when
 * `algorithms` leaves some asymmetric algorithm out (otherwise the token's is one no realm uses:
 * `none`, HMAC).
 */
export function isKeySetRejection(reason: string, algorithms: readonly string[]): reason is KeySetRejection {
  if (reason === 'unsupported_alg') return ASYMMETRIC_JWS_ALGORITHMS.some((alg) => !algorithms.includes(alg));
  return (KEY_SET_REJECTIONS as readonly string[]).includes(reason);
}

/**
 * The warning for a {@link KeySetRejection}: with a wrong issuer realm, `jwksUri` or `algorithms`
 * every genuine token is refused for one of these reasons, before its signature verifies, so the
 * issuer and client id warnings never come. Anyone can send such a token too, hence the hedged
 * wording. `endpoint` opens the sentence (`back-channel logout`), `lost` closes it; `count` is the
 * handler's count of the reason.
 */
export function keySetWarning(
  endpoint: string,
  reason: KeySetRejection,
  { jwksUrl, algorithms, count, lost }: { readonly jwksUrl: string | undefined; readonly algorithms: readonly string[]; readonly count: number; readonly lost: string },
): string {
  const keys = jwksUrl ? `the realm JWKS (${jwksUrl})` : 'the key set of the key getter given as jwks';
  const wrongRealm = 'the keys are another realm\'s than the one that signs: check that issuer names the realm Keycloak sends from (https://<host>/realms/<realm>) and that ' +
    (jwksUrl ? 'jwksUri (realmKeys.jwksUri in the Fastify plugin) is unset or that realm\'s JWKS' : 'the key getter given as jwks holds that realm\'s keys');
  const [what, cause] = {
    unknown_kid: [`no key in ${keys} matches the token's "kid"`, wrongRealm],
    bad_signature: [`its signature does not verify with the key in ${keys} that its "kid" names`, wrongRealm],
    unsupported_alg: [
      `its "alg" is not one of algorithms (${algorithms.join(', ')})`,
      'algorithms (realmKeys.algorithms in the Fastify plugin) leaves out the realm\'s: Keycloak signs logout tokens with the client\'s ID token signature algorithm, admin actions with the realm\'s default',
    ],
  }[reason];
  return `${endpoint} refused (${reason}, ${count} so far): ${what}. A forged token is refused so too; if Keycloak's are, ${cause}. ${lost}`;
}

/** A claim's value (not secret: `iss`, `aud`, `resource`) as a warning shows it: strings quoted (up to 200 characters), a list of up to 5, anything else by its kind. */
export function claimText(value: unknown): string {
  const text = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.length > 200 ? `${v.slice(0, 197)}...` : v) : kindOf(v));
  if (!Array.isArray(value)) return text(value);
  return `[${value.slice(0, 5).map(text).join(', ')}${value.length > 5 ? `, … (${value.length} in all)` : ''}]`;
}

/**
 * Checks size and media type, and returns the body as text; or why it is refused. The size is
 * checked first, on the raw bytes, before anything is parsed. Media type parameters (`charset`)
 * are ignored: the tokens are ASCII.
 */
export function readBody(
  request: EndpointRequest,
  mediaType: string,
  maxBodyBytes: number,
): { ok: true; text: string } | { ok: false; failure: RequestFailure; description: string } {
  const size = typeof request.body === 'string' ? Buffer.byteLength(request.body) : request.body.length;
  if (size > maxBodyBytes) return { ok: false, failure: 'body_too_large', description: `request body larger than ${maxBodyBytes} bytes` };
  const received = (request.contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (received !== mediaType) return { ok: false, failure: 'unsupported_content_type', description: `content type must be ${mediaType}` };
  return { ok: true, text: typeof request.body === 'string' ? request.body : request.body.toString('utf8') };
}

/**
 * Checks what every logout endpoint is given besides its own settings: `clientId`, the revocation
 * `sink` and the `replayGuard`. Problems are recorded, not thrown, so one error names them all.
 */
export function checkEndpointCollaborators(
  options: { readonly clientId?: unknown; readonly sink?: RevocationSink; readonly replayGuard?: ReplayGuard },
  problems: OptionProblems,
): { sink: RevocationSink; replayGuard: ReplayGuard } {
  if (typeof options.clientId !== 'string' || options.clientId.length === 0) problems.add(`clientId: ${show(options.clientId)} must be a non-empty string (this client's id)`);
  const { sink, replayGuard } = options;
  if (!sink || typeof sink.revokeSession !== 'function' || typeof sink.revokeSubject !== 'function' || typeof sink.revokeAllBefore !== 'function') {
    problems.add('sink: must implement RevocationSink (revokeSession, revokeSubject, revokeAllBefore), e.g. a started Revocations');
  }
  if (!replayGuard || typeof replayGuard.firstUse !== 'function') problems.add('replayGuard: must implement ReplayGuard (firstUse), e.g. new RedisReplayGuard(redis)');
  return { sink: sink!, replayGuard: replayGuard! };
}

/** The outcome of {@link applyAndRecord}. Only `applied`, `replayed` and `failed` changed anything. */
export type ApplyAndRecordOutcome =
  | { readonly status: 'applied' | 'replayed' }
  /** The replay record's lifetime is not one Redis accepts: refused before anything was applied. */
  | { readonly status: 'unrecordable' }
  /** The sink refused the value (a KccInputError): nothing was applied. */
  | { readonly status: 'refused'; readonly cause: KccInputError }
  | { readonly status: 'failed'; readonly step: string; readonly cause: unknown };

/**
 * How long a logout endpoint waits for Redis (the revocation's write, then the replay record) before
 * it answers 503: below the 5 s Keycloak waits for an answer (its outgoing HTTP socket timeout). A
 * killed Redis would otherwise hold the request for ioredis' reconnect attempts (about a minute), a
 * frozen one for minutes, each holding a socket and delaying the app's close. The revocation is
 * already applied on the instance; its write goes on, and one that fails is written again until
 * Redis takes it (`Revocations` stats.unconfirmed), or until a close of the revocations gives it up
 * after their closeTimeoutMs (a route still waiting then answers 503 saying so).
 */
export const ENDPOINT_REDIS_WAIT_MS = 4_000;

/**
 * Applies the revocation, then records `replayKey` with the replay guard, cluster-wide. In this order a logout is never
 * lost: if Redis fails in between, the identity provider's retry (it gets a 503) applies it again,
 * which is harmless — every revocation, and a Keycloak push, is idempotent — instead of being refused
 * as a replay of a delivery that never took effect. A real replay is refused (400) after re-applying
 * nothing new. What can be decided beforehand is decided before anything is applied: a record
 * lifetime Redis would refuse is `unrecordable`, so an action is never applied and then answered as a
 * failure for a reason a retry cannot cure.
 *
 * Resolves `failed` after `waitMs` ({@link ENDPOINT_REDIS_WAIT_MS}) when Redis has not answered by
 * then; the steps go on (`late` is told how they ended).
 */
export async function applyAndRecord(
  replayGuard: ReplayGuard,
  replayKey: string,
  ttlMs: number,
  apply: () => Promise<void>,
  late: (outcome: ApplyAndRecordOutcome) => void = () => {},
  waitMs = ENDPOINT_REDIS_WAIT_MS,
): Promise<ApplyAndRecordOutcome> {
  if (!isRecordableTtl(ttlMs)) return { status: 'unrecordable' };
  let applied = false;
  const steps = (async (): Promise<ApplyAndRecordOutcome> => {
    try {
      await apply();
    } catch (cause) {
      if (cause instanceof KccInputError) return { status: 'refused', cause };
      // Closed, or closed while its write waited: nothing writes it any more.
      if (cause instanceof KccClosedError) return { status: 'failed', step: 'the revocations are closed (this instance is shutting down) and Redis did not take the revocation: the other instances may not have it', cause };
      return { status: 'failed', step: 'the revocation could not be stored', cause };
    }
    applied = true;
    let first: boolean;
    try {
      first = await replayGuard.firstUse(replayKey, ttlMs);
    } catch (cause) {
      return { status: 'failed', step: 'the replay check failed', cause };
    }
    return { status: first ? 'applied' : 'replayed' };
  })();
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const timeout = new Promise<ApplyAndRecordOutcome>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      const step = applied
        ? `the replay check got no answer from Redis within ${waitMs} ms (the revocation is stored)`
        : `Redis did not take the revocation within ${waitMs} ms (it is applied on this instance and written to Redis until Redis takes it)`;
      resolve({ status: 'failed', step, cause: new KccConnectionError(`no answer from Redis within ${waitMs} ms`) });
    }, waitMs);
  });
  try {
    return await Promise.race([steps, timeout]);
  } finally {
    clearTimeout(timer);
    // `late` logs; a logger that throws must not become an unhandled rejection (which ends a Node
    // process by default): there is no one left to tell.
    if (timedOut) {
      void steps.then((outcome) => {
        try {
          late(outcome);
        } catch {
          // nothing to do
        }
      });
    }
  }
}

/**
 * The replay keys (a logout token's `jti`, an admin action's `id`) whose revocation this endpoint
 * applied itself and saw recorded ({@link applyAndRecord} resolved `applied` or `replayed`): the
 * revocation is then held by this instance and durable in Redis. A replay of one of them is refused
 * without applying or writing anything again. Before, each replay of a captured valid token wrote
 * the revocation to Redis, appended it to the event log and published it to every instance before
 * it was refused (an attack review). Only this process's memory decides: a replay record found in
 * Redis (which a holder of the app's credentials can plant for a token not sent yet) never stops a
 * revocation, which is why the revocation is still applied before its record is checked there.
 * At least the last {@link APPLIED_HERE_CAPACITY} are kept, as SHA-256 digests; one forgotten is
 * handled as before (applied again, idempotent, then refused). Other instances a replay reaches apply
 * it once each, then remember it likewise.
 */
export class AppliedHere {
  private readonly ids = new RecentIds(APPLIED_HERE_CAPACITY);

  has(replayKey: string): boolean {
    return this.ids.has(digest(replayKey));
  }

  /** Remembers `replayKey` when `outcome` says its revocation was applied here and its record is in Redis. */
  note(replayKey: string, outcome: ApplyAndRecordOutcome): void {
    if (outcome.status === 'applied' || outcome.status === 'replayed') this.ids.add(digest(replayKey));
  }
}

export const APPLIED_HERE_CAPACITY = 10_000;

const digest = (id: string): string => createHash('sha256').update(id).digest('base64url');

/** A `PX` Redis accepts: a whole number of milliseconds from 1 to 2^53 − 1 once rounded up. */
function isRecordableTtl(ttlMs: number): boolean {
  return Number.isFinite(ttlMs) && ttlMs > 0 && Number.isSafeInteger(Math.ceil(ttlMs));
}

/** How often a logout endpoint warns about its 503s of one kind: the rest are counted, and said with the next warning. */
export const UNAVAILABLE_WARNING_INTERVAL_MS = PACED_WARNING_INTERVAL_MS;

/**
 * A logout endpoint's `warn` for its 503s and refusals ({@link pacedWarner}): forged tokens with
 * made-up `kid`s are answered 503 while the realm's JWKS fails, one warning each before (an attack
 * review: 200 requests, 200 lines); the handler's `stats.unavailable` still counts every one.
 */
export const unavailableWarner = pacedWarner;

/** Turns a request handler into an {@link EndpointHandler} that never rejects: an unexpected error becomes `onError`'s response. */
export function endpointHandler<Reason extends string>(
  handle: (request: EndpointRequest) => Promise<EndpointResponse>,
  onError: (error: unknown) => EndpointResponse,
  maxBodyBytes: number,
  stats: EndpointStats<Reason>,
): EndpointHandler<Reason> {
  const handler = async (request: EndpointRequest): Promise<EndpointResponse> => {
    try {
      return await handle(request);
    } catch (error) {
      return onError(error);
    }
  };
  return Object.assign(handler, { maxBodyBytes, stats });
}
