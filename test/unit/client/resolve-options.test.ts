import { DescribeReplicationGroupsCommand, ElastiCacheClient, ReplicationGroupNotFoundFault } from '@aws-sdk/client-elasticache';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { KccConfigError, type KccConnectionOptions, KccError } from '../../../client/src/index.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';

const PASSWORD = 'p'.repeat(64);
const valid: KccConnectionOptions = { url: 'rediss://cache.example:6380', username: 'my-app-prod', password: PASSWORD, env: {} };

async function configError(options: KccConnectionOptions): Promise<KccConfigError> {
  try {
    await resolveConnection(options);
  } catch (error) {
    expect(error).toBeInstanceOf(KccConfigError);
    return error as KccConfigError;
  }
  throw new Error('expected resolveConnection to reject');
}

describe('connection config: precedence', () => {
  it('takes explicit options and derives the prefix from the user name', async () => {
    const config = await resolveConnection(valid);
    expect(config).toMatchObject({ host: 'cache.example', port: 6380, keyPrefix: 'my-app-prod:', clusterMode: false });
    expect(config.tls).toEqual({ ca: undefined, servername: undefined });
    expect(config.credentials).toEqual({ username: 'my-app-prod', password: PASSWORD });
    expect(config.refreshCredentials).toBeUndefined();
  });

  it('reads KCC_REDIS_* and, failing those, the upstream CLUSTER_REDIS_* variables', async () => {
    const kcc = await resolveConnection({ env: { KCC_REDIS_URL: 'rediss://a.example:7000', KCC_REDIS_USERNAME: 'app-dev', KCC_REDIS_PASSWORD: PASSWORD, KCC_REDIS_PREFIX: 'app-dev:sub:' } });
    expect(kcc).toMatchObject({ host: 'a.example', port: 7000, keyPrefix: 'app-dev:sub:', credentials: { username: 'app-dev' } });
    const upstream = await resolveConnection({ env: { CLUSTER_REDIS_HOST: 'b.example', CLUSTER_REDIS_PORT: '6379', CLUSTER_REDIS_USERNAME: 'app-prod', CLUSTER_REDIS_PASSWORD: PASSWORD, CLUSTER_REDIS_PREFIX: 'app-prod:' } });
    expect(upstream).toMatchObject({ host: 'b.example', port: 6379, keyPrefix: 'app-prod:', tls: expect.any(Object) });
  });

  it("names upstream's variables that are set but not read, once per process, with what to use instead; says nothing when none is set", async () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m), info: () => {} };
    await resolveConnection({
      ...valid,
      logger,
      env: { CLUSTER_REDIS_TLS_SNI: 'cache.internal', CLUSTER_REDIS_NO_PREFIX: 'true', CLUSTER_REDIS_HOST_DEV: 'dev.example', CLUSTER_REDIS_CLIENT_NAME_PREFIX: 'x', CLUSTER_REDIS_DANGEROUSLY_DISABLE_TLS: '', CLUSTER_REDIS_PREFIX: 'my-app-prod:' },
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toBe(
      'keycloak-connector variables set but not read by kcc-redis: CLUSTER_REDIS_CLIENT_NAME_PREFIX (connections are named kcc:<prefix><instance id>:<role>); ' +
        'CLUSTER_REDIS_HOST_DEV (one set of variables per deployment); CLUSTER_REDIS_NO_PREFIX (there is always a namespace, the Redis user\'s <app>-<env>:); ' +
        'CLUSTER_REDIS_TLS_SNI (the tls.servername option); see docs/migration-keycloak-connector.md#environment-variables',
    );
    warnings.length = 0;
    // Every connection of the process reads the same environment: said once (the plugin's and a cluster provider's connect).
    await resolveConnection({ ...valid, logger, env: { CLUSTER_REDIS_TLS_SNI: 'cache.internal', CLUSTER_REDIS_NO_PREFIX: 'true' } });
    expect(warnings).toEqual([]);
    await resolveConnection({ ...valid, logger, env: { CLUSTER_REDIS_PREFIX: 'my-app-prod:', CLUSTER_REDIS_HOST: 'b.example' } });
    expect(warnings).toEqual([]);
  });

  it('lets explicit options win over the environment', async () => {
    const config = await resolveConnection({ ...valid, env: { KCC_REDIS_URL: 'rediss://other:1', KCC_REDIS_USERNAME: 'other-prod' } });
    expect(config).toMatchObject({ host: 'cache.example', credentials: { username: 'my-app-prod' } });
  });
});

