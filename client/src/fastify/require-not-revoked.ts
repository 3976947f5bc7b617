import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { RevocationClaims } from '../revocation/revocation-index.js';
import type { KccFastify } from './decoration.js';
import { PLUGIN_NAME } from './plugin-options.js';

/** Reads the verified token claims of a request (`sid`, `sub`, `iat`); `undefined` when there are none. */
export type ClaimsGetter = (request: FastifyRequest) => RevocationClaims | undefined | Promise<RevocationClaims | undefined>;

function refuse(reply: FastifyReply, status: 401 | 503, error: string, description: string, challenge: string): FastifyReply {
  reply.code(status).header('Cache-Control', 'no-store');
  if (status === 401) reply.header('WWW-Authenticate', challenge);
  return reply.send({ error, error_description: description });
}

/**
 * A `preHandler` that refuses requests whose token claims are revoked cluster-wide, answered from
 * memory through `fastify.kcc` (register the plugin first; any scope under it works):
 * - no claims → 401, `WWW-Authenticate: Bearer`;
 * - revoked (session, user not-before, client not-before) → 401 `invalid_token`, `WWW-Authenticate: Bearer error="invalid_token"`;
 * - stale (this instance cut off from Redis longer than `maxStalenessMs`) under fail-closed (the
 *   default) → 503 `temporarily_unavailable`: the token is not known to be bad, so it is not
 *   declared invalid (a 401 would send the user to log in again, which a stale instance cannot fix);
 *   a retry may reach a healthy instance. With `revocations.failOpen`, stale checks pass.
 *
 * It does not verify tokens: `getClaims` returns the claims your authentication already verified.
 *
 * @example
 * app.get('/orders', { preHandler: requireNotRevoked((request) => request.user) }, handler);
 */
export function requireNotRevoked(getClaims: ClaimsGetter): preHandlerAsyncHookHandler {
  if (typeof getClaims !== 'function') throw new TypeError('getClaims: must be a function (request) => claims | undefined');
  return async function rejectRevoked(request, reply) {
    const kcc = (request.server as { kcc?: KccFastify }).kcc;
    if (kcc === undefined) throw new Error(`${PLUGIN_NAME}: requireNotRevoked needs the plugin registered on this Fastify instance (fastify.kcc is missing)`);
    const claims = await getClaims(request);
    if (claims === undefined) return refuse(reply, 401, 'invalid_token', 'no token', 'Bearer');
    const check = kcc.check(claims);
    if (check === 'revoked') return refuse(reply, 401, 'invalid_token', 'token revoked', 'Bearer error="invalid_token", error_description="token revoked"');
    if (check === 'stale' && kcc.rejects(claims)) return refuse(reply, 503, 'temporarily_unavailable', 'revocation state is stale', '');
    return undefined;
  };
}
