/**
 * The example service: a small Fastify app using the kcc-redis plugin. Run it through `npm run
 * example` (two instances, see run.ts). In your own app, import from the package:
 *   import { fastifyKcc, requireNotRevoked } from '@kcc-redis/client/fastify';
 */
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { type JWTPayload, createRemoteJWKSet, jwtVerify } from 'jose';
import { fastifyKcc, requireNotRevoked } from '@kcc-redis/client/fastify';
import type { KccConnectionOptions } from '@kcc-redis/client';

/** The verified claims of the request's bearer token. */
export interface TokenClaims {
  readonly sub: string;
  readonly sid: string;
  readonly iat: number;
  /** Lets the tokens Keycloak refreshes from an offline session pass a back-channel logout of the browser session. */
  readonly scope?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the example's `authenticate` preHandler. */
    claims: TokenClaims | null;
  }
}

/** Options of {@link buildApp}. */
export interface ExampleAppOptions {
  /** Shown in responses, to tell the instances apart. */
  readonly name: string;
  /** The realm's issuer URL (here the demo identity provider's). */
  readonly issuer: string;
  readonly clientId: string;
  /**
   * How to reach Redis. In production leave it out: the plugin reads `KCC_REDIS_SECRET_ID` (or the
   * `KCC_REDIS_*` lines `npm run local` prints).
   */
  readonly connection: KccConnectionOptions;
  /** Key-encryption key of the signing-key ring (`KCC_KEYRING_KEK` in production, or the stack's secret). */
  readonly keyEncryptionKey: string;
}

/**
 * Builds one instance: the plugin (JWKS, back-channel logout, `fastify.kcc`), a protected route,
 * the app's own logout, and the plugin's health route at /health.
 *
 * @example
 * const app = await buildApp({ name: 'A', issuer, clientId: 'demo-app', connection, keyEncryptionKey });
 * await app.listen({ port: 0, host: '127.0.0.1' });
 */
export async function buildApp(options: ExampleAppOptions): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(fastifyKcc, {
    issuer: options.issuer,
    clientId: options.clientId,
    connection: options.connection,
    keyRing: { keyEncryptionKey: options.keyEncryptionKey, env: {} },
    // The plugin's health route: states only, no key id, error or counter (it is unauthenticated).
    // app.kcc.health() has those details, for your logs or an authenticated route.
    routes: { health: '/health' },
  });

  // Authentication is the app's: verify the bearer token against the realm's JWKS. The plugin then
  // answers "was this session logged out anywhere in the cluster?" from memory. Keycloak signs the
  // ID token with the same key and for this client too: only an access token (its `typ` claim is
  // "Bearer") is accepted as a bearer token.
  const realmKeys = createRemoteJWKSet(new URL(`${options.issuer}/protocol/openid-connect/certs`));
  app.decorateRequest('claims', null);
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    let payload: JWTPayload | undefined;
    try {
      payload = token ? (await jwtVerify(token, realmKeys, { issuer: options.issuer, audience: options.clientId })).payload : undefined;
    } catch {
      payload = undefined;
    }
    if (!payload || payload.typ !== 'Bearer' || typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.iat !== 'number') {
      return reply.code(401).header('WWW-Authenticate', 'Bearer').send({ error: 'invalid_token' });
    }
    request.claims = { sub: payload.sub, sid: payload.sid, iat: payload.iat, ...(typeof payload.scope === 'string' ? { scope: payload.scope } : {}) };
    return undefined;
  };
  const protect = { preHandler: [authenticate, requireNotRevoked((request) => request.claims ?? undefined)] };

  app.get('/api/me', protect, async (request) => ({ instance: options.name, ...request.claims }));
  // The app's own logout: revoke the session on every instance.
  app.post('/logout', protect, async (request, reply) => {
    await app.kcc.revocations.revokeSession(request.claims!.sid);
    return reply.code(204).send();
  });
  return app;
}

/**
 * The shutdown of docs/shutdown.md, for SIGTERM: the health route answers 503 ("draining") at once so
 * that load balancers and endpoints stop sending requests, every route (the logout routes included)
 * keeps serving for `drainMs`, then the app closes (the plugin first writes the revocations Redis has
 * not confirmed, up to `revocations.closeTimeoutMs`). The orchestrator's grace period must cover it.
 *
 * @example
 * process.once('SIGTERM', () => void shutDown(app, 10_000));
 */
export async function shutDown(app: FastifyInstance, drainMs: number): Promise<void> {
  app.kcc.drain();
  await sleep(drainMs);
  await app.close();
}
