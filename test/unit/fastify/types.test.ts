import Fastify, { type FastifyInstance, type FastifyPluginAsync, type preHandlerAsyncHookHandler } from 'fastify';
import type * as oidc from 'openid-client';
import { describe, expectTypeOf, it } from 'vitest';
import type { KccRedis, KeyRing, RevocationCheck, RevocationClaims, Revocations } from '../../../client/src/index.js';
import { type KccFastify, type KccFastifyOptions, type KccHealth, fastifyKcc, requireNotRevoked } from '../../../client/src/fastify/index.js';
import defaultExport from '../../../client/src/fastify/index.js';

// Type tests: `npm test` type-checks this file (tsc) before vitest runs it; the expectations are no-ops at run time.
describe('types of @kcc-redis/client/fastify', () => {
  it('module augmentation: fastify.kcc is a KccFastify on every instance', () => {
    const app = Fastify(); // not registered: only types are looked at
    expectTypeOf(app.kcc).toEqualTypeOf<KccFastify>();
    expectTypeOf<FastifyInstance['kcc']>().toEqualTypeOf<KccFastify>();
    type Kcc = typeof app.kcc;
    expectTypeOf<Kcc['keyRing']>().toEqualTypeOf<KeyRing>();
    expectTypeOf<Kcc['revocations']>().toEqualTypeOf<Revocations>();
    expectTypeOf<Kcc['redis']>().toEqualTypeOf<KccRedis>();
    expectTypeOf<Kcc['check']>().parameters.toEqualTypeOf<[RevocationClaims]>();
    expectTypeOf<Kcc['check']>().returns.toEqualTypeOf<RevocationCheck>();
    expectTypeOf<Kcc['rejects']>().returns.toEqualTypeOf<boolean>();
    expectTypeOf<Kcc['health']>().returns.toEqualTypeOf<KccHealth>();
    expectTypeOf<KccHealth['status']>().toEqualTypeOf<'ok' | 'degraded' | 'closed'>();
  });

  it('clientAuth is usable as openid-client\'s ClientAuth', () => {
    expectTypeOf<KccFastify['clientAuth']>().toExtend<oidc.ClientAuth>();
  });

  it('the plugin is a FastifyPluginAsync over KccFastifyOptions, also the default export', () => {
    expectTypeOf(fastifyKcc).toExtend<FastifyPluginAsync<KccFastifyOptions>>();
    expectTypeOf(defaultExport).toEqualTypeOf(fastifyKcc);
    expectTypeOf(requireNotRevoked).returns.toEqualTypeOf<preHandlerAsyncHookHandler>();
    expectTypeOf(requireNotRevoked).parameter(0).parameter(0).toHaveProperty('headers');
  });

  it('register() checks the options', () => {
    // Never called: only type-checked.
    const misuse = (app: FastifyInstance) => {
      void app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop', clientId: 'shop' });
      // @ts-expect-error clientId is required
      void app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop' });
      // @ts-expect-error routes take paths or false, not true
      void app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop', clientId: 'shop', routes: { jwks: true } });
      // @ts-expect-error keycloakAdmin needs `enabled`
      void app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop', clientId: 'shop', keycloakAdmin: { adminUrlPath: '/kc' } });
      // @ts-expect-error the decoration is read-only
      app.kcc.keyRing = app.kcc.keyRing;
    };
    expectTypeOf(misuse).toBeFunction();
  });

  it('preHandler getters may be sync or async and may find no claims', () => {
    expectTypeOf(requireNotRevoked).toBeCallableWith(() => undefined);
    expectTypeOf(requireNotRevoked).toBeCallableWith(async () => ({ sid: 's' }));
    expectTypeOf(requireNotRevoked).toBeCallableWith((request) => ({ sub: String(request.headers['x-user']), iat: 1 }));
  });
});