describe('connection config: every problem in one start-up error', () => {
  it.each<[string, KccConnectionOptions, RegExp]>([
    ['wrong prefix', { ...valid, keyPrefix: 'other-app-prod:' }, /keyPrefix: key prefix "other-app-prod:" is outside user "my-app-prod"'s namespace "my-app-prod:"/],
    ['malformed prefix', { ...valid, keyPrefix: 'my-app-prod' }, /keyPrefix: key prefix "my-app-prod" must be lowercase words separated and ended by ":"/],
    ['plaintext url without the unsafe option', { ...valid, url: 'redis://cache.example:6379' }, /url: plaintext redis:\/\/ refused; use rediss:\/\/ \(TLS\)/],
    ['missing password', { ...valid, password: undefined }, /password: missing; set the password option, KCC_REDIS_PASSWORD, or KCC_REDIS_SECRET_ID/],
    ['missing username', { ...valid, username: undefined }, /username: missing/],
    ['missing endpoint', { ...valid, url: undefined }, /url: missing; set the url option or KCC_REDIS_URL/],
    ['credentials in the url', { ...valid, url: 'rediss://u:secret@cache.example:6379' }, /url: must not carry credentials/],
    ['wrong scheme', { ...valid, url: 'https://cache.example' }, /url: scheme "https:" must be rediss:/],
    ['not a url', { ...valid, url: 'cache.example:6379' }, /url: (not a URL|scheme)/],
    ['bad number', { ...valid, connectTimeoutMs: -5 }, /connectTimeoutMs: -5 must be a whole number of milliseconds from 1 to 2147483647/],
    // JavaScript would ignore a misspelled option and apply the default: the nearest name is offered.
    ['misspelled option', { ...valid, userName: 'x' } as KccConnectionOptions, /userName: not an option; did you mean username\?/],
    ['misspelled option, two edits away', { ...valid, socketTimoutMs: 500 } as KccConnectionOptions, /socketTimoutMs: not an option; did you mean socketTimeoutMs\?/],
    ['misspelled tls option', { ...valid, tls: { caFIle: '/ca.pem' } } as KccConnectionOptions, /tls\.caFIle: not an option; did you mean tls\.caFile\?/],
    ['misspelled iam option', { ...valid, iam: { cachename: 'c' } } as KccConnectionOptions, /iam\.cachename: not an option; did you mean iam\.cacheName\?/],
    ['unknown option, nothing near', { ...valid, flavour: 'x' } as KccConnectionOptions, /flavour: not an option; the options are url, username, password, /],
    // Below 100 ms a busy server's ordinary replies would close connections; above 10 minutes a vanished node holds commands that long.
    ['socket timeout too short', { ...valid, socketTimeoutMs: 99 }, /socketTimeoutMs: 99 must be a whole number of milliseconds from 100 to 600000/],
    ['socket timeout too long', { ...valid, socketTimeoutMs: 600_001 }, /socketTimeoutMs: 600001 must be a whole number of milliseconds from 100 to 600000/],
    // Under the smallest, a batch of one revocation would not fit; over the largest, other instances would drop the messages.
    ['instance id too long for the others to read', { ...valid, instanceId: 'i'.repeat(129) }, /instanceId: must be 1 to 128 printable ASCII characters without spaces \(it has 129 characters\)/],
    ['instance id with a space (Redis refuses it as a connection name)', { ...valid, instanceId: 'pod 7' }, /instanceId: must be 1 to 128 printable ASCII characters without spaces \(it has 5 characters, one of them U\+0020\)/],
    ['connection name with a newline', { ...valid, connectionName: 'a\nb' }, /connectionName: must be printable ASCII characters without spaces, which is what Redis accepts in CLIENT SETNAME \(it has 3 characters, one of them U\+000A\)/],
    ['a password pasted as the instance id is not echoed', { ...valid, instanceId: `${PASSWORD} ` }, /instanceId: must be 1 to 128/],
    ['message limit too small', { ...valid, maxMessageBytes: 16_383 }, /maxMessageBytes: 16383 must be a whole number of bytes from 16384 to 1048576/],
    ['message limit too large', { ...valid, maxMessageBytes: 2_097_152 }, /maxMessageBytes: 2097152 must be a whole number of bytes from 16384 to 1048576/],
    ['bad upstream port', { ...valid, url: undefined, env: { CLUSTER_REDIS_HOST: 'h', CLUSTER_REDIS_PORT: '70000' } }, /CLUSTER_REDIS_PORT: "70000" must be a port number \(1 to 65535\)/],
    ['a password as the upstream port is not echoed', { ...valid, url: undefined, env: { CLUSTER_REDIS_HOST: 'h', CLUSTER_REDIS_PORT: PASSWORD } }, /CLUSTER_REDIS_PORT: a string of 64 characters \(not shown: .*\) must be a port number/],
  ])('%s', async (_name, options, message) => {
    const error = await configError(options);
    expect(error.code).toBe('KCC_CONFIG_INVALID');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain('secret@');
  });

  it('a URL with the credentials in it is one problem, on the url, with the fix (not also username, password or url "missing")', async () => {
    for (const env of [{ KCC_REDIS_URL: `rediss://my-app-prod:${PASSWORD}@cache.example:6379` }, {}]) {
      const options = Object.keys(env).length > 0 ? { env } : { env, url: `rediss://my-app-prod:${PASSWORD}@cache.example:6379` };
      const error = await configError(options);
      expect(error.message.match(/^ {2}- /gm)).toHaveLength(1);
      expect(error.message).toMatch(/ {2}- (url|KCC_REDIS_URL): must not carry credentials .* pass them as the username\/password options or KCC_REDIS_USERNAME\/KCC_REDIS_PASSWORD, e\.g\. rediss:\/\/cache\.example:6379$/m);
      expect(error.message).not.toMatch(/missing/);
      expect(error.message).not.toContain(PASSWORD);
    }
    // Only the user in the URL: the missing password is still named.
    const userOnly = await configError({ env: {}, url: 'rediss://my-app-prod@cache.example:6379' });
    expect(userOnly.message.match(/^ {2}- /gm)).toHaveLength(2);
    expect(userOnly.message).toMatch(/url: must not carry credentials[\s\S]*password: missing/);
  });

  it("refuses a time beyond Node's longest timer (2^31 - 1 ms), which would fire after 1 ms", async () => {
    const error = await configError({ ...valid, connectTimeoutMs: 3_000_000_000, heartbeatIntervalMs: 2 ** 31 });
    expect(error.message).toMatch(/connectTimeoutMs[^\n]*3000000000/);
    expect(error.message).toMatch(/heartbeatIntervalMs[^\n]*2147483648/);
    await expect(resolveConnection({ ...valid, connectTimeoutMs: 2_147_483_647 })).resolves.toMatchObject({ connectTimeoutMs: 2_147_483_647 });
  });

  it('names every problem at once', async () => {
    const error = await configError({ env: {}, url: 'redis://h:1', username: 'my-app-prod', keyPrefix: 'x-prod:' });
    expect(error.message.match(/^ {2}- /gm)).toHaveLength(3);
    // What is wrong with the options themselves first, then what is missing.
    expect(error.message).toMatch(/url: plaintext[\s\S]*password: missing[\s\S]*keyPrefix/);
  });

  it('allows plaintext only with unsafeAllowPlaintext, and warns at every start', async () => {
    const warnings: string[] = [];
    const config = await resolveConnection({ ...valid, url: 'redis://127.0.0.1:6379', unsafeAllowPlaintext: true, logger: { warn: (m) => warnings.push(m), info: () => {} } });
    expect(config.tls).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^UNSAFE: connecting to Redis without TLS/)]);
  });
});

