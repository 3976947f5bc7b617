import Fastify from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccConfigError, KccRedis } from '../../../client/src/index.js';
import { type KccFastifyOptions, fastifyKcc } from '../../../client/src/fastify/index.js';
import { CLIENT_ID, KEY_RING, appWith, connectionsNamed, connectionTo, expectConnections, pluginOptions, recordingLogger, useRedisAndRealm } from './support.js';

describe('Fastify plugin registration and lifecycle', () => {
  const { server, realm } = useRedisAndRealm();
  const base = (overrides: Partial<KccFastifyOptions> = {}) => pluginOptions(server, realm, overrides);

  it('decorates fastify.kcc once: ring, revocations, check, clientAuth, health; opens three connections', async () => {
    const app = await appWith(base({ connection: { ...connectionTo(server), instanceId: 'decorated' } }));
    try {
      expect(Object.keys(app.kcc).sort()).toEqual(['check', 'clientAuth', 'drain', 'health', 'keyRing', 'logoutStats', 'redis', 'rejects', 'revocations']);
      expect(app.kcc.check({ sid: 'nobody' })).toBe('active');
      expect(app.kcc.rejects({ sid: 'nobody' })).toBe(false);
      expect(app.kcc.health()).toMatchObject({ status: 'ok', keyRing: { status: 'ready' }, revocations: { status: 'current' } });
      expect(await connectionsNamed(server, 'decorated')).toBe(3); // commands, subscriber (revocations), reader (key-ring log)

      // clientAuth: an openid-client ClientAuth signing with the ring's active key.
      const body = new URLSearchParams();
      await app.kcc.clientAuth({ issuer: realm.issuer }, { client_id: CLIENT_ID }, body, new Headers());
      expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const { payload, protectedHeader } = await jwtVerify(body.get('client_assertion')!, createLocalJWKSet({ keys: [...app.kcc.keyRing.jwks().keys] }), { audience: realm.issuer, issuer: CLIENT_ID });
      expect(payload.sub).toBe(CLIENT_ID);
      expect(protectedHeader.kid).toBe(app.kcc.keyRing.signingKey().kid);
    } finally {
      await app.close();
    }
    expect(() => app.kcc.redis.client).toThrow(/connection is closed/);
    expect(app.kcc.health().status).toBe('closed');
    await expectConnections(server, 'decorated', 0);
  });

  it('rejects a second registration on the same instance with an error naming the plugin; the first still closes cleanly', async () => {
    const app = Fastify();
    await app.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'twice' } }));
    app.register(fastifyKcc, base());
    await expect(app.ready()).rejects.toThrow(/^@kcc-redis\/client registration is invalid \(1 problem\):\n  - already registered on this Fastify instance \(fastify\.kcc exists\)/);
    await app.close();
    await expectConnections(server, 'twice', 0);
  });

  it('where keycloak-connector\'s Fastify adapter already decorated fastify.kcc: an error that names it, nothing connected', async () => {
    const app = Fastify();
    // What the adapter decorates (its own object: no keyRing).
    app.decorate('kcc', { keycloakConnector: {} } as never);
    app.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'adapter-first' } }));
    await expect(app.ready()).rejects.toThrow(/fastify\.kcc exists and is not this plugin's \(keycloak-connector's Fastify adapter decorates it too\): the two cannot share a Fastify instance/);
    await app.close();
    await expectConnections(server, 'adapter-first', 0);
  });

  it('closes only what it created: a connection passed as `redis` stays open and is the caller\'s', async () => {
    const redis = await KccRedis.connect({ ...connectionTo(server), instanceId: 'callers' }, ['subscriber', 'reader']);
    try {
      const { connection: _ignored, ...options } = base();
      const app = await appWith({ ...options, redis });
      expect(app.kcc.redis).toBe(redis);
      await app.close();
      expect(app.kcc.health().status).toBe('closed');
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      expect(await connectionsNamed(server, 'callers:commands')).toBe(1); // (the ring's log reader was its own, and is closed with it)
    } finally {
      await redis.close();
    }
  });

  it('mounts routes where asked, or not at all', async () => {
    const app = await appWith(base({ routes: { jwks: '/oidc/jwks', backchannelLogout: false }, jwksMaxAgeSeconds: 30 }));
    try {
      const jwks = await app.inject({ method: 'GET', url: '/oidc/jwks' });
      expect([jwks.statusCode, jwks.headers['cache-control']]).toEqual([200, 'public, max-age=30']);
      for (const url of ['/.well-known/jwks.json', '/backchannel-logout', '/k_logout']) {
        expect((await app.inject({ method: url === '/.well-known/jwks.json' ? 'GET' : 'POST', url })).statusCode, url).toBe(404);
      }
    } finally {
      await app.close();
    }
  });

  it('a prefix on register does not apply to its routes; a prefix on an enclosing scope does (the URLs given to Keycloak then carry it)', async () => {
    const own = Fastify();
    await own.register(fastifyKcc, { ...base(), prefix: '/auth' } as KccFastifyOptions);
    const nested = Fastify();
    await nested.register(async (api) => api.register(fastifyKcc, base()), { prefix: '/api' });
    try {
      await Promise.all([own.ready(), nested.ready()]);
      expect((await own.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(200);
      expect((await own.inject({ method: 'GET', url: '/auth/.well-known/jwks.json' })).statusCode).toBe(404);
      expect((await nested.inject({ method: 'GET', url: '/api/.well-known/jwks.json' })).statusCode).toBe(200);
      expect((await nested.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode).toBe(404);
      expect((await nested.inject({ method: 'POST', url: '/api/backchannel-logout', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'logout_token=x' })).statusCode).toBe(400);
    } finally {
      await Promise.all([own.close(), nested.close()]);
    }
  });

  type BadOptions = [what: string, overrides: () => Partial<KccFastifyOptions>, message: RegExp];
  const bad: BadOptions[] = [
    ['no clientId', () => ({ clientId: '' }), /^clientId: "" must be a non-empty string/],
    ['an issuer that is not a URL', () => ({ issuer: 'shop' }), /^issuer: "shop" must be an absolute URL/],
    // Shaped as a connection (the plugin checks for one: a bare {} is refused as not a KccRedis).
    ['both redis and connection', () => ({ redis: { openSubscriber: () => undefined } as unknown as KccRedis }), /^redis, connection: give one of them, not both/],
    ['a JWKS max-age not below the activation delay', () => ({ jwksMaxAgeSeconds: 120 }), /^jwksMaxAgeSeconds: 120 must be below the key ring's activationDelayMs \(120000 ms\)/],
    ['a relative route', () => ({ routes: { jwks: 'jwks' } }), /^routes\.jwks: "jwks" must be an absolute path/],
    ['a health route with a query', () => ({ routes: { health: '/health?x' } }), /^routes\.health: "\/health\?x" must be an absolute path .*, true \(the default path\) or false$/],
    ['metrics that are not an object', () => ({ metrics: true as never }), /^metrics: true must be \{ meterProvider\? \} or false/],
    ['a meterProvider without getMeter', () => ({ metrics: { meterProvider: {} as never } }), /^metrics\.meterProvider: .* must be an OpenTelemetry MeterProvider \(with getMeter\)/],
    ['keycloakAdmin.enabled not a boolean', () => ({ keycloakAdmin: { enabled: 'yes' as unknown as boolean } }), /^keycloakAdmin\.enabled: "yes" must be true or false/],
    ['a relative Admin URL path', () => ({ keycloakAdmin: { enabled: true, adminUrlPath: 'kc' } }), /^keycloakAdmin\.adminUrlPath: "kc"/],
    ['an HMAC realm algorithm', () => ({ realmKeys: { algorithms: ['HS256' as never] } }), /^realmKeys\.algorithms: "HS256" is not allowed/],
    ['a zero logout body limit', () => ({ backchannelLogout: { maxBodyBytes: 0 } }), /^backchannelLogout\.maxBodyBytes: 0 must be a whole number of bytes, 1 or more/],
    ['a negative Keycloak admin clock tolerance', () => ({ keycloakAdmin: { enabled: true, clockToleranceMs: -1 } }), /^keycloakAdmin\.clockToleranceMs: -1 must be a whole number of milliseconds, 0 or more/],
    ['a JWKS URL that is not a URL', () => ({ realmKeys: { jwksUri: 'certs' } }), /^realmKeys\.jwksUri: "certs" must be an absolute URL/],
  ];
  it.each(bad)('refuses %s with a KccConfigError naming the option, before connecting', async (_what, overrides, message) => {
    // Nothing listens on this port: had the plugin connected first, the error would be a connection failure.
    const options = base({ connection: { ...connectionTo(server), url: 'rediss://127.0.0.1:1', connectTimeoutMs: 60_000 }, ...overrides() });
    const app = Fastify();
    app.register(fastifyKcc, options);
    const error = await app.ready().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([expect.stringMatching(message)]);
    await app.close();
  });

  it('lists every problem in one KccConfigError: the plugin\'s own, its realm keys\' and its logout routes\', each option named as given to the plugin, before connecting', async () => {
    // An attack review: the plugin's options, the realm keys and each route's handler threw one after
    // the other, so a fix revealed the next problem (the docs promised one error).
    const options = base({
      connection: { ...connectionTo(server), url: 'rediss://127.0.0.1:1', connectTimeoutMs: 60_000 },
      clientId: '',
      jwksMaxAgeSeconds: 120,
      realmKeys: { algorithms: ['HS256' as never], jwksCacheMaxAgeMs: -1 },
      backchannelLogout: { maxBodyBytes: 0, acceptedTypes: [] },
      keycloakAdmin: { enabled: true, clockToleranceMs: -1 },
    });
    const app = Fastify();
    app.register(fastifyKcc, options);
    const error = await app.ready().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([
      expect.stringMatching(/^clientId: "" must be a non-empty string/),
      expect.stringMatching(/^jwksMaxAgeSeconds: 120 must be below/),
      expect.stringMatching(/^realmKeys\.algorithms: "HS256" is not allowed/),
      expect.stringMatching(/^realmKeys\.jwksCacheMaxAgeMs: -1 must be/),
      expect.stringMatching(/^backchannelLogout\.maxBodyBytes: 0 must be/),
      expect.stringMatching(/^backchannelLogout\.acceptedTypes: must list at least one/),
      expect.stringMatching(/^keycloakAdmin\.clockToleranceMs: -1 must be/),
    ]);
    expect((error as KccConfigError).message).toMatch(/^@kcc-redis\/client options are invalid \(7 problems\)/);
    await app.close();
  });

  it('a key ring it cannot decrypt fails registration (KCC_KEYRING_INVALID) and leaves no connection open', async () => {
    await (await appWith(base())).close(); // the ring exists, under KEY_RING's key-encryption key
    const logger = recordingLogger();
    const app = Fastify();
    app.register(fastifyKcc, base({
      connection: { ...connectionTo(server, logger), instanceId: 'wrong-kek' },
      keyRing: { ...KEY_RING, keyEncryptionKey: 'another-key-encryption-key-0123456789abcdef' },
      logger,
    }));
    await expect(app.ready()).rejects.toMatchObject({ code: 'KCC_KEYRING_INVALID' });
    await app.close();
    await expectConnections(server, 'wrong-kek', 0);
    expect(logger.lines.some((line) => line.startsWith('warn key ring version') && line.includes('refused'))).toBe(true);
  });

  it('a route that clashes with one of the app\'s fails registration with Fastify\'s error, and leaves no connection open', async () => {
    const app = Fastify();
    app.get('/.well-known/jwks.json', async () => ({ keys: [] }));
    app.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'route-clash' } }));
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_DUPLICATED_ROUTE' });
    await app.close();
    await expectConnections(server, 'route-clash', 0);
  });

  it('a key-ring option it cannot use fails registration naming the field, and leaves no connection open', async () => {
    const app = Fastify();
    app.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'short-kek' }, keyRing: { ...KEY_RING, keyEncryptionKey: 'too-short' } }));
    const error = await app.ready().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KccConfigError);
    // Named as given to the plugin (the key ring's own check says keyEncryptionKey).
    expect((error as KccConfigError).problems).toEqual([expect.stringMatching(/^keyRing\.keyEncryptionKey: must be at least \d+ characters \(has 9\)$/)]);
    await app.close();
    await expectConnections(server, 'short-kek', 0);
  });

  it('a misspelled option fails registration naming it and the option meant: the plugin\'s own before anything connects, the revocations\' leaving no connection open', async () => {
    const app = Fastify();
    app.register(fastifyKcc, { ...base({ connection: { ...connectionTo(server), instanceId: 'misspelled' } }), jwksMaxAge: 30, routes: { jwk: '/jwks' } } as KccFastifyOptions);
    const error = await app.ready().then(() => undefined, (e: unknown) => e);
    expect((error as KccConfigError).problems).toEqual(['jwksMaxAge: not an option; did you mean jwksMaxAgeSeconds?', 'routes.jwk: not an option; did you mean routes.jwks?']);
    await app.close();
    const second = Fastify();
    second.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'misspelled' }, revocations: { failopen: true } as KccFastifyOptions['revocations'] }));
    const revocationsError = await second.ready().then(() => undefined, (e: unknown) => e);
    expect(revocationsError).toBeInstanceOf(KccConfigError);
    expect((revocationsError as KccConfigError).problems).toEqual(['revocations.failopen: not an option; did you mean failOpen?']);
    // A connection option likewise (KccRedis.connect's own check names it without the plugin's prefix).
    const fourth = Fastify();
    fourth.register(fastifyKcc, base({ connection: { ...connectionTo(server), instanceId: 'misspelled', connectTimeoutMS: 5 } as KccFastifyOptions['connection'] }));
    const connectionError = await fourth.ready().then(() => undefined, (e: unknown) => e);
    expect((connectionError as KccConfigError).problems).toEqual([expect.stringMatching(/^connection\.connectTimeoutMS: not an option/)]);
    await fourth.close();
    await second.close();
    await expectConnections(server, 'misspelled', 0);
    // Fastify's own register() options reach the plugin beside its own: they are not misspellings.
    const third = Fastify();
    third.register(fastifyKcc, { ...base({ connection: { ...connectionTo(server), instanceId: 'misspelled' } }), prefix: '/auth', logLevel: 'warn', logSerializers: {} });
    await third.ready();
    await third.close();
  });

  it('a key-ring option it cannot use, with a connection passed as `redis`: registration fails, the caller\'s connection stays open and usable', async () => {
    const redis = await KccRedis.connect({ ...connectionTo(server), instanceId: 'callers-bad-kek' });
    try {
      const { connection: _ignored, ...options } = base({ keyRing: { ...KEY_RING, keyEncryptionKey: 'too-short' } });
      const app = Fastify();
      app.register(fastifyKcc, { ...options, redis });
      await expect(app.ready()).rejects.toBeInstanceOf(KccConfigError);
      await app.close();
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      expect(await connectionsNamed(server, 'callers-bad-kek:commands')).toBe(1);
    } finally {
      await redis.close();
    }
  });
});
