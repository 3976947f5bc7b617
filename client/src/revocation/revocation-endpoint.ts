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

/** 503 `temporarily_unavailable`: the identity provider should retry. */
export function unavailableResponse(): EndpointResponse {
  return {
    status: 503,
    headers: { ...NO_STORE, 'Content-Type': 'application/json' },
    body: JSON.stringify({ error: 'temporarily_unavailable' }),
  };
}

export function emptyStats<Reason extends string>(reasons: readonly Reason[]): EndpointStats<Reason> {
  const rejected = Object.fromEntries(reasons.map((r) => [r, 0])) as Record<Reason, number>;
  return { accepted: 0, rejected, unavailable: 0 };
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

/** Checks a byte-size option; throws a TypeError naming it. */
export function checkPositiveInteger(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`${option}: ${value} must be a whole number, 1 or more`);
  return value;
}

/** The outcome of {@link applyAndRecord}. */
export type ApplyAndRecordOutcome = { readonly status: 'applied' | 'replayed' } | { readonly status: 'failed'; readonly step: string; readonly cause: unknown };

/**
 * Applies the revocation, then records `replayKey` cluster-wide. In this order a logout is never
 * lost: if Redis fails in between, the identity provider's retry (it gets a 503) applies it again,
 * which is harmless — a revocation is idempotent — instead of being refused as a replay of a
 * delivery that never took effect. A real replay is refused (400) after re-applying nothing new.
 */
export async function applyAndRecord(
  sink: RevocationSink,
  replayKey: string,
  ttlMs: number,
  apply: () => Promise<void>,
): Promise<ApplyAndRecordOutcome> {
  try {
    await apply();
  } catch (cause) {
    return { status: 'failed', step: 'the revocation could not be stored', cause };
  }
  let first: boolean;
  try {
    first = await sink.rememberJti(replayKey, ttlMs);
  } catch (cause) {
    return { status: 'failed', step: 'the replay check failed', cause };
  }
  return { status: first ? 'applied' : 'replayed' };
}

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
