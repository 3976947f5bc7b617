import { Duration, RemovalPolicy, Size, Stack, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it, vi } from 'vitest';
import {
  AppEnvAuth,
  CacheEngine,
  type IKccRedisCache,
  KccCachePropsError,
  KccServerlessCache,
  type KccServerlessCacheProps,
} from '../../../infra/index.js';
import { bareStack } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

function propsError(props: Partial<KccServerlessCacheProps>): KccCachePropsError {
  const { stack, vpc } = bareStack();
  try {
    new KccServerlessCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], ...props });
  } catch (error) {
    if (error instanceof KccCachePropsError) return error;
    throw error;
  }
  throw new Error('expected the construct to reject its props');
}

describe('KccServerlessCache: usable without the config parser', () => {
  it('builds from flat typed props alone, with a generated name and the stated defaults', () => {
    const { stack, vpc } = bareStack();
    const cache = new KccServerlessCache(stack, 'Orders', { vpc, apps: [{ name: 'orders', envs: ['prod'], auth: AppEnvAuth.IAM }], engine: CacheEngine.REDIS });
    const template = Template.fromStack(stack);
    const sc = Object.values(template.findResources('AWS::ElastiCache::ServerlessCache'))[0]!.Properties;
    expect(sc.ServerlessCacheName).toMatch(/^[a-z][a-z0-9]{0,19}$/);
    expect(sc).toMatchObject({ Engine: 'redis', MajorEngineVersion: '7', CacheUsageLimits: { DataStorage: { Maximum: 1, Unit: 'GB' }, ECPUPerSecond: { Maximum: 5000 } } });
    template.hasResourceProperties('AWS::ElastiCache::User', { UserId: `${sc.ServerlessCacheName}-orders-prod-iam`, UserName: `${sc.ServerlessCacheName}-orders-prod-iam` });
    expect([cache.port, cache.readerPort, cache.clusterMode]).toEqual([6379, 6380, true]);
    // Moving the construct would replace the cache with an empty one: said at synth, with the name to set.
    const notes = Annotations.fromStack(stack).findInfo('*', Match.stringLikeRegexp('serverlessCacheName is generated'));
    expect(notes.map((n) => n.entry.data)).toEqual([expect.stringContaining(`Set serverlessCacheName: '${sc.ServerlessCacheName}' to keep it`)]);
  });

  it('maps Size, Duration and RemovalPolicy props onto the template', () => {
    const { stack, vpc } = bareStack();
    new KccServerlessCache(stack, 'Cache', {
      vpc, apps: [{ name: 'a' }], serverlessCacheName: 'c1', maxDataStorage: Size.gibibytes(20), maxEcpuPerSecond: 50_000,
      snapshotRetention: Duration.days(14), dailySnapshotTime: '23:15', removalPolicy: RemovalPolicy.RETAIN,
    });
    Template.fromStack(stack).hasResource('AWS::ElastiCache::ServerlessCache', {
      DeletionPolicy: 'Retain',
      Properties: { ServerlessCacheName: 'c1', CacheUsageLimits: { DataStorage: { Maximum: 20, Unit: 'GB' }, ECPUPerSecond: { Maximum: 50000 } }, SnapshotRetentionLimit: 14, DailySnapshotTime: '23:15' },
    });
  });

  it('is an IKccRedisCache: allowDefaultPortFrom opens both serverless ports to an app', () => {
    const { stack, vpc } = bareStack();
    const cache: IKccRedisCache = new KccServerlessCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], serverlessCacheName: 'c1' });
    cache.connections.allowDefaultPortFrom(new ec2.SecurityGroup(stack, 'App', { vpc }));
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    expect(cache.grantRead(role, 'a', 'prod').success).toBe(true);
    const ingress = Object.values(Template.fromStack(stack).findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toContainEqual(expect.objectContaining({ FromPort: 6379, ToPort: 6380, SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^App/), 'GroupId'] } }));
  });
});

describe('KccServerlessCache: props validation (KCC_CACHE_PROPS_INVALID)', () => {
  it.each<[string, Partial<KccServerlessCacheProps>, RegExp]>([
    ['cache name', { serverlessCacheName: 'Orders' }, /serverlessCacheName "Orders" must start with a lowercase letter/],
    ['a minor version', { majorEngineVersion: '8.1' }, /majorEngineVersion "8\.1" is not a valkey major version ElastiCache Serverless offers; valid: 7, 8, 9/],
    ['redis 8', { engine: CacheEngine.REDIS, majorEngineVersion: '8' }, /majorEngineVersion "8" is not a redis major version .*valid: 7/],
    ['storage below 1 GB', { maxDataStorage: Size.mebibytes(512) }, /maxDataStorage 0\.5 GB must be whole gigabytes from 1 to 5000/],
    ['storage past 5,000 GB', { maxDataStorage: Size.gibibytes(6000) }, /maxDataStorage 6000 GB must be whole gigabytes from 1 to 5000/],
    ['ECPUs below 1,000', { maxEcpuPerSecond: 500 }, /maxEcpuPerSecond 500 must be a whole number from 1000 to 15000000/],
    ['no snapshots', { snapshotRetention: Duration.days(0) }, /snapshotRetention 0 days must be whole days from 1 to 35 \(a serverless cache always takes its daily snapshot\)/],
    ['snapshot time', { dailySnapshotTime: '25:00' }, /dailySnapshotTime "25:00" must look like "04:00"/],
    ['an IAM user id past 40 characters', { serverlessCacheName: 'c'.repeat(20), apps: [{ name: 'orders-apis', auth: AppEnvAuth.IAM }] },
      /apps: user id "c{20}-orders-apis-prod-iam" \(IAM user: <serverlessCacheName>-<app>-<env>-iam, its id and name\) must be at most 40 characters/],
    ['an auth that is not one', { auth: 'token' as AppEnvAuth }, /auth "token" must be one of "password", "iam", "password\+iam" \(AppEnvAuth\)/],
    ['two users per app-env past the user group', { apps: Array.from({ length: 50 }, (_, i) => ({ name: `a${i}`, envs: ['prod'], auth: AppEnvAuth.PASSWORD_AND_IAM })) },
      /apps: 100 app-env users \(two for "password\+iam"\) \+ the default user = 101; a user group holds at most 100 users/],
    ['removal policy', { removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE }, /removalPolicy "retain-on-update-or-delete" must be RemovalPolicy\.SNAPSHOT, RETAIN or DESTROY/],
    // A review of input validation: from JavaScript, apps as a string threw "apps.flatMap is not a function"; a replication group's prop was ignored.
    ['apps a string (JavaScript)', { apps: 'my-app' as never }, /^apps "my-app" must be a list of apps, e.g\. apps: \[\{ name: "my-app" \}\]$/],
  ])('%s', (_name, props, message) => {
    const error = propsError(props);
    expect(error.code).toBe('KCC_CACHE_PROPS_INVALID');
    expect(error.message).toMatch(/^Invalid props for KccServerlessCache at "Bare\/Cache"/);
    expect(error.problems.join('\n')).toMatch(message);
  });

  it('leaves tokens to deploy time', () => {
    const { stack, vpc } = bareStack();
    expect(() => new KccServerlessCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], serverlessCacheName: 'c1', maxEcpuPerSecond: Token.asNumber({ Ref: 'Ecpu' }) })).not.toThrow();
  });
});