describe('connection config: from the stack secret and endpoint discovery (AWS APIs mocked)', () => {
  // Canned answers in the shapes AWS documents: GetSecretValue's SecretString
  // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html); a replication
  // group's NodeGroups[].PrimaryEndpoint without cluster mode, ConfigurationEndpoint with it, and
  // TransitEncryptionEnabled (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ReplicationGroup.html).
  const secrets = mockClient(SecretsManagerClient);
  const elasticache = mockClient(ElastiCacheClient);
  afterEach(() => {
    secrets.reset();
    elasticache.reset();
  });
  const secretString = JSON.stringify({ username: 'my-app-prod', password: PASSWORD, keyPrefix: 'my-app-prod:', userArn: 'arn:aws:elasticache:eu-west-1:123456789012:user:my-app-prod', replicationGroupId: 'kcc-redis' });

  it('reads username, password and prefix from the secret and discovers the endpoint', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'my-secret' }).resolves({ SecretString: secretString });
    elasticache.on(DescribeReplicationGroupsCommand, { ReplicationGroupId: 'kcc-redis' }).resolves({
      ReplicationGroups: [{ TransitEncryptionEnabled: true, ClusterEnabled: false, NodeGroups: [{ PrimaryEndpoint: { Address: 'master.kcc-redis.example', Port: 6379 } }] }],
    });
    const config = await resolveConnection({ secretId: 'my-secret', region: 'eu-west-1', env: {} });
    expect(config).toMatchObject({ host: 'master.kcc-redis.example', port: 6379, keyPrefix: 'my-app-prod:', clusterMode: false, credentials: { username: 'my-app-prod', password: PASSWORD } });
    expect(config.refreshCredentials).toBeTypeOf('function');
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString.replace(PASSWORD, 'n'.repeat(64)) });
    expect(await config.refreshCredentials!()).toEqual({ username: 'my-app-prod', password: 'n'.repeat(64) });
  });

  it('reads a secret given by its ARN in the ARN\'s region, whatever region or AWS_REGION say (the only region it can be read in)', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:KccRedis-user-my-app-prod-AbCdEf';
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    await resolveConnection({ secretId: arn, url: 'rediss://cache.example:6379', region: 'us-east-1', env: { AWS_REGION: 'ap-south-1' } });
    const [call] = secrets.commandCalls(GetSecretValueCommand);
    expect(await (call!.thisValue as SecretsManagerClient).config.region()).toBe('eu-west-1');
    // By name: the region given.
    await resolveConnection({ secretId: 'my-secret', url: 'rediss://cache.example:6379', region: 'us-east-1', env: {} });
    expect(await (secrets.commandCalls(GetSecretValueCommand)[1]!.thisValue as SecretsManagerClient).config.region()).toBe('us-east-1');
  });

  it('reads a user secret that says version 1 ("v": 1) like one without "v"', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'my-secret' }).resolves({ SecretString: JSON.stringify({ ...JSON.parse(secretString), v: 1 }) });
    elasticache.on(DescribeReplicationGroupsCommand).resolves({
      ReplicationGroups: [{ TransitEncryptionEnabled: true, ClusterEnabled: false, NodeGroups: [{ PrimaryEndpoint: { Address: 'master.kcc-redis.example', Port: 6379 } }] }],
    });
    const config = await resolveConnection({ secretId: 'my-secret', region: 'eu-west-1', env: {} });
    expect(config.credentials).toEqual({ username: 'my-app-prod', password: PASSWORD });
  });

  it('uses the configuration endpoint in cluster mode', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
    elasticache.on(DescribeReplicationGroupsCommand).resolves({
      ReplicationGroups: [{ TransitEncryptionEnabled: true, ClusterEnabled: true, ConfigurationEndpoint: { Address: 'clustercfg.kcc-redis.example', Port: 6379 } }],
    });
    const config = await resolveConnection({ secretId: 'my-secret', region: 'eu-west-1', env: {} });
    expect(config).toMatchObject({ host: 'clustercfg.kcc-redis.example', clusterMode: true });
  });

  it.each<[string, () => void, string, RegExp]>([
    ['secret not found', () => secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('Secrets Manager can\'t find the specified secret.'), { name: 'ResourceNotFoundException' })), 'KCC_AWS_LOOKUP_FAILED', /could not read secret "my-secret": ResourceNotFoundException/],
    ['secret of the wrong shape', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'x', password: PASSWORD }) }), 'KCC_SECRET_INVALID', /secret "my-secret": secret lacks string field\(s\): keyPrefix, userArn, replicationGroupId/],
    // A later format of the user secret (it says its version; version 1 has no "v") is refused by name, never misread.
    ['secret of a later format', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ ...JSON.parse(secretString), v: 2 }) }), 'KCC_SECRET_INVALID', /secret "my-secret": secret has format version 2; this client reads version 1: upgrade @kcc-redis\/client/],
    ['secret with a version that is not a number', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ ...JSON.parse(secretString), v: PASSWORD }) }), 'KCC_SECRET_INVALID', /secret has a "v" that is not a format version/],
    ['the key-encryption-key secret given as the user secret', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ v: 1, kek: PASSWORD, previous: [] }) }), 'KCC_SECRET_INVALID', /lacks string field\(s\): username, password, keyPrefix, userArn, replicationGroupId \(this is the key-encryption-key secret/],
    ['a later key-encryption-key secret given as the user secret (named, not "upgrade")', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ v: 2, kek: PASSWORD, previous: [] }) }), 'KCC_SECRET_INVALID', /\(this is the key-encryption-key secret/],
    ['secret with a version of 0', () => secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ ...JSON.parse(secretString), v: 0 }) }), 'KCC_SECRET_INVALID', /secret has a "v" that is not a format version \(a whole number, 1 or more/],
    ['group without TLS', () => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
      elasticache.on(DescribeReplicationGroupsCommand).resolves({ ReplicationGroups: [{ TransitEncryptionEnabled: false }] });
    }, 'KCC_AWS_LOOKUP_FAILED', /replication group "kcc-redis": has no transit encryption/],
    // A serverless stack's password secret names the cache, which DescribeReplicationGroups does not find
    // (the fault as the API reference names it: API_DescribeReplicationGroups.html, Errors).
    ['the secret of a serverless stack, without url', () => {
      secrets.on(GetSecretValueCommand).resolves({ SecretString: secretString });
      elasticache.on(DescribeReplicationGroupsCommand).rejects(new ReplicationGroupNotFoundFault({ message: 'ReplicationGroup kcc-redis not found.', $metadata: {} }));
    }, 'KCC_AWS_LOOKUP_FAILED', /replication group "kcc-redis": ReplicationGroupNotFoundFault: .*If this is an ElastiCache Serverless cache, .*set url or KCC_REDIS_URL .* and serverless: true or KCC_REDIS_SERVERLESS=true$/],
  ])('%s → a clear error without the secret value', async (_name, arrange, code, message) => {
    arrange();
    const error = await resolveConnection({ secretId: 'my-secret', region: 'eu-west-1', env: {} }).then(
      () => expect.fail('expected resolveConnection to reject'),
      (e: unknown) => e as KccError,
    );
    expect(error).toBeInstanceOf(KccError);
    expect(error.code).toBe(code);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    expect(String(error.cause ?? '')).not.toContain(PASSWORD);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(PASSWORD);
  });
});
