import { describe, expect, it } from 'vitest';
import { secretsIn } from '../../support/secret-scan.js';
import { KccConfigError, type KccRedis, type PubSubOption } from '../../../client/src/index.js';
import { type KccClusterProviderOptions, kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';

// Found by a new user's review of the packed tarball: kccClusterProvider() took any options and a
// misconfigured app failed only when the connector first connected (connectOrThrow()), not where
// it was wired up. Its options are now checked when it is called; what the environment (or the
// stack's secret) supplies is still read and checked at connect time.

const PASSWORD = 'hunter2-correct-horse-battery';

/** What kccClusterProvider(options) rejected with. */
async function refusal(options: unknown): Promise<KccConfigError> {
  const outcome = await kccClusterProvider(options as KccClusterProviderOptions).then(
    async (provider) => {
      await provider.disconnect();
      throw new Error('expected kccClusterProvider() to reject');
    },
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(KccConfigError);
  return outcome as KccConfigError;
}

describe('kccClusterProvider(options): its options are checked when it is called', () => {
  it('names every problem, each as given (connection.<option>), in one KccConfigError, before anything connects', async () => {
    const error = await refusal({
      connection: {
        url: 'redis://cache.example.com:6379',
        connectTimeoutMs: -1,
        userName: 'shop-prod',
        instanceId: 'has spaces',
        pubSub: 'sharded',
        auth: 'token',
        tls: { ca: '/etc/ssl/ca.pem' },
        env: {},
      },
      namespace: 5,
      onDrop: 'drop',
    });
    expect(error.code).toBe('KCC_CONFIG_INVALID');
    expect(error.problems).toEqual([
      'connection.userName: not an option; did you mean username?',
      'connection.auth: "token" must be "password" or "iam"',
      'connection.connectTimeoutMs: -1 must be a whole number of milliseconds from 1 to 2147483647',
      expect.stringMatching(/^connection\.pubSub: "sharded" is not one of "auto", /),
      'connection.url: plaintext redis:// refused; use rediss:// (TLS), or for a local Redis only set unsafeAllowPlaintext: true',
      expect.stringMatching(/^connection\.tls\.ca: expected PEM text .*: pass it as tls\.caFile/),
      expect.stringMatching(/^connection\.instanceId: must be 1 to \d+ printable ASCII characters without spaces/),
      "namespace: must be a string, the prefix of the connector's keys and channels, e.g. 'connector:' (got a number)",
      'onDrop: must be a function (reason) => void (got a string)',
    ]);
    expect(error.message).toMatch(/^kccClusterProvider options are invalid \(9 problems\):\n  - connection\.userName: /);
  });

  it('a URL with a password in it is refused by name, the password nowhere in the error', async () => {
    const error = await refusal({ connection: { url: `rediss://shop-prod:${PASSWORD}@cache.example.com:6379` } });
    expect(error.problems).toEqual([expect.stringMatching(/^connection\.url: must not carry credentials/)]);
    expect(secretsIn(error, [PASSWORD], { coerce: true })).toEqual([]);
  });

  it('a redis that is not a connection, or both redis and connection', async () => {
    expect((await refusal({ redis: 'rediss://cache.example.com:6379' })).problems).toEqual([
      'redis: a string, not a KccRedis connection; give redis: await KccRedis.connect(…), or leave it out (the provider connects from connection, or the environment)',
    ]);
    const redis = { openSubscriber: async () => undefined } as unknown as KccRedis;
    expect((await refusal({ redis, connection: {} })).problems).toEqual([
      'redis, connection: give one of them, not both (redis is a connection you own; connection is how the provider opens its own)',
    ]);
  });

  it('connection that is not an object', async () => {
    expect((await refusal({ connection: 'rediss://cache.example.com:6379' })).problems).toEqual([
      "connection: a string, not an options object; give connection: { url: 'rediss://host:6379' }, or leave it out to read the environment",
    ]);
  });

  it('what the environment supplies is not required when it is called: it is read and checked at connectOrThrow()', async () => {
    const env: Record<string, string> = {};
    // No url, user or password yet, and a CA file not read yet: fine until it connects.
    const provider = await kccClusterProvider({ connection: { env, tls: { caFile: '/nonexistent/ca.pem' } }, namespace: 'c:' });
    const none = await kccClusterProvider();
    env.KCC_REDIS_URL = 'redis://cache.example.com:6379';
    const error = await provider.connectOrThrow().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KccConfigError);
    // Read at connect time: the environment's URL (set after the provider was made), the CA file.
    expect((error as KccConfigError).problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^username: missing/),
      expect.stringMatching(/^password: missing/),
      expect.stringMatching(/^tls\.caFile: cannot read "\/nonexistent\/ca\.pem"/),
      expect.stringMatching(/^url: plaintext redis:\/\/ refused/),
    ]));
    await Promise.all([provider.disconnect(), none.disconnect()]);
  });
});

