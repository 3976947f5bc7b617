import { describe, expect, it } from 'vitest';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { CONFIG_DEFAULTS, CacheEngine, KccStackConfigError, MAX_APP_ENVS, parseConfig } from '../../../infra/index.js';
import { build } from '../../support/synth.js';

function problemsOf(raw: unknown): readonly string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof KccStackConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected parseConfig to reject the config');
}

describe('config: defaults', () => {
  it('fills every default from a config that names only the apps', () => {
    const config = parseConfig({ apps: ['my-app'] });
    expect(config).toMatchObject({
      stackName: 'KccRedis',
      deployment: 'replication-group',
      auth: 'password',
      defaultUserId: undefined,
      defaultUserEnabled: false,
      userGroupId: undefined,
      replicationGroupId: 'kcc-redis',
      engine: CacheEngine.VALKEY,
      engineVersion: '8.1',
      nodeType: 'cache.t4g.micro',
      replicas: 1,
      shards: 1,
      port: 6379,
      aclProfile: 'guide',
      passwordRotationDays: 30,
      vpcId: undefined,
      subnetIds: undefined,
      interfaceEndpoints: false,
      bastion: false,
      removalPolicy: 'snapshot',
      allowFrom: [],
      alarms: {
        topicArn: undefined, authenticationFailures: 20, authorizationFailures: 5, memoryPercent: 80, evictions: 1, replicationLagSeconds: 10,
        rotationErrors: 1, storagePercent: 75, ecpuPercent: 75, throttledCommands: 1,
      },
    });
    expect(config.appEnvs).toEqual([
      { app: 'my-app', env: 'prod', auth: 'password' },
      { app: 'my-app', env: 'dev', auth: 'password' },
    ]);
  });

  it('takes per-app envs, a top-level envs default, peers and the redis engine', () => {
    const config = parseConfig({
      apps: ['a', { name: 'b', envs: ['staging'] }],
      envs: ['live'],
      engine: 'redis',
      allowFrom: ['sg-0123456789abcdef0', '10.0.0.0/16', '2001:db8::/32'],
    });
    expect(config.appEnvs.map((e) => `${e.app}-${e.env}`)).toEqual(['a-live', 'b-staging']);
    expect(config.engineVersion).toBe('7.1');
    expect(config.allowFrom).toEqual([
      { kind: 'securityGroup', securityGroupId: 'sg-0123456789abcdef0' },
      { kind: 'cidr', cidr: '10.0.0.0/16', ipVersion: 4 },
      { kind: 'cidr', cidr: '2001:db8::/32', ipVersion: 6 },
    ]);
  });

  it.each([1, 7, 1000])('accepts a password rotation every %i day(s)', (days) => {
    expect(parseConfig({ apps: ['a'], passwordRotationDays: days }).passwordRotationDays).toBe(days);
  });

  it('exposes its defaults in one object', () => {
    expect(CONFIG_DEFAULTS.defaultUserEnabled).toBe(false);
  });

  it('takes an imported VPC by id and subnet ids, network options, alarms and a removal policy', () => {
    const config = parseConfig({
      apps: ['a'],
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      bastion: true,
      removalPolicy: 'retain',
      alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops', memoryPercent: 90 },
    });
    expect(config).toMatchObject({ subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], bastion: true, removalPolicy: 'retain' });
    expect(config.alarms).toMatchObject({ topicArn: 'arn:aws:sns:eu-west-1:123456789012:ops', memoryPercent: 90, evictions: 1 });
    expect(parseConfig({ apps: ['a'], alarms: false }).alarms).toBeUndefined();
  });

  it.each([['valkey', ['7.2', '8.0', '8.1', '8.2', '9.0', '9.1']], ['redis', ['7.0', '7.1']]] as const)(
    'accepts every %s version ElastiCache offers', (engine, versions) => {
      for (const engineVersion of versions) expect(parseConfig({ apps: ['a'], engine, engineVersion }).engineVersion).toBe(engineVersion);
    });
});

