import { App, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { describe, expect, it, vi } from 'vitest';
import { AppEnvAuth, CacheEngine, type IKccRedisCache, KccCachePropsError, KccRedisCache, type KccRedisCacheProps } from '../../../infra/index.js';
import { bareStack, build, outdir } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

function propsError(props: Partial<KccRedisCacheProps>): KccCachePropsError {
  const { stack, vpc } = bareStack();
  try {
    new KccRedisCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], ...props });
  } catch (error) {
    if (error instanceof KccCachePropsError) return error;
    throw error;
  }
  throw new Error('expected the construct to reject its props');
}

describe('KccRedisCache: usable without the config parser', () => {
  it('builds from flat typed props alone, with ids generated from its path', () => {
    const { stack, vpc } = bareStack();
    const cache = new KccRedisCache(stack, 'Orders', { vpc, apps: [{ name: 'orders', envs: ['prod'] }], engine: CacheEngine.REDIS });
    const template = Template.fromStack(stack);
    const rg = Object.values(template.findResources('AWS::ElastiCache::ReplicationGroup'))[0]!.Properties;
    expect(rg.ReplicationGroupId).toMatch(/^[a-z][a-z0-9]{0,19}$/);
    expect(rg).toMatchObject({ Engine: 'redis', EngineVersion: '7.1', NumCacheClusters: 2 });
    template.hasResourceProperties('AWS::ElastiCache::User', { UserId: `${rg.ReplicationGroupId}-orders-prod`, UserName: 'orders-prod' });
    template.hasResourceProperties('AWS::ElastiCache::UserGroup', { UserGroupId: `${rg.ReplicationGroupId}-users` });
    expect(cache.appEnvNames).toEqual(['orders-prod']);
    // A review of stack updates: moving the construct generates another name, and a deploy replaces the cache
    // with an empty one, nothing colliding to stop it. Said at synth, with the name to set.
    const notes = Annotations.fromStack(stack).findInfo('*', Match.stringLikeRegexp('replicationGroupId is generated'));
    expect(notes.map((n) => n.entry.data)).toEqual([expect.stringContaining(`Set replicationGroupId: '${rg.ReplicationGroupId}' to keep it`)]);
    const { stack: named, vpc: namedVpc } = bareStack();
    new KccRedisCache(named, 'Orders', { vpc: namedVpc, apps: [{ name: 'orders' }], replicationGroupId: 'orders' });
    expect(Annotations.fromStack(named).findInfo('*', Match.stringLikeRegexp('is generated'))).toEqual([]);
  });

  it('maps Duration, RetentionDays and RemovalPolicy props onto the template', () => {
    const { stack, vpc } = bareStack();
    new KccRedisCache(stack, 'Cache', {
      vpc, apps: [{ name: 'a' }], replicationGroupId: 'c1',
      snapshotRetention: Duration.days(7), passwordRotation: Duration.days(14), kekRotation: Duration.days(60),
      logRetention: logs.RetentionDays.ONE_WEEK, removalPolicy: RemovalPolicy.RETAIN,
    });
    const template = Template.fromStack(stack);
    template.hasResource('AWS::ElastiCache::ReplicationGroup', { DeletionPolicy: 'Retain', Properties: { SnapshotRetentionLimit: 7 } });
    const schedules = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule')).map((r) => (r as { Properties: { RotationRules: { ScheduleExpression: string } } }).Properties.RotationRules.ScheduleExpression);
    // Three user secrets (default user, a-prod, a-dev) every 14 days; two key-encryption keys every 60.
    expect(schedules.sort()).toEqual(['rate(14 days)', 'rate(14 days)', 'rate(14 days)', 'rate(60 days)', 'rate(60 days)']);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('is an IKccRedisCache: connections and grantRead are all an app stack needs', () => {
    const { stack, vpc } = bareStack();
    const cache: IKccRedisCache = new KccRedisCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], replicationGroupId: 'c1' });
    const appGroup = new ec2.SecurityGroup(stack, 'App', { vpc });
    cache.connections.allowDefaultPortFrom(appGroup);
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    expect(cache.grantRead(role, 'a', 'prod').success).toBe(true);
    const ingress = Object.values(Template.fromStack(stack).findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toContainEqual(expect.objectContaining({ FromPort: 6379, ToPort: 6379, SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^App/), 'GroupId'] } }));
  });
});