// From a review of today's fixes (a7cb393, ca2ff28, b6472fc): what the call-time check refused or
// let through differed from connect time.
describe('kccClusterProvider(options): the call-time check agrees with connect time', () => {
  it("an empty pubSub is unset, as at connect time (KCC_REDIS_PUBSUB, else 'auto'): pubSub: process.env.X with X set but empty", async () => {
    const env: Record<string, string> = {};
    const provider = await kccClusterProvider({ connection: { pubSub: '' as PubSubOption, env } });
    env.KCC_REDIS_URL = 'redis://cache.example.com:6379';
    // Resolved at connect time: the empty pubSub is not among the problems there either.
    const error = await provider.connectOrThrow().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KccConfigError);
    expect((error as KccConfigError).problems.filter((problem) => problem.startsWith('pubSub'))).toEqual([]);
    await provider.disconnect();
    // A value that is no mode is still refused when it is called.
    expect((await refusal({ connection: { pubSub: 'sharded' } })).problems).toEqual([expect.stringMatching(/^connection\.pubSub: "sharded" is not one of /)]);
  });

  it("with auth: 'iam', the iam options are checked when it is called, worded as at connect time", async () => {
    const error = await refusal({
      connection: { auth: 'iam', iam: { cacheName: 'cache.example.com', maxConnectionAgeMs: 13 * 3_600_000, checkIntervalMs: 0, now: 5 as never, credentials: { accessKeyId: 'x' } as never } },
    });
    expect(error.problems).toEqual([
      expect.stringMatching(/^connection\.iam\.cacheName: "cache\.example\.com" is not a replication group id or serverless cache name/),
      expect.stringMatching(/^connection\.iam\.maxConnectionAgeMs: 46800000 is longer than ElastiCache keeps an IAM-authenticated connection \(12 hours\)/),
      expect.stringMatching(/^connection\.iam\.checkIntervalMs: 0 must be a whole number of milliseconds from 1 to 300000: the check re-signs the stand-by IAM token/),
      'connection.iam.now: must be a function returning epoch milliseconds',
      'connection.iam.credentials: must be an AWS SDK credential provider or { accessKeyId, secretAccessKey, sessionToken? }',
    ]);
  });

  it("the iam options are not checked without auth: 'iam' (connect time ignores them with password authentication), nor is what the environment supplies required", async () => {
    const iam = { maxConnectionAgeMs: 13 * 3_600_000 };
    for (const connection of [{ iam, env: {} }, { auth: 'password' as const, iam, env: {} }, { auth: 'iam' as const, iam: { maxConnectionAgeMs: 12 * 3_600_000 }, env: {} }]) {
      await (await kccClusterProvider({ connection })).disconnect();
    }
  });

  it('a pinoLogger that is not an object is refused by name', async () => {
    for (const pinoLogger of ['info', 5, null, () => undefined]) {
      expect((await refusal({ pinoLogger })).problems).toEqual([expect.stringMatching(/^pinoLogger: must be a pino logger \(got /)]);
    }
    await (await kccClusterProvider({ pinoLogger: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } } as never })).disconnect();
  });
});