describe('config: every bad input names the field, the value and the rule', () => {
  const base = { apps: ['my-app'] };
  it.each<[string, unknown, RegExp]>([
    ['not an object', 'apps', /context "kcc" must be an object, got "apps"/],
    ['missing apps', {}, /apps: missing/],
    ['empty apps', { apps: [] }, /apps: must be a non-empty list/],
    ['duplicate app', { apps: ['a', 'a'] }, /apps\[1\]: app "a" is listed twice/],
    ['uppercase app', { apps: ['MyApp'] }, /apps\[0\]: app name "MyApp" must start with a lowercase letter/],
    ['double hyphen app', { apps: ['my--app'] }, /apps\[0\]: app name "my--app" must not contain two consecutive hyphens/],
    ['trailing hyphen env', { apps: [{ name: 'a', envs: ['prod-'] }] }, /apps\[0\]\.envs: environment "prod-" must not end with a hyphen/],
    ['duplicate env', { apps: [{ name: 'a', envs: ['prod', 'prod'] }] }, /lists an environment twice/],
    ['unknown app field', { apps: [{ name: 'a', env: ['prod'] }] }, /apps\[0\]: unknown field\(s\) "env"/],
    ['user id too long (it carries the replication group id)', { apps: ['a'.repeat(26)] }, /user id "kcc-redis-a{26}-prod" \(<replicationGroupId>-<app>-<env>\) must be at most 40 characters/],
    // A review of input validation: an app and an env valid each, too long together, crashed the namespace check with a TypeError.
    ['app and env valid each, too long together', { apps: [{ name: 'a'.repeat(30), envs: ['b'.repeat(30)] }] }, /^apps: "a{30}" env "b{30}": user id "kcc-redis-a{30}-b{30}" \(<replicationGroupId>-<app>-<env>\) must be at most 40 characters \(has 71\); shorten the app, the env or replicationGroupId$/],
    ['two app-envs in one namespace (a password user and an IAM user: different user ids)', { apps: [{ name: 'a', envs: ['b-c'] }, { name: 'a-b', envs: ['c'], auth: 'iam' }] }, /apps: app "a-b" env "c": its Redis namespace "a-b-c:" is already that of app "a" env "b-c"; .*rename one of them/],
    ['user id clash with the default user', { apps: [{ name: 'x', envs: ['admin'] }], defaultUserId: 'kcc-redis-x-admin' }, /user id "kcc-redis-x-admin" is already used by the default user/],
    ['bad replication group id', { ...base, replicationGroupId: 'Kcc' }, /replicationGroupId: "Kcc" must start with a lowercase letter/],
    ['bad user group id', { ...base, userGroupId: 'group-' }, /userGroupId: "group-" must not end with a hyphen/],
    ['bad default user id', { ...base, defaultUserId: 'x--y' }, /defaultUserId: "x--y" must not contain two consecutive hyphens/],
    ['unknown engine', { ...base, engine: 'memcached' }, /engine: "memcached" must be one of "valkey", "redis"/],
    ['redis below 7.0 (no TransitEncryptionMode)', { ...base, engine: 'redis', engineVersion: '6.2' }, /engineVersion: "6.2" is not a redis version ElastiCache offers .*; valid: 7\.0, 7\.1$/],
    ['redis patch version', { ...base, engine: 'redis', engineVersion: '7.0.5' }, /engineVersion: "7\.0\.5" is not a redis version .*valid: 7\.0, 7\.1/],
    ['valkey version that does not exist', { ...base, engineVersion: '9.9' }, /engineVersion: "9\.9" is not a valkey version .*valid: 7\.2, 8\.0, 8\.1, 8\.2, 9\.0, 9\.1/],
    ['valkey too old', { ...base, engineVersion: '7.1' }, /engineVersion: "7\.1" is not a valkey version/],
    ['redis version for valkey', { ...base, engineVersion: '7.0' }, /engineVersion: "7\.0" is not a valkey version/],
    ['version format', { ...base, engineVersion: 'latest' }, /engineVersion: "latest" is not a valkey version/],
    ['replicas above 5', { ...base, replicas: 6 }, /replicas: 6 must be a whole number from 0 to 5/],
    ['replicas not integer', { ...base, replicas: 1.5 }, /replicas: 1\.5 must be a whole number/],
    ['shards 0', { ...base, shards: 0 }, /shards: 0 must be a whole number from 1 to 500/],
    ['shards 501', { ...base, shards: 501 }, /shards: 501 must be a whole number from 1 to 500/],
    ['too many nodes', { ...base, shards: 90, replicas: 5 }, /shards × \(1 \+ replicas\) = 540: a replication group has at most 500 nodes/],
    ['port 0', { ...base, port: 0 }, /port: 0 must be a whole number from 1 to 65535/],
    ['port as string', { ...base, port: '6379' }, /port: "6379" must be a whole number/],
    ['cluster bus port out of range', { ...base, shards: 2, port: 60000 }, /port: 60000 must be a whole number from 1 to 55535/],
    ['node type', { ...base, nodeType: 't4g.micro' }, /nodeType: "t4g\.micro" must look like "cache\.<family>\.<size>"/],
    ['acl profile', { ...base, aclProfile: 'strict' }, /aclProfile: "strict" must be one of "guide", "hardened"/],
    ['default user flag type', { ...base, defaultUserEnabled: 'yes' }, /defaultUserEnabled: "yes" must be true or false/],
    ['snapshot retention', { ...base, snapshotRetentionDays: 36 }, /snapshotRetentionDays: 36 must be a whole number from 0 to 35/],
    ['maintenance window format', { ...base, maintenanceWindow: 'sunday 5am' }, /maintenanceWindow: "sunday 5am" must look like "sun:05:00-sun:06:00"/],
    ['maintenance window too short', { ...base, maintenanceWindow: 'sun:05:00-sun:05:30' }, /maintenanceWindow: "sun:05:00-sun:05:30" must be at least 60 minutes long/],
    ['snapshot window too short', { ...base, snapshotWindow: '03:00-03:30' }, /snapshotWindow: "03:00-03:30" must be at least 60 minutes long/],
    ['windows overlap (the default maintenance window)', { ...base, snapshotWindow: '05:30-06:30' }, /snapshotWindow: "05:30-06:30" overlaps the default maintenanceWindow "sun:05:00-sun:06:00" \(set maintenanceWindow to move it\); ElastiCache requires them apart/],
    ['windows overlap (the maintenance window set)', { ...base, maintenanceWindow: 'mon:02:00-mon:03:00', snapshotWindow: '02:30-03:30' }, /snapshotWindow: "02:30-03:30" overlaps maintenanceWindow "mon:02:00-mon:03:00"; ElastiCache requires them apart/],
    ['log retention', { ...base, logRetentionDays: 10 }, /logRetentionDays: 10 must be one of 1, 3, 5, 7, 14, 30/],
    ['password rotation 0 days', { ...base, passwordRotationDays: 0 }, /passwordRotationDays: 0 must be a whole number from 1 to 1000/],
    ['password rotation above 1000 days', { ...base, passwordRotationDays: 1001 }, /passwordRotationDays: 1001 must be a whole number from 1 to 1000/],
    ['password rotation not whole days', { ...base, passwordRotationDays: 7.5 }, /passwordRotationDays: 7\.5 must be a whole number/],
    ['password rotation as string', { ...base, passwordRotationDays: '30' }, /passwordRotationDays: "30" must be a whole number/],
    ['vpc id', { ...base, vpcId: 'my-vpc' }, /vpcId: "my-vpc" must look like "vpc-0123456789abcdef0"/],
    ['kms key arn', { ...base, kmsKeyArn: 'alias/my-key' }, /kmsKeyArn: "alias\/my-key" must be a KMS key ARN/],
    ['open to the world (IPv4)', { ...base, allowFrom: ['0.0.0.0/0'] }, /allowFrom\[0\]: "0\.0\.0\.0\/0" opens the cache to every address/],
    ['open to the world (IPv6)', { ...base, allowFrom: ['::/0'] }, /allowFrom\[0\]: "::\/0" opens the cache to every address/],
    ['open to the world in two halves', { ...base, allowFrom: ['10.0.0.0/16', '0.0.0.0/1', '128.0.0.0/1'] }, /allowFrom\[1\]: "0\.0\.0\.0\/1" is wider than \/8: a few such ranges open the cache to every address/],
    ['an IPv6 range wider than /16', { ...base, allowFrom: ['8000::/1'] }, /allowFrom\[0\]: "8000::\/1" is wider than \/16/],
    ['a prefix with a leading zero', { ...base, allowFrom: ['10.0.0.0/08'] }, /allowFrom\[0\]: "10\.0\.0\.0\/08" must be a security group id/],
    ['an address with a zone', { ...base, allowFrom: ['fe80::1%eth0/64'] }, /allowFrom\[0\]: "fe80::1%eth0\/64" must be a security group id/],
    ['not a peer', { ...base, allowFrom: ['10.0.0.0'] }, /allowFrom\[0\]: "10\.0\.0\.0" must be a security group id/],
    ['prefix too long', { ...base, allowFrom: ['10.0.0.0/33'] }, /allowFrom\[0\]: "10\.0\.0\.0\/33" must be a security group id/],
    ['typo in a field name', { ...base, replica: 2 }, /unknown field "replica": did you mean "replicas"\?/],
    ['unknown field', { ...base, something: true }, /unknown field "something" \(known: stackName, deployment, apps/],
    ['stack name', { ...base, stackName: 'my stack' }, /stackName: "my stack" must start with a letter/],
    ['removal policy', { ...base, removalPolicy: 'delete' }, /removalPolicy: "delete" must be one of "snapshot", "retain", "destroy"/],
    ['subnets without a VPC', { ...base, subnetIds: ['subnet-0123456789abcdef0'] }, /subnetIds: \["subnet-0123456789abcdef0"\] needs "vpcId"/],
    ['not a subnet id', { ...base, vpcId: 'vpc-0123456789abcdef0', subnetIds: ['sn-1'] }, /subnetIds\[0\]: "sn-1" must look like "subnet-/],
    ['no subnets', { ...base, vpcId: 'vpc-0123456789abcdef0', subnetIds: [] }, /subnetIds: \[\] must list at least one subnet/],
    ['endpoints in an imported VPC', { ...base, vpcId: 'vpc-0123456789abcdef0', subnetIds: ['subnet-0123456789abcdef0'], interfaceEndpoints: true }, /interfaceEndpoints: true adds endpoints to the VPC the stack creates only/],
    ['bastion in a looked-up VPC', { ...base, vpcId: 'vpc-0123456789abcdef0', bastion: true }, /bastion: true with "vpcId" needs "subnetIds"/],
    ['alarms as a string', { ...base, alarms: 'on' }, /alarms: "on" must be false \(no alarms\) or an object/],
    ['alarm topic not an SNS ARN', { ...base, alarms: { topicArn: 'ops' } }, /alarms\.topicArn: "ops" must be an SNS topic ARN/],
    ['alarm threshold out of range', { ...base, alarms: { memoryPercent: 120 } }, /alarms\.memoryPercent: 120 must be a number from 1 to 100/],
    ['alarm field typo', { ...base, alarms: { evictons: 1 } }, /unknown field "alarms\.evictons": did you mean "alarms\.evictions"\?/],
    ['more app-envs than a stack holds', { apps: Array.from({ length: 31 }, (_, i) => `app${i}`) }, new RegExp(`apps: 62 app-envs \\(31 apps\\); one stack holds at most ${MAX_APP_ENVS}`)],
  ])('%s', (_name, raw, message) => {
    const problems = problemsOf(raw);
    expect(problems.join('\n')).toMatch(message);
  });

  it('reports every problem at once, in one error', () => {
    const error = (() => {
      try {
        parseConfig({ apps: ['Bad'], replicas: 9, port: -1, engin: 'redis' });
      } catch (e) {
        return e as KccStackConfigError;
      }
      throw new Error('expected an error');
    })();
    expect(error.code).toBe('KCC_STACK_CONFIG_INVALID');
    expect(error.problems).toHaveLength(4);
    expect(error.message).toMatch(/Invalid kcc config \(cdk\.json "context\.kcc"\): 4 problems:/);
  });
});

describe('config: the snapshot window is compared with the maintenance window the user set, not a default they never chose', () => {
  it.each([
    ['sunday 5am', /maintenanceWindow: "sunday 5am" must look like/],
    ['sun:05:00-sun:05:30', /maintenanceWindow: "sun:05:00-sun:05:30" must be at least 60 minutes long/],
    [42, /maintenanceWindow: 42 must be a string/],
  ])('an invalid maintenanceWindow (%s) is the one problem, though the snapshot window overlaps the default', (maintenanceWindow, message) => {
    const problems = problemsOf({ apps: ['my-app'], maintenanceWindow, snapshotWindow: '05:30-06:30' });
    expect(problems).toEqual([expect.stringMatching(message)]);
  });
});

describe('config: cluster mode without replicas is said at synth, not refused', () => {
  const notes = (built: ReturnType<typeof build>) => Annotations.fromStack(built.stack).findInfo('*', Match.stringLikeRegexp('with 0 replicas per shard'));

  it('2 shards, 0 replicas: synthesized under strict validation, one note naming the risk and that adding replicas later may not go through; 1 replica, or one shard with 0: none', () => {
    const built = build({ apps: ['my-app'], shards: 2, replicas: 0 });
    expect(() => built.app.synth()).not.toThrow();
    const found = notes(built);
    expect(found).toHaveLength(1);
    expect(JSON.stringify(found[0]!.entry.data)).toMatch(/2 shards with 0 replicas per shard: .*adding replicas later may not go through/);
    expect(notes(build({ apps: ['my-app'], shards: 2, replicas: 1 }))).toHaveLength(0);
    expect(notes(build({ apps: ['my-app'], replicas: 0 }))).toHaveLength(0);
  });
});

describe('config: more nodes than ElastiCache\'s default quota (90 per cluster) is said at synth, not refused', () => {
  // An info annotation: a warning one fails synth under this cdk.json (strictCfnValidateErrors with annotationsInValidationReport).
  const quotaWarnings = (built: ReturnType<typeof build>) =>
    Annotations.fromStack(built.stack).findInfo('*', Match.stringLikeRegexp('default quota of 90 nodes per cluster'));

  it('92 nodes (23 shards × 4): accepted, synthesized with this cdk.json\'s strict validation, and one note naming the count, the quota and what to do', () => {
    const built = build({ apps: ['my-app'], shards: 23, replicas: 3 });
    expect(() => built.app.synth()).not.toThrow();
    const warnings = quotaWarnings(built);
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/shards × \(1 \+ replicasPerShard\) = 23 × 4 = 92 nodes, above ElastiCache's default quota of 90 nodes per cluster: before deploying, have the account's quota raised \(Service Quotas, ElastiCache \\"Nodes per cluster\\", up to 500\), or the deploy fails with NodeQuotaForClusterExceeded/);
  });

  it('90 nodes (45 shards × 2): no note; 498 nodes (83 shards × 6, under the hard limit of 500): accepted', () => {
    expect(quotaWarnings(build({ apps: ['my-app'], shards: 45, replicas: 1 }))).toHaveLength(0);
    expect(parseConfig({ apps: ['my-app'], shards: 83, replicas: 5 })).toMatchObject({ shards: 83, replicas: 5 });
  });
});