describe('KccRedisCache: props validation (KCC_CACHE_PROPS_INVALID, naming the prop, the value and the rule)', () => {
  it.each<[string, Partial<KccRedisCacheProps>, RegExp]>([
    ['no apps', { apps: [] }, /apps must list at least one app, got \[\]/],
    ['bad app name', { apps: [{ name: 'Orders' }] }, /apps\[0\]\.name "Orders" must start with a lowercase letter/],
    ['app twice', { apps: [{ name: 'a' }, { name: 'a' }] }, /apps \["a","a"\] names an app twice/],
    ['bad env', { apps: [{ name: 'a', envs: ['prod-'] }] }, /apps\[0\]\.envs: environment "prod-" must not end with a hyphen/],
    ['empty envs', { envs: [] }, /envs must list at least one environment, got \[\]/],
    ['replication group id', { replicationGroupId: 'Kcc' }, /replicationGroupId "Kcc" must start with a lowercase letter/],
    ['composed user id too long', { replicationGroupId: 'a'.repeat(30), apps: [{ name: 'orders' }] }, /apps: user id "a{30}-orders-prod" \(<replicationGroupId>-<app>-<env>\) must be at most 40 characters/],
    // A review of input validation: an app and an env valid each, too long together, crashed the namespace check with a TypeError.
    ['app and env valid each, too long together', { replicationGroupId: 'c1', apps: [{ name: 'a'.repeat(30), envs: ['b'.repeat(30)] }] }, /apps: user id "c1-a{30}-b{30}" \(<replicationGroupId>-<app>-<env>\) must be at most 40 characters \(has 64\); shorten the app, env or replicationGroupId/],
    ['default user id', { defaultUserId: 'x--y' }, /defaultUserId "x--y" must not contain two consecutive hyphens/],
    ['user group id', { userGroupId: 'g-' }, /userGroupId "g-" must not end with a hyphen/],
    ['engine version', { engineVersion: '7.0.5' }, /engineVersion "7\.0\.5" is not a valkey version .*valid: 7\.2, 8\.0, 8\.1, 8\.2, 9\.0, 9\.1/],
    ['redis version', { engine: CacheEngine.REDIS, engineVersion: '6.2' }, /engineVersion "6\.2" is not a redis version .*valid: 7\.0, 7\.1/],
    ['node type', { cacheNodeType: 't4g.micro' }, /cacheNodeType "t4g\.micro" must look like "cache\.<family>\.<size>"/],
    ['shards', { shards: 0 }, /shards 0 must be a whole number from 1 to 500/],
    ['replicas', { replicasPerShard: 6 }, /replicasPerShard 6 must be a whole number from 0 to 5/],
    ['nodes', { shards: 90, replicasPerShard: 5 }, /shards × \(1 \+ replicasPerShard\) = 540: a replication group has at most 500 nodes/],
    ['port in cluster mode', { shards: 2, port: 60000 }, /port 60000 must be a whole number from 1 to 55535 \(cluster mode/],
    ['snapshot retention', { snapshotRetention: Duration.days(36) }, /snapshotRetention 36 days must be whole days from 0 to 35/],
    ['snapshot retention in hours', { snapshotRetention: Duration.hours(12) }, /snapshotRetention 0\.5 days must be whole days/],
    ['password rotation', { passwordRotation: Duration.days(0) }, /passwordRotation 0 days must be whole days from 1 to 1000/],
    ['maintenance window', { maintenanceWindow: 'sunday' }, /maintenanceWindow "sunday" must look like "sun:05:00-sun:06:00"/],
    ['windows overlap', { snapshotWindow: '05:30-06:30' }, /snapshotWindow "05:30-06:30" overlaps maintenanceWindow "sun:05:00-sun:06:00"/],
    ['open to the world', { allowFrom: [ec2.Peer.anyIpv4()] }, /allowFrom \["0\.0\.0\.0\/0"\] opens the cache to every address/],
    ['open to the world in two halves', { allowFrom: [ec2.Peer.ipv4('0.0.0.0/1'), ec2.Peer.ipv4('128.0.0.0/1')] }, /allowFrom \["0\.0\.0\.0\/1","128\.0\.0\.0\/1"\] has a CIDR wider than \/8/],
    ['open to the world, spelled otherwise', { allowFrom: [ec2.Peer.ipv6('::0/0')] }, /allowFrom \["::0\/0"\] opens the cache to every address/],
    ['two app-envs in one namespace (a password user and an IAM user)', { apps: [{ name: 'a-b', envs: ['c'], auth: AppEnvAuth.PASSWORD }, { name: 'a', envs: ['b-c'], auth: AppEnvAuth.IAM }] }, /apps: app "a" env "b-c": its Redis namespace "a-b-c:" is already that of app "a-b" env "c"/],
    ['removal policy', { removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE }, /removalPolicy "retain-on-update-or-delete" must be RemovalPolicy\.SNAPSHOT, RETAIN or DESTROY/],
    ['too many users', { apps: Array.from({ length: 50 }, (_, i) => ({ name: `a${i}` })) }, /apps: 100 app-env users \(two for "password\+iam"\) \+ the default user = 101; a user group holds at most 100 users/],
  ])('%s', (_name, props, message) => {
    const error = propsError(props);
    expect(error.code).toBe('KCC_CACHE_PROPS_INVALID');
    expect(error.message).toMatch(/^Invalid props for KccRedisCache at "Bare\/Cache"/);
    expect(error.problems.join('\n')).toMatch(message);
  });

  // A review of input validation: from JavaScript, apps of another shape threw a TypeError ("apps.flatMap is not a
  // function", "Cannot read properties of undefined (reading 'length')"), and a misspelled prop was ignored.
  it.each<[string, Record<string, unknown>, string[]]>([
    ['apps a string', { apps: 'my-app' }, ['apps "my-app" must be a list of apps, e.g. apps: [{ name: "my-app" }]']],
    ['apps missing', { apps: undefined }, ["apps is missing; list the apps that share the cache, e.g. apps: [{ name: 'orders' }]"]],
    ['apps of names (the config file\'s shape)', { apps: ['my-app', { name: 'b' }, { name: 7 }] }, ['apps[0] "my-app" must be an app { name, envs?, auth? }, e.g. { name: "my-app" }; apps[2].name 7 must be a string, the app\'s name']],
    ['envs a string', { envs: 'prod', apps: [{ name: 'a', envs: [1] }] }, ['envs "prod" must be a list of environment names, e.g. ["prod"]; apps[0].envs a list must be a list of environment names, e.g. ["prod"]']],
    ['a misspelled prop beside another problem: only the problem refuses', { nodeType: 'cache.t4g.small', port: 0 }, ['port 0 must be a whole number from 1 to 65535']],
    ['a misspelled prop with apps of another shape: the shape alone', { apps: 'a', shard: 2, port: 0 }, ['apps "a" must be a list of apps, e.g. apps: [{ name: "a" }]']],
  ])('from JavaScript: %s is a KCC_CACHE_PROPS_INVALID naming the prop', (_name, props, problems) => {
    const error = propsError({ replicationGroupId: 'c1', ...props } as Partial<KccRedisCacheProps>);
    expect(error.problems).toEqual(problems);
  });

  // An attack review of 51aaf9b: refusing props the construct does not have refused what TypeScript
  // compiles, props spread from a stack's ({ ...stackProps, vpc }) and apps with fields of their own.
  it('a prop it does not have (from JavaScript a misspelling, from TypeScript a spread) is an info note, not a refusal; StackProps\' names are not noted', () => {
    const { stack, vpc } = bareStack();
    const props = { env: { region: 'eu-west-1' }, description: 'x', vpc, replicationGroupId: 'c1', nodeType: 'cache.t4g.small', apps: [{ name: 'a', env: ['prod'], team: 'payments' }] };
    new KccRedisCache(stack, 'Cache', props as unknown as KccRedisCacheProps);
    const notes = Annotations.fromStack(stack).findInfo('*', Match.stringLikeRegexp('is not a prop of')).map((n) => String(n.entry.data));
    expect(notes).toEqual([
      'nodeType is not a prop of KccRedisCache, ignored (did you mean cacheNodeType?); apps[0].env is not a prop of an app (KccApp), ignored (did you mean apps[0].envs?); ' +
        'apps[0].team is not a prop of an app (KccApp), ignored (did you mean apps[0].name?)',
    ]);
  });

  it('lists every problem at once and changes nothing', () => {
    const { stack, vpc } = bareStack();
    const error = (() => {
      try {
        new KccRedisCache(stack, 'Cache', { vpc, apps: [{ name: 'A' }], shards: 0, port: 0 });
      } catch (e) {
        return e as KccCachePropsError;
      }
      throw new Error('expected an error');
    })();
    expect(error.problems).toHaveLength(3);
    expect(stack.node.tryFindChild('Cache')?.node.children.length ?? 0).toBe(0);
  });

  it('leaves tokens to deploy time', () => {
    const { stack, vpc } = bareStack();
    expect(() => new KccRedisCache(stack, 'Cache', { vpc, apps: [{ name: 'a' }], port: Token.asNumber({ Ref: 'Port' }), replicationGroupId: 'c1' })).not.toThrow();
  });
});

describe('stacks side by side in one account', () => {
  it('two stacks with different stackName/replicationGroupId and the same apps have disjoint user and user-group ids', () => {
    const ids = (kcc: object) => {
      const template = Template.fromStack(build(kcc).stack);
      return [
        ...Object.values(template.findResources('AWS::ElastiCache::User')).map((u) => u.Properties.UserId as string),
        ...Object.values(template.findResources('AWS::ElastiCache::UserGroup')).map((g) => g.Properties.UserGroupId as string),
      ];
    };
    const prod = ids({ apps: ['my-app'], stackName: 'KccProd', replicationGroupId: 'kcc-prod' });
    const staging = ids({ apps: ['my-app'], stackName: 'KccStaging', replicationGroupId: 'kcc-staging' });
    expect(prod).toHaveLength(4);
    expect(staging).toHaveLength(4);
    expect(prod.filter((id) => staging.includes(id))).toEqual([]);
  });
});

// A review of the stack's updates: the password secrets' GenerateSecretString held the user's ARN as
// formatArn wrote it, literal once the stack has an account and region (a VPC lookup needs them), so
// adding `env` changed the template: CloudFormation generated new passwords, the users kept the old
// ones (their dynamic reference is resolved again only when the user changes), and every app got
// WRONGPASS until the next rotation.
describe('the password secrets do not follow the stack environment', () => {
  it('GenerateSecretString is the same with and without an account and region', () => {
    const generated = (env?: { account: string; region: string }) => {
      const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] }, outdir: outdir() }), 'Orders', env ? { env } : {});
      const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
      new KccRedisCache(stack, 'Cache', { vpc, apps: [{ name: 'orders', envs: ['prod'] }], replicationGroupId: 'orders-cache' });
      const secrets = Template.fromStack(stack).findResources('AWS::SecretsManager::Secret', { Properties: { GenerateSecretString: { GenerateStringKey: 'password' } } });
      return Object.fromEntries(Object.entries(secrets).map(([id, secret]) => [id, (secret as { Properties: { GenerateSecretString: unknown } }).Properties.GenerateSecretString]));
    };
    const without = generated();
    expect(Object.keys(without).length).toBe(2); // the default user's and orders-prod's
    expect(generated({ account: '123456789012', region: 'eu-west-1' })).toEqual(without);
  });
});
