import { describe, expect, it } from 'vitest';
import { KccConfigError, type KccConnectionOptions } from '../../../client/src/index.js';
import { resolveConnection } from '../../../client/src/resolve-options.js';
import { secretsIn } from '../../support/secret-scan.js';

const iam: KccConnectionOptions = {
  url: 'rediss://kcc-redis.abc123.ng.0001.euc1.cache.amazonaws.com:6379',
  auth: 'iam',
  username: 'kcc-redis-my-app-prod',
  keyPrefix: 'my-app-prod:',
  region: 'eu-central-1',
  iam: { cacheName: 'kcc-redis', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret-access-key-value' } },
  env: {},
};

async function problems(options: KccConnectionOptions): Promise<readonly string[]> {
  const error = await resolveConnection(options).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(KccConfigError);
  return (error as KccConfigError).problems;
}

describe('connection config: auth "iam"', () => {
  it('needs no password: the user id, cache, region and prefix are enough', async () => {
    const config = await resolveConnection(iam);
    expect(config.iam).toMatchObject({ cacheName: 'kcc-redis', userId: 'kcc-redis-my-app-prod', region: 'eu-central-1', serverless: false, maxConnectionAgeMs: 12 * 3_600_000 });
    expect(config).toMatchObject({ keyPrefix: 'my-app-prod:', clusterMode: false, refreshCredentials: undefined });
    // The resolved config holds a provider, never the secret key: dumps of it stay clean.
    expect(JSON.stringify(config)).not.toContain('secret-access-key-value');
    expect(typeof config.iam!.credentials).toBe('function');
    expect(await config.iam!.credentials()).toMatchObject({ accessKeyId: 'AKIDEXAMPLE' });
  });

  it('reads KCC_REDIS_AUTH, KCC_REDIS_IAM_CACHE_NAME, KCC_REDIS_SERVERLESS and AWS_REGION', async () => {
    const config = await resolveConnection({
      env: {
        KCC_REDIS_AUTH: 'iam',
        KCC_REDIS_URL: 'rediss://my-cache-abc123.serverless.euc1.cache.amazonaws.com:6379',
        KCC_REDIS_USERNAME: 'kcc-redis-my-app-prod',
        KCC_REDIS_PREFIX: 'my-app-prod:',
        KCC_REDIS_IAM_CACHE_NAME: 'My-Cache',
        KCC_REDIS_SERVERLESS: 'true',
        AWS_REGION: 'eu-central-1',
      },
    });
    expect(config.iam).toMatchObject({ cacheName: 'my-cache', serverless: true, region: 'eu-central-1' });
    expect(config.clusterMode).toBe(true);
  });

  it('signs for the replication group to discover when no cache name is given', async () => {
    const config = await resolveConnection({ ...iam, iam: { credentials: iam.iam!.credentials }, replicationGroupId: 'kcc-redis-rg' });
    expect(config.iam!.cacheName).toBe('kcc-redis-rg');
  });

  it.each<[string, KccConnectionOptions, RegExp]>([
    ['no cache name', { ...iam, iam: {} }, /^iam\.cacheName: missing; set iam\.cacheName or KCC_REDIS_IAM_CACHE_NAME/],
    ['no user id', { ...iam, username: undefined }, /^username: missing; with auth "iam" it is the IAM-enabled ElastiCache user id/],
    ['no region', { ...iam, region: undefined }, /^region: missing; IAM tokens are signed for the cache's region/],
    ['no key prefix (never derived from an IAM user name)', { ...iam, keyPrefix: undefined }, /^keyPrefix: missing; with auth "iam" set keyPrefix or KCC_REDIS_PREFIX/],
    ['a password as well', { ...iam, password: 'p'.repeat(64) }, /^password: not used with auth "iam"/],
    ['a secret id as well', { ...iam, secretId: 'arn:aws:secretsmanager:eu-central-1:1:secret:x' }, /^secretId: not used with auth "iam"/],
    ['a password in the environment', { ...iam, env: { KCC_REDIS_PASSWORD: 'p'.repeat(64) } }, /^KCC_REDIS_PASSWORD: not used with auth "iam"/],
    ['plaintext', { ...iam, url: 'redis://127.0.0.1:6379', unsafeAllowPlaintext: true }, /^url: plaintext redis:\/\/ refused; ElastiCache IAM authentication needs TLS/],
    ['a malformed cache name', { ...iam, iam: { cacheName: 'cache.example.com' } }, /^iam\.cacheName: "cache\.example\.com" is not a replication group id/],
    ['a malformed region', { ...iam, region: 'Frankfurt' }, /^region: "Frankfurt" is not an AWS region/],
    ['a malformed age', { ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 0 } }, /^iam\.maxConnectionAgeMs: 0 must be a positive whole number/],
    ['malformed credentials', { ...iam, iam: { ...iam.iam, credentials: { accessKeyId: 'x' } as never } }, /^iam\.credentials: must be an AWS SDK credential provider/],
    ['an unknown auth mode', { ...iam, auth: 'token' as never }, /^auth: "token" must be "password" or "iam"/],
    ['an unknown KCC_REDIS_AUTH', { ...iam, auth: undefined, env: { KCC_REDIS_AUTH: 'IAM' } }, /^KCC_REDIS_AUTH: "IAM" must be "password" or "iam"/],
    ['a malformed KCC_REDIS_SERVERLESS', { ...iam, env: { KCC_REDIS_SERVERLESS: 'yes' } }, /^KCC_REDIS_SERVERLESS: "yes" must be "true" or "false"/],
    ['serverless without an endpoint', { ...iam, url: undefined, serverless: true }, /^url: missing; a serverless cache has no replication group to discover/],
    ['serverless but not cluster mode', { ...iam, serverless: true, clusterMode: false }, /^clusterMode: false contradicts serverless: true/],
  ])('refuses %s, naming the option', async (_name, options, message) => {
    const found = await problems(options);
    expect(found.some((problem) => message.test(problem)), found.join('\n')).toBe(true);
    expect(found.join('\n')).not.toContain('secret-access-key-value');
  });

  it('refuses an IAM user id with upper-case letters, naming the option or the variable it came from and the lower-case id', async () => {
    // ElastiCache stores user ids in lower case: a token signed for the mixed-case id fails with a bare WRONGPASS.
    const fix = /has upper-case letters, but ElastiCache stores user ids in lower case.*WRONGPASS.*use "kcc-redis-my-app-prod-iam", the id as the stack creates it/;
    expect(await problems({ ...iam, username: 'Kcc-Redis-My-App-Prod-IAM' })).toEqual([expect.stringMatching(new RegExp(`^username: "Kcc-Redis-My-App-Prod-IAM" ${fix.source}`))]);
    const fromEnv = await problems({ ...iam, username: undefined, env: { KCC_REDIS_USERNAME: 'kcc-redis-My-App-prod-iam' } });
    expect(fromEnv).toEqual([expect.stringMatching(new RegExp(`^KCC_REDIS_USERNAME: "kcc-redis-My-App-prod-iam" ${fix.source}`))]);
    const fromOldEnv = await problems({ ...iam, username: undefined, env: { CLUSTER_REDIS_USERNAME: 'KCC-REDIS-MY-APP-PROD-IAM' } });
    expect(fromOldEnv).toEqual([expect.stringMatching(/^CLUSTER_REDIS_USERNAME: "KCC-REDIS-MY-APP-PROD-IAM" has upper-case letters/)]);
    // The option wins over the variable, and is named when it differs from it.
    expect(await problems({ ...iam, username: 'Other-User', env: { KCC_REDIS_USERNAME: 'kcc-redis-my-app-prod-iam' } })).toEqual([expect.stringMatching(/^username: "Other-User" has upper-case letters/)]);
    // The lower-case id, as the stack creates it, passes.
    expect((await resolveConnection({ ...iam, username: 'kcc-redis-my-app-prod-iam' })).iam!.userId).toBe('kcc-redis-my-app-prod-iam');
  });

  // From a review of today's fixes (ca2ff28): a password or token pasted into KCC_REDIS_USERNAME by
  // mistake is mostly mixed case, and the refusal showed it twice (as given and lower-cased) in an
  // error that lands in logs. It is shown only when its lower-case form is a user id.
  it('an upper-case user id that is no user id in lower case either (a secret pasted by mistake?) is refused without showing it', async () => {
    const pasted = 'Xq7Rk2Lw9Tz4Vb8Nc3Md6Pf1Gh5Js0AeYu2Io7Kl4Zx9Cv3Bn8Mq1We6Rt5Ty0Ui';
    expect(pasted).toHaveLength(64);
    for (const [options, source] of [
      [{ ...iam, username: undefined, env: { KCC_REDIS_USERNAME: pasted } }, 'KCC_REDIS_USERNAME'],
      [{ ...iam, username: pasted }, 'username'],
    ] as const) {
      const error = await resolveConnection(options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KccConfigError);
      expect((error as KccConfigError).problems).toEqual([
        `${source}: has upper-case letters, but ElastiCache stores user ids in lower case, so a token signed for it is refused (WRONGPASS); nor is it an ElastiCache user id in lower case (a letter, then letters, digits and single hyphens, at most 40 characters), so it is not shown (a secret pasted by mistake?): give the IAM user's id as the stack creates it (its output's iam.username)`,
      ]);
      // Nowhere: message, problems, cause, util.inspect, JSON, the stack.
      expect(secretsIn(error, [pasted, pasted.toLowerCase()], { coerce: true })).toEqual([]);
    }
    // A short id that is one in lower case is still shown, with the lower-case id to use.
    expect(await problems({ ...iam, username: 'My-App-Prod-Iam' })).toEqual([
      expect.stringMatching(/^username: "My-App-Prod-Iam" has upper-case letters, .*; use "my-app-prod-iam", the id as the stack creates it/),
    ]);
  });

  it('refuses iam.maxConnectionAgeMs above ElastiCache\'s 12 hours (renewals at 75-90 % of it would meet the cut), and takes 12 hours or less', async () => {
    const twelveHours = 12 * 3_600_000;
    expect(await problems({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: twelveHours + 1 } })).toEqual([
      expect.stringMatching(/^iam\.maxConnectionAgeMs: 43200001 is longer than ElastiCache keeps an IAM-authenticated connection \(12 hours\).*leave it unset \(12 hours\), or set at most 43200000$/),
    ]);
    expect(await problems({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 100 * 3_600_000 } })).toEqual([expect.stringMatching(/^iam\.maxConnectionAgeMs: 360000000 is longer/)]);
    expect((await resolveConnection({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: twelveHours } })).iam!.maxConnectionAgeMs).toBe(twelveHours);
    expect((await resolveConnection({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 60_000, checkIntervalMs: 6_000 } })).iam!.maxConnectionAgeMs).toBe(60_000);
  });

  // From an input-validation review: 30 days (above Node's longest timer) fired the token and renewal checks every millisecond, and above 12 hours renewal never ran before the cut.
  it('refuses iam.checkIntervalMs above 5 minutes (the stand-by token would lapse between checks, renewal run late), or above a tenth of maxConnectionAgeMs; takes 5 minutes', async () => {
    for (const checkIntervalMs of [300_001, 43_200_001, 30 * 24 * 3_600_000]) {
      expect(await problems({ ...iam, iam: { ...iam.iam, checkIntervalMs } })).toEqual([
        expect.stringMatching(new RegExp(`^iam\\.checkIntervalMs: ${checkIntervalMs} must be a whole number of milliseconds from 1 to 300000: the check re-signs the stand-by IAM token \\(usable 14 minutes, re-signed from 5 minutes of age.*leave it unset \\(60000\\)$`)),
      ]);
    }
    expect(await problems({ ...iam, iam: { ...iam.iam, checkIntervalMs: 0 } })).toEqual([expect.stringMatching(/^iam\.checkIntervalMs: 0 must be a whole number of milliseconds from 1 to 300000/)]);
    expect((await resolveConnection({ ...iam, iam: { ...iam.iam, checkIntervalMs: 300_000 } })).iam!.checkIntervalMs).toBe(300_000);
    // A short age (for tests): a connection due at 90 % of it must still be checked before 100 %.
    expect(await problems({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 600_000, checkIntervalMs: 60_001 } })).toEqual([
      'iam.checkIntervalMs: 60001 is more than a tenth of iam.maxConnectionAgeMs (600000): a connection due for renewal at 90 % of its age would be checked only after the cut; lower it',
    ]);
    expect((await resolveConnection({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 600_000, checkIntervalMs: 60_000 } })).iam!.checkIntervalMs).toBe(60_000);
    // The interval in force, also when it is the default (an attack review: a shorter age with the default interval passed).
    expect(await problems({ ...iam, iam: { ...iam.iam, maxConnectionAgeMs: 300_000 } })).toEqual([
      'iam.checkIntervalMs: 60000 (the default: set iam.checkIntervalMs to at most 30000) is more than a tenth of iam.maxConnectionAgeMs (300000): a connection due for renewal at 90 % of its age would be checked only after the cut; lower it',
    ]);
  });

  it('lists every IAM problem at once', async () => {
    const found = await problems({ auth: 'iam', url: 'rediss://h:6379', env: {} });
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^keyPrefix:/), expect.stringMatching(/^iam\.cacheName:/), expect.stringMatching(/^username:/), expect.stringMatching(/^region:/)]));
  });
});
