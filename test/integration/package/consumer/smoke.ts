/**
 * A new user's first program, written against the published package only: connect, start the key
 * ring and sign a client assertion, start revocations and revoke a session, and serve the JWKS
 * through the Fastify plugin (with its health route). The scratch consumers do not install the
 * optional peer `@opentelemetry/api`: metrics must then be off, silently, and nothing else may
 * change (`KccMetrics.start` and the plugin's default metrics included). The tarball test copies this file into each scratch consumer (as
 * `smoke.ts` for ES modules, `smoke.cts` for CommonJS, where it compiles to `require()` calls),
 * type-checks it strictly there and runs it against a local Redis. It prints one JSON line.
 *
 * No top-level await and no `import.meta`: the same text must compile as CommonJS.
 */
import Fastify from 'fastify';
import { KccMetrics, KccRedis, KeyRing, Revocations, type KccConnectionOptions, type KccLogger } from '@kcc-redis/client';
import { fastifyKcc } from '@kcc-redis/client/fastify';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function main(): Promise<Record<string, unknown>> {
  const warnings: string[] = [];
  const logger: KccLogger = { info: () => {}, warn: (message) => warnings.push(message) };
  const connection: KccConnectionOptions = {
    url: required('SMOKE_REDIS_URL'),
    username: required('SMOKE_REDIS_USERNAME'),
    password: required('SMOKE_REDIS_PASSWORD'),
    tls: { ca: required('SMOKE_REDIS_CA') },
    env: {},
    logger,
  };
  const keyRing = { keyEncryptionKey: required('SMOKE_KEK'), env: {}, algorithm: 'ES256' } as const;

  const redis = await KccRedis.connect(connection);
  const ring = await KeyRing.start(redis, keyRing);
  const assertion = await ring.signClientAssertion({ clientId: 'smoke', audience: 'https://sso.example/realms/main' });
  const signingKid = ring.signingKey().kid;
  const revocations = await Revocations.start(redis);
  await revocations.revokeSession('smoke-session');
  const revoked = revocations.check({ sid: 'smoke-session' });
  const other = revocations.check({ sid: 'another-session' });
  const metrics = await KccMetrics.start({ redis, keyRing: ring, revocations });
  const metricsEnabled = metrics.enabled;
  metrics.close();

  const app = Fastify();
  await app.register(fastifyKcc, { issuer: 'https://sso.example/realms/main', clientId: 'smoke', connection, keyRing, logger, routes: { health: true } });
  const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  const health = await app.inject({ method: 'GET', url: '/.well-known/kcc-health' });
  const jwks = response.json<{ keys: { kid: string }[] }>();
  const pluginSeesRevocation = app.kcc.revocations.check({ sid: 'smoke-session' });
  await app.close();
  await Promise.all([ring.close(), revocations.close()]);
  await redis.close();

  return {
    assertion,
    signingKid,
    jwksStatus: response.statusCode,
    jwksKids: jwks.keys.map((key) => key.kid),
    revoked,
    other,
    pluginSeesRevocation,
    metricsEnabled,
    healthStatus: health.statusCode,
    healthBody: health.json<{ status: string }>(),
    warnings,
  };
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
