import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { secretsIn } from '../../support/secret-scan.js';
import {
  KccConfigError,
  KccRedis,
  KeyRing,
  Revocations,
  createBackchannelLogoutHandler,
  createKeycloakAdminHandlers,
  createKeycloakPushVerifier,
  resolveRealmKeys,
} from '../../../client/src/index.js';
import { fastifyKcc } from '../../../client/src/fastify/index.js';
import { kccClusterProvider, kccKeyProvider } from '../../../client/src/keycloak-connector/index.js';

// Found by a new user's review of the packed tarball: KccRedis.connect('rediss://…') from JavaScript
// said "url: missing", as if no URL had been given. Every entry point that takes an options object
// now says that it takes one, and how to call it, without showing what was given.

const PASSWORD = 'hunter2-correct-horse-battery';
const URL_WITH_PASSWORD = `rediss://shop-prod:${PASSWORD}@cache.example.com:6379`;
/** Not a connection: the entry points must refuse their options before touching it. */
const NO_REDIS = {} as KccRedis;

/** The non-objects a JavaScript caller may pass, each with the kind the problem names. */
const NON_OBJECTS: readonly (readonly [string, unknown])[] = [
  ['a string', URL_WITH_PASSWORD],
  ['a number', 6379],
  ['null', null],
  ['an array', [URL_WITH_PASSWORD]],
];

/** Each entry point: its error's subject, how its problem says to call it, and the call. */
const ENTRY_POINTS: readonly (readonly [string, string, (options: never) => unknown])[] = [
  ['KccRedis.connect options', 'KccRedis.connect({ url:', (options) => KccRedis.connect(options)],
  ['KeyRing.start options', 'KeyRing.start(redis, {', (options) => KeyRing.start(NO_REDIS, options)],
  ['KeyRing.inspect options', 'KeyRing.inspect(redis, {', (options) => KeyRing.inspect(NO_REDIS, options)],
  ['Revocations.start options', 'Revocations.start(redis, {', (options) => Revocations.start(NO_REDIS, options)],
  ['kccClusterProvider options', 'kccClusterProvider({ connection:', (options) => kccClusterProvider(options)],
  ['kccKeyProvider options', 'kccKeyProvider({', (options) => kccKeyProvider(options)],
  ['kcc-redis back-channel logout options', 'createBackchannelLogoutHandler({', (options) => createBackchannelLogoutHandler(options)],
  ['kcc-redis Keycloak admin options', 'createKeycloakAdminHandlers({', (options) => createKeycloakAdminHandlers(options)],
  ['kcc-redis Keycloak push verifier options', 'createKeycloakPushVerifier({', (options) => createKeycloakPushVerifier(options)],
  ['kcc-redis realm keys options', 'resolveRealmKeys({', (options) => resolveRealmKeys(options)],
];

/** What `call` threw or rejected with. */
async function failure(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

/** The password, the URL and its host are nowhere in the error: message, problems, cause, inspection. */
function expectNothingShown(error: unknown): void {
  expect(secretsIn(error, [PASSWORD, URL_WITH_PASSWORD, 'cache.example.com'], { coerce: true })).toEqual([]);
  expect((error as Error).cause).toBeUndefined();
}

describe('an entry point given something other than an options object says so', () => {
  describe.each(ENTRY_POINTS)('%s', (subject, usage, call) => {
    it.each(NON_OBJECTS)('%s: a KccConfigError naming the entry point and how to call it, nothing of the value', async (kind, value) => {
      const error = await failure(() => call(value as never));
      expect(error).toBeInstanceOf(KccConfigError);
      expect(error).toMatchObject({ code: 'KCC_CONFIG_INVALID', problems: [expect.stringMatching(/^options: /)] });
      expect((error as KccConfigError).problems[0]!.startsWith(`options: ${kind}, not an options object; call ${usage}`)).toBe(true);
      expect((error as Error).message).toMatch(new RegExp(`^${subject.replace(/[.]/g, '\\.')} are invalid \\(1 problem\\):\\n  - options: ${kind}, not an options object; call `));
      expect((error as Error).message).not.toMatch(/missing/);
      expectNothingShown(error);
    });
  });

  it('KccRedis.connect with a URL string points at { url }', async () => {
    const error = await failure(() => KccRedis.connect(URL_WITH_PASSWORD as never));
    expect((error as KccConfigError).problems).toEqual(["options: a string, not an options object; call KccRedis.connect({ url: 'rediss://host:6379' })"]);
  });

  it.each(NON_OBJECTS.filter(([kind]) => kind !== 'null'))('the Fastify plugin given %s', async (kind, value) => {
    const app = Fastify();
    // Fastify hands a plugin what register() was given (null becomes {}).
    const error = await failure(() => app.register(fastifyKcc, value as never).ready());
    await app.close().catch(() => undefined);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([`options: ${kind}, not an options object; call app.register(fastifyKcc, { issuer, clientId, … })`]);
    expect((error as Error).message).toMatch(/^@kcc-redis\/client options are invalid \(1 problem\):/);
    expectNothingShown(error);
  });

  it.each(['connection', 'keyRing', 'revocations', 'realmKeys', 'backchannelLogout', 'keycloakAdmin', 'routes'])('the Fastify plugin given a string as %s', async (name) => {
    const app = Fastify();
    const error = await failure(() => app.register(fastifyKcc, { issuer: 'https://sso.example.com/realms/shop', clientId: 'shop', keyRing: { keyEncryptionKey: 'k'.repeat(64) }, [name]: URL_WITH_PASSWORD }).ready());
    await app.close().catch(() => undefined);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems).toEqual([expect.stringMatching(new RegExp(`^${name}: a string, not an options object; give ${name}: \\{ `))]);
    expectNothingShown(error);
  });
});
