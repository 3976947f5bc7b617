import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type EndpointHandler, FORM_CONTENT_TYPE, TEXT_CONTENT_TYPE } from '../revocation/revocation-endpoint.js';

/** A framework-agnostic logout handler, the path it is mounted at and the media type it takes. */
export interface MountedEndpoint {
  readonly path: string;
  readonly handler: EndpointHandler<string>;
  readonly mediaType: typeof FORM_CONTENT_TYPE | typeof TEXT_CONTENT_TYPE;
}


/** Fastify's own refusals (413 body too large, 415 media type, 400 bad body) in the handlers' OAuth shape. */
function errorBody(error: FastifyError, mediaType: string): { status: number; body: { error: string; error_description?: string } } {
  const status = error.statusCode ?? 500;
  if (status === 413) return { status, body: { error: 'invalid_request', error_description: 'request body too large' } };
  if (status === 415) return { status, body: { error: 'invalid_request', error_description: `content type must be ${mediaType}` } };
  if (status >= 400 && status < 500) return { status, body: { error: 'invalid_request', error_description: 'malformed request' } };
  return { status: 500, body: { error: 'server_error' } };
}

/**
 * Mounts the logout endpoints (back-channel logout; Keycloak's `k_logout` / `k_push_not_before`) in
 * their own encapsulated scope, so nothing here changes the app's other routes:
 * - each route's scope has one body parser, keeping the raw bytes of its media type
 *   (`application/x-www-form-urlencoded` or `text/plain`; the handlers check size and type
 *   themselves); any other type is 415;
 * - each route's `bodyLimit` is its handler's `maxBodyBytes`: a larger body is 413, before parsing;
 * - an `onSend` hook puts `Cache-Control: no-store` on every response of the scope, Fastify's own
 *   413 / 415 / 400 included.
 */
export async function mountLogoutRoutes(fastify: FastifyInstance, endpoints: readonly MountedEndpoint[]): Promise<void> {
  if (endpoints.length === 0) return;
  // Named (fastify-plugin, still encapsulated): Fastify looks for an unnamed plugin's name by
  // scanning every loaded module, on each registration.
  const scoped = fp(async (scope: FastifyInstance) => {
    // One scope per media type, holding only that type's parser: Fastify answers 415 to any other
    // type before the route runs (a form sent to k_logout, text to the back-channel route). With one
    // media type (no Keycloak admin routes), this scope is that scope: no child to register.
    const mediaTypes = new Set(endpoints.map((e) => e.mediaType));
    if (mediaTypes.size === 1) return mountTyped(scope, endpoints[0]!.mediaType, endpoints);
    for (const mediaType of mediaTypes) {
      const typed = fp(async (child: FastifyInstance) => mountTyped(child, mediaType, endpoints.filter((e) => e.mediaType === mediaType)), {
        name: `kcc-redis-logout-routes-${mediaType}`,
        encapsulate: true,
      });
      await scope.register(typed);
    }
  }, { name: 'kcc-redis-logout-routes', encapsulate: true });
  await fastify.register(scoped);
}

function mountTyped(scope: FastifyInstance, mediaType: MountedEndpoint['mediaType'], endpoints: readonly MountedEndpoint[]): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(mediaType, { parseAs: 'buffer' }, (_request: FastifyRequest, body: Buffer, done) => done(null, body));
  scope.addHook('onSend', async (_request, reply, payload) => {
    reply.header('Cache-Control', 'no-store');
    return payload;
  });
  for (const { path, handler } of endpoints) {
    const errorHandler = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const { status, body } = errorBody(error, mediaType);
      if (status >= 500) request.log.error({ err: error }, 'logout endpoint failed');
      return reply.code(status).send(body);
    };
    scope.post(path, { bodyLimit: handler.maxBodyBytes, errorHandler }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const response = await handler({ contentType: request.headers['content-type'], body });
      return reply.code(response.status).headers(response.headers).send(response.body);
    });
  }
}
