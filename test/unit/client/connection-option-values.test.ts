/**
 * Connection options of the wrong kind or shape, from an input-validation review: each is refused
 * with a KccConfigError naming the option and the fix, before anything is read or connected, and a
 * value of another shape than the option's (a secret pasted into the wrong field) is not echoed.
 */
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { inspect } from 'node:util';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secretsIn } from '../../support/secret-scan.js';
import { KccAuthError, KccAwsError, KccConfigError, type KccConnectionOptions, KccRedis } from '../../../client/src/index.js';
import { connectionOptionProblems, resolveConnection } from '../../../client/src/resolve-options.js';

/** A password as the stack generates them (upper and lower case letters and digits), and one with punctuation. */
const PASSWORD = 'Xq7Rk2Lw9Tz4Vb8Nc3Md6Pf1Gh5Js0AeYu2Io7Kl4Zx9Cv3Bn8Mq1We6Rt5Ty0Ui';
const TYPED = 'S3cretPassw0rd!xyz';
const quiet = { warn: () => {}, info: () => {} };

/** A TCP server that counts connections and answers every command as Redis refusing the credentials. */
let server: Server;
let port = 0;
let connections = 0;
const sockets = new Set<Socket>();
beforeAll(async () => {
  server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => socket.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const base = (): KccConnectionOptions => ({ url: `redis://127.0.0.1:${port}`, unsafeAllowPlaintext: true, username: 'my-app-prod', password: PASSWORD, heartbeat: false, logger: quiet, env: {} });

/** What KccRedis.connect(options) rejects with; asserts that no connection reached the server. */
async function refusedBeforeConnecting(options: KccConnectionOptions): Promise<KccConfigError> {
  const before = connections;
  const error = await KccRedis.connect(options).then(
    async (redis) => {
      await redis.close();
      return expect.fail('expected KccRedis.connect to reject');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KccConfigError);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(connections, 'a connection reached the server').toBe(before);
  return error as KccConfigError;
}

describe('boolean connection options', () => {
  it.each(['clusterMode', 'unsafeAllowPlaintext', 'heartbeat', 'serverless'] as const)("%s: 'false' (a string, as process.env holds) is refused, naming the option, and nothing connects", async (name) => {
    const error = await refusedBeforeConnecting({ ...base(), [name]: 'false' as never });
    expect(error.problems).toContainEqual(expect.stringMatching(new RegExp(`^${name}: "false" must be true or false; a string is not read as a boolean .*${name}: process\\.env\\.X === 'true'`)));
  });

  it('a string unsafeAllowPlaintext does not allow a plaintext url (it was truthy: connected without TLS)', async () => {
    const error = await refusedBeforeConnecting({ ...base(), unsafeAllowPlaintext: 'false' as never });
    expect(error.problems).toContainEqual(expect.stringMatching(/^url: plaintext redis:\/\/ refused/));
  });

  it('a string that is no boolean word is named by its kind only', async () => {
    const error = await refusedBeforeConnecting({ ...base(), heartbeat: PASSWORD as never });
    expect(error.problems).toEqual([expect.stringMatching(/^heartbeat: a string must be true or false/)]);
    expect(secretsIn(error, [PASSWORD], { coerce: true })).toEqual([]);
  });

  it('a number is shown, and the call-time check (kccClusterProvider) says the same', async () => {
    expect(await connectionOptionProblems({ clusterMode: 1 as never, heartbeat: 'no' as never })).toEqual([
      'clusterMode: 1 must be true or false',
      expect.stringMatching(/^heartbeat: "no" must be true or false/),
    ]);
  });
});

describe('values of another shape are not echoed', () => {
  it('a password in KCC_REDIS_USERNAME: the key prefix problem describes the user name without it', async () => {
    for (const password of [PASSWORD, TYPED]) {
      const error = await refusedBeforeConnecting({ ...base(), username: undefined, env: { KCC_REDIS_USERNAME: password } });
      expect(error.problems).toContainEqual(expect.stringMatching(/^keyPrefix: missing and not derivable from the user name given \(it has \d+ characters; not shown, as it does not have a user name's shape/));
      expect(secretsIn(error, [password], { coerce: true })).toEqual([]);
    }
  });

  it('a user name of a user name\'s shape is still named', async () => {
    const error = await refusedBeforeConnecting({ ...base(), username: 'default' });
    expect(error.problems).toEqual([expect.stringMatching(/^keyPrefix: missing and not derivable from user "default"; set keyPrefix/)]);
  });

  it('Redis refusing a password-shaped user name: the KccAuthError does not name it; a user name it names', async () => {
    for (const [username, shown] of [[TYPED, false], [PASSWORD, false], ['my-app-prod', true]] as const) {
      const error = await KccRedis.connect({ ...base(), username, keyPrefix: 'my-app-prod:', connectTimeoutMs: 2_000 }).then(
        async (redis) => {
          await redis.close();
          return expect.fail('expected the credentials to be refused');
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KccAuthError);
      if (shown) expect((error as Error).message).toMatch(/^Redis rejected the credentials of user "my-app-prod" and they are fixed/);
      else {
        expect((error as Error).message).toMatch(/^Redis rejected the credentials of the user name given \(it has \d+ characters; not shown/);
        expect(secretsIn(error, [username], { coerce: true })).toEqual([]);
      }
    }
  });

  it.each<[string, KccConnectionOptions, RegExp]>([
    ['keyPrefix', { keyPrefix: PASSWORD }, /^keyPrefix: a string of 64 characters \(not shown: .*\) must be lowercase words separated and ended by ":"/],
    ['KCC_REDIS_PREFIX', { env: { KCC_REDIS_PREFIX: TYPED } }, /^keyPrefix: a string of 18 characters \(not shown: .*\) must be lowercase words/],
    ['pubSub', { pubSub: TYPED as never }, /^pubSub: a string of 18 characters \(not shown: .*\) is not one of "auto"/],
    ['auth', { auth: PASSWORD as never }, /^auth: a string of 64 characters \(not shown: .*\) must be "password" or "iam"/],
    ['KCC_REDIS_AUTH', { env: { KCC_REDIS_AUTH: TYPED } }, /^KCC_REDIS_AUTH: a string of 18 characters \(not shown/],
    ['KCC_REDIS_SERVERLESS', { env: { KCC_REDIS_SERVERLESS: TYPED } }, /^KCC_REDIS_SERVERLESS: a string of 18 characters \(not shown/],
    ['tls.caFile', { url: 'rediss://cache.example:6379', unsafeAllowPlaintext: undefined, tls: { caFile: TYPED } }, /^tls\.caFile: cannot read a string of 18 characters \(not shown: .*\) \(ENOENT\)/],
    ['KCC_REDIS_CA_FILE', { url: 'rediss://cache.example:6379', unsafeAllowPlaintext: undefined, env: { KCC_REDIS_CA_FILE: PASSWORD } }, /^KCC_REDIS_CA_FILE: cannot read a string of 64 characters/],
    ['secretId', { secretId: TYPED }, /^secretId: a string of 18 characters \(not shown: .*\) is not a Secrets Manager secret name or ARN/],
    ['replicationGroupId', { url: undefined, replicationGroupId: TYPED }, /^replicationGroupId: a string of 18 characters \(not shown: .*\) is not a replication group id/],
    ['KCC_REDIS_REPLICATION_GROUP_ID', { url: undefined, env: { KCC_REDIS_REPLICATION_GROUP_ID: PASSWORD } }, /^KCC_REDIS_REPLICATION_GROUP_ID: a string of 64 characters \(not shown/],
  ])('%s', async (_name, override, message) => {
    const error = await refusedBeforeConnecting({ ...base(), ...override, env: { ...override.env } });
    expect(error.problems).toContainEqual(expect.stringMatching(message));
    expect(secretsIn(error, [PASSWORD, TYPED], { coerce: true })).toEqual([]);
  });

  it('values of their own shape are still shown', async () => {
    const problems = async (options: KccConnectionOptions) => (await refusedBeforeConnecting({ ...base(), ...options })).problems;
    expect(await problems({ pubSub: 'sharded' as never })).toEqual([expect.stringMatching(/^pubSub: "sharded" is not one of/)]);
    expect(await problems({ keyPrefix: 'My-App:' })).toEqual([expect.stringMatching(/^keyPrefix: a string of 7 characters/)]);
    expect(await problems({ keyPrefix: 'my-app-prod' })).toEqual([expect.stringMatching(/^keyPrefix: key prefix "my-app-prod" must be lowercase words/)]);
    expect(await problems({ tls: { caFile: '/no/such/ca.pem' } })).toEqual([expect.stringMatching(/^tls\.caFile: cannot read "\/no\/such\/ca\.pem" \(ENOENT\)/)]);
    expect(await connectionOptionProblems({ replicationGroupId: 'my-group' })).toEqual([]);
  });
});

describe('tls options', () => {
  it.each<[string, unknown, RegExp]>([
    ['a number', 5, /^tls\.servername: 5 is not a host name; give the host name the server's certificate is for/],
    ['empty', '', /^tls\.servername: "" is not a host name/],
    ['with a space (not of a host name\'s shape: not shown)', 'cache example', /^tls\.servername: a string of 13 characters \(not shown: .*\) is not a host name/],
    ['an IP address', '10.0.0.1', /^tls\.servername: "10\.0\.0\.1" is an IP address, which TLS does not send as a server name/],
    ['a password', PASSWORD, /^tls\.servername: "Xq7/],
  ])('servername %s: refused before connecting (a number crashed the process when the endpoint refused)', async (name, servername, message) => {
    const error = await refusedBeforeConnecting({ ...base(), url: `rediss://127.0.0.1:${port}`, tls: { servername: servername as string } });
    if (name === 'a password') {
      expect(error.problems).toEqual([expect.stringMatching(/^tls\.servername: a string of 64 characters \(not shown: .*\) is not a host name/)]);
      expect(secretsIn(error, [PASSWORD], { coerce: true })).toEqual([]);
    } else expect(error.problems).toEqual([expect.stringMatching(message)]);
  });

  it('servername: a host name is taken', async () => {
    expect(await connectionOptionProblems({ tls: { servername: 'master.my-cache.abc123.euw1.cache.amazonaws.com' } })).toEqual([]);
    expect(await connectionOptionProblems({ tls: { servername: 5 as never } })).toEqual([expect.stringMatching(/^tls\.servername: 5 is not a host name/)]);
  });

  it('ca: null, or a number, is a KccConfigError naming tls.ca (was a TypeError from reading it)', async () => {
    for (const ca of [null, 5]) {
      const error = await refusedBeforeConnecting({ ...base(), url: `rediss://127.0.0.1:${port}`, tls: { ca: ca as never } });
      expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^tls\\.ca: ${ca === null ? 'null' : 'a number'}, not PEM text; give the certificate's PEM text`))]);
    }
  });

  it('tls or iam that is not an object is named', async () => {
    expect(await connectionOptionProblems({ tls: 'yes' as never, iam: 5 as never })).toEqual([
      expect.stringMatching(/^tls: a string, not an options object; give tls: \{ caFile: /),
      expect.stringMatching(/^iam: a number, not an options object; give iam: \{ cacheName: /),
    ]);
  });
});

describe('reconnect delays', () => {
  it('reconnectBaseDelayMs above reconnectMaxDelayMs is refused; equal is taken', async () => {
    const error = await refusedBeforeConnecting({ ...base(), reconnectBaseDelayMs: 10_000, reconnectMaxDelayMs: 5_000 });
    expect(error.problems).toEqual(['reconnectBaseDelayMs: 10000 is more than reconnectMaxDelayMs (5000); the first reconnect delay doubles up to the largest: lower reconnectBaseDelayMs or raise reconnectMaxDelayMs']);
    expect(await connectionOptionProblems({ reconnectBaseDelayMs: 6_000 })).toEqual([expect.stringMatching(/^reconnectBaseDelayMs: 6000 is more than reconnectMaxDelayMs \(5000\)/)]);
    await expect(resolveConnection({ ...base(), reconnectBaseDelayMs: 5_000, reconnectMaxDelayMs: 5_000 })).resolves.toMatchObject({ reconnectBaseDelayMs: 5_000 });
  });
});

describe('problems of the options come before any read (secret, credentialsProvider)', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => secrets.reset());

  it('{ secretId, connectTimeoutMs: -1 }: the connectTimeoutMs problem, and Secrets Manager is not called', async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    const error = await refusedBeforeConnecting({ ...base(), username: undefined, password: undefined, secretId: 'my-secret', region: 'eu-west-1', connectTimeoutMs: -1 });
    expect(error.problems).toEqual([expect.stringMatching(/^connectTimeoutMs: -1 must be a whole number of milliseconds from 1 to 2147483647/)]);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('a credentialsProvider is not called while the options are wrong', async () => {
    let calls = 0;
    const credentialsProvider = async () => {
      calls++;
      return { username: 'my-app-prod', password: PASSWORD };
    };
    const error = await refusedBeforeConnecting({ ...base(), username: undefined, password: undefined, credentialsProvider, clusterMode: 'false' as never });
    expect(error.problems).toEqual([expect.stringMatching(/^clusterMode: "false" must be true or false/)]);
    expect(calls).toBe(0);
  });

  it('with good options the secret is read, and AWS failures say what to do: no region, no credentials', async () => {
    secrets.on(GetSecretValueCommand).rejects(new Error('Region is missing'));
    const noRegion = await resolveConnection({ secretId: 'my-secret', env: {} }).catch((e: unknown) => e);
    expect(noRegion).toBeInstanceOf(KccAwsError);
    expect((noRegion as Error).message).toMatch(/^could not read secret "my-secret": Error: Region is missing; set the region option or AWS_REGION to the secret's region, or give the secret's ARN, which names it$/);
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    const noCredentials = await resolveConnection({ secretId: 'my-secret', region: 'eu-west-1', env: {} }).catch((e: unknown) => e);
    expect((noCredentials as Error).message).toMatch(/CredentialsProviderError: Could not load credentials from any providers; no AWS credentials were found: run with a role .* or set AWS_PROFILE/);
  });

  it('a secret id of a name\'s charset that looks generated is not shown, in AWS\'s words or the cause either', async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error(`User: arn:aws:iam::123456789012:role/app is not authorized to perform: secretsmanager:GetSecretValue on resource: ${PASSWORD}`), { name: 'AccessDeniedException' }));
    const error = await resolveConnection({ secretId: PASSWORD, region: 'eu-west-1', env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KccAwsError);
    expect((error as Error).message).toMatch(/^could not read secret a string of 64 characters \(not shown.*on resource: <the secret id>$/);
    expect(secretsIn(error, [PASSWORD], { coerce: true })).toEqual([]);
    expect(inspect(error, { depth: 8 })).not.toContain(PASSWORD);
  });
});

// An attack review of 4d429bc: the shape a prefix is shown by had a length limit, and so refused a long one that the naming rules take.
describe('a long key prefix', () => {
  it('is taken as the naming rules take it, whatever its length', async () => {
    const keyPrefix = `shop-prod:${'a'.repeat(120)}:`;
    const resolved = await resolveConnection({ url: 'rediss://h:6379', username: 'shop-prod', password: PASSWORD, keyPrefix, env: {} });
    expect(resolved.keyPrefix).toBe(keyPrefix);
  });
});
