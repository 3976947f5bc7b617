import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { JsonWebKeySet, KeyRing } from '../keyring/key-ring.js';

/** RFC 7517 §8.5's media type for a JWK Set. */
export const JWKS_CONTENT_TYPE = 'application/jwk-set+json';

interface Rendered {
  readonly document: JsonWebKeySet;
  /** A Buffer, so Fastify sends the media type as given (no `charset`, which JSON does not define). */
  readonly body: Buffer;
  readonly etag: string;
}

/** Whether an `If-None-Match` header matches `etag` (weak comparison, RFC 9110 §13.1.2). */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/**
 * Mounts `GET <path>`: the ring's public JWKS from memory (after a catch-up with Redis when the ring's
 * periodic read is overdue, as after a freeze: {@link KeyRing.currentJwks}), `Cache-Control: public, max-age=<maxAge>`
 * (`no-cache` while the read is still overdue: the set may lack a key activated elsewhere at once),
 * a strong ETag (SHA-256 of the body, recomputed only when the ring's JWKS changes) and 304 on a
 * matching `If-None-Match`. Fastify adds `HEAD`.
 */
export function mountJwksRoute(fastify: FastifyInstance, path: string, ring: KeyRing, maxAgeSeconds: number): void {
  const cacheable = `public, max-age=${maxAgeSeconds}`;
  let rendered: Rendered | undefined;
  const render = async (): Promise<Rendered> => {
    const document = await ring.currentJwks();
    if (rendered?.document !== document) {
      const body = Buffer.from(JSON.stringify(document));
      rendered = { document, body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
    }
    return rendered;
  };
  fastify.get(path, async (request, reply) => {
    const { body, etag } = await render();
    reply.header('Cache-Control', ring.health().readOverdue ? 'no-cache' : cacheable).header('ETag', etag);
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.type(JWKS_CONTENT_TYPE).send(body);
  });
}
