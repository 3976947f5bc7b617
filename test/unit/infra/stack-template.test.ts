import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ACL_DIRECTIVES, appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { build, synth } from '../../support/synth.js';

const defaultStack = synth({ apps: ['my-app', 'billing'] });
const { template } = defaultStack;
const resources = (type: string) => template.findResources(type);

function userByName(name: string) {
  const users = Object.values(resources('AWS::ElastiCache::User')).filter((u) => u.Properties.UserName === name);
  expect(users).toHaveLength(1);
  return users[0]!.Properties;
}

describe('stack: guide step 1, security group', () => {
  it('allows the cache port only from its own members, and nothing else', () => {
    const ingress = Object.values(resources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 6379, ToPort: 6379 });
    const sgs = resources('AWS::EC2::SecurityGroup');
    const [sgId, sg] = Object.entries(sgs).find(([, r]) => String(r.Properties.GroupDescription).startsWith('kcc-redis'))!;
    expect(ingress[0]!.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [sgId, 'GroupId'] });
    expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    expect(JSON.stringify(template.toJSON())).not.toMatch(/0\.0\.0\.0\/0|::\/0/);
  });

  it('has no open egress', () => {
    const egress = Object.values(resources('AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties);
    expect(egress.every((e) => e.FromPort === 6379 && e.ToPort === 6379 && e.DestinationSecurityGroupId)).toBe(true);
  });

  it('adds each allowFrom peer on the cache port only', () => {
    const { template: t } = synth({ apps: ['a'], allowFrom: ['sg-0123456789abcdef0', '10.1.0.0/16'], port: 6380 });
    t.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ SourceSecurityGroupId: 'sg-0123456789abcdef0', FromPort: 6380, ToPort: 6380, IpProtocol: 'tcp' }),
        Match.objectLike({ CidrIp: '10.1.0.0/16', FromPort: 6380, ToPort: 6380, IpProtocol: 'tcp' }),
      ],
    });
  });
});

describe('stack: guide step 2, the default user', () => {
  it('is user name "default", id from config, disabled ("off") by default', () => {
    expect(userByName('default')).toMatchObject({
      UserId: 'kcc-redis-admin',
      AccessString: 'off ~* &* +@all',
      Engine: 'valkey',
      AuthenticationMode: { Type: 'password' },
    });
  });

  it('is "on" only when defaultUserEnabled is true', () => {
    const { template: t } = synth({ apps: ['a'], defaultUserEnabled: true });
    t.hasResourceProperties('AWS::ElastiCache::User', { UserName: 'default', AccessString: 'on ~* &* +@all' });
  });
});

describe('stack: guide steps 3 and 6, app users and the user group', () => {
  it.each(['my-app-prod', 'my-app-dev', 'billing-prod', 'billing-dev'])('%s has the guide access string without clearselectors and resetkeys, under a per-stack id', (name) => {
    const [app, env] = [name.slice(0, name.lastIndexOf('-')), name.slice(name.lastIndexOf('-') + 1)];
    expect(userByName(name)).toMatchObject({ UserId: `kcc-redis-${name}`, Engine: 'valkey', AccessString: storedAccessString(appEnvAccessString({ app, env })) });
    expect(userByName(name).AccessString).toBe(
      `on ~${name}:* resetchannels &${name}:* -@all +@fast +@pubsub +@keyspace +@string +@read +@write +@scripting -@dangerous +client|setname +info`,
    );
  });

  it('every app user\'s string has resetchannels just before its channel pattern (ElastiCache defaults acl-pubsub-default to allchannels), and no clearselectors or resetkeys', () => {
    const appUsers = Object.values(resources('AWS::ElastiCache::User')).filter((user) => user.Properties.UserName !== 'default');
    expect(appUsers.length).toBeGreaterThan(0);
    for (const user of appUsers) {
      const rules = String(user.Properties.AccessString).split(' ');
      const channel = rules.findIndex((rule) => rule.startsWith('&'));
      expect(rules[channel - 1]).toBe('resetchannels');
      for (const directive of ACL_DIRECTIVES.filter((d) => d !== 'resetchannels')) expect(rules).not.toContain(directive);
    }
  });

  it('uses the hardened profile and the cluster grant when configured', () => {
    const { template: t } = synth({ apps: ['a'], aclProfile: 'hardened', shards: 2 });
    t.hasResourceProperties('AWS::ElastiCache::User', {
      UserName: 'a-prod',
      AccessString: storedAccessString(appEnvAccessString({ app: 'a', env: 'prod' }, { profile: 'hardened', clusterMode: true })),
    });
  });

  it('puts the default user and every app user in the one user group', () => {
    const groups = Object.values(resources('AWS::ElastiCache::UserGroup')).map((g) => g.Properties);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.UserGroupId).toBe('kcc-redis-users');
    expect(groups[0]!.Engine).toBe('valkey');
    const users = resources('AWS::ElastiCache::User');
    expect(Object.keys(users)).toHaveLength(5);
    // The literal user ids: Ref of a user returns its *name*, which for the default user is "default",
    // ElastiCache's own password-less default user.
    expect(groups[0]!.UserIds).toEqual(Object.values(users).map((u) => u.Properties.UserId));
    expect(groups[0]!.UserIds).not.toContain('default');
    expect(groups[0]!.UserIds).toContain('kcc-redis-admin');
    // Created after its users, as a Ref would have ordered it.
    const group = Object.values(template.findResources('AWS::ElastiCache::UserGroup'))[0] as { DependsOn?: string[] };
    expect(group.DependsOn).toEqual(expect.arrayContaining(Object.keys(users)));
  });
});

describe('stack: secrets and passwords', () => {
  it('generates a 64-character alphanumeric password per user, in the shared secret shape', () => {
    const secrets = Object.values(resources('AWS::SecretsManager::Secret'))
      .map((s) => s.Properties.GenerateSecretString)
      .filter((gen) => gen.GenerateStringKey === 'password');
    expect(secrets).toHaveLength(5);
    for (const gen of secrets) {
      expect(gen).toMatchObject({ GenerateStringKey: 'password', PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false });
      const template = JSON.stringify(gen.SecretStringTemplate);
      for (const field of ['username', 'keyPrefix', 'userArn', 'replicationGroupId']) expect(template).toContain(`\\"${field}\\"`);
    }
  });

  it('keeps the key-encryption-key secrets when deleted or replaced (the signing keys in Redis need them); user secrets go', () => {
    for (const secret of Object.values(resources('AWS::SecretsManager::Secret'))) {
      const kek = secret.Properties.GenerateSecretString.GenerateStringKey === 'kek';
      expect([secret.DeletionPolicy, secret.UpdateReplacePolicy]).toEqual(kek ? ['Retain', 'Retain'] : ['Delete', 'Delete']);
    }
  });

  it('generates one key-encryption key per app-env (64 characters), never referenced by the cache', () => {
    const keks = Object.entries(resources('AWS::SecretsManager::Secret')).filter(([, s]) => s.Properties.GenerateSecretString.GenerateStringKey === 'kek');
    expect(keks).toHaveLength(4);
    for (const [, kek] of keks) expect(kek.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 64, ExcludePunctuation: true, SecretStringTemplate: JSON.stringify({ v: 1, previous: [] }) });
    const cache = JSON.stringify(Object.values(resources('AWS::ElastiCache::User')).concat(Object.values(resources('AWS::ElastiCache::ReplicationGroup'))));
    for (const [logicalId] of keks) expect(cache).not.toContain(logicalId);
  });

  it('passes every password to CloudFormation as a dynamic reference, never in plaintext', () => {
    for (const user of Object.values(resources('AWS::ElastiCache::User'))) {
      const passwords = user.Properties.AuthenticationMode.Passwords as unknown[];
      expect(passwords).toHaveLength(1);
      const joined = JSON.stringify(passwords[0]);
      expect(joined).toMatch(/^\{"Fn::Join":\["",\["\{\{resolve:secretsmanager:",\{"Ref":"[A-Za-z0-9]+"\},":SecretString:password::\}\}"\]\]\}$/);
      expect(user.Properties.Passwords).toBeUndefined();
    }
  });

  it('grantRead gives one app-env read access to its own secret only, and returns the grant', async () => {
    const { Stack } = await import('aws-cdk-lib');
    const iam = await import('aws-cdk-lib/aws-iam');
    const { Template } = await import('aws-cdk-lib/assertions');
    const built = build({ apps: ['a', 'b'] });
    const role = new iam.Role(built.stack, 'AppRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const grant = built.stack.cache.grantRead(role, 'a', 'prod');
    expect(grant.success).toBe(true);
    expect(() => built.stack.cache.grantRead(role, 'c', 'prod')).toThrow(/No Redis user for app "c" env "prod"; known: a-prod, a-dev, b-prod, b-dev/);
    const policy = Object.values(Template.fromStack(built.stack).findResources('AWS::IAM::Policy')).find((p) =>
      JSON.stringify(p.Properties.Roles).includes('AppRole'),
    )!;
    const statements = policy.Properties.PolicyDocument.Statement as { Action: string[]; Resource: unknown }[];
    const resourcesGranted = statements.flatMap((st) => {
      expect(st.Action).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      return Array.isArray(st.Resource) ? st.Resource : [st.Resource];
    });
    expect(resourcesGranted).toEqual(expect.arrayContaining([
      { Ref: expect.stringMatching(/^CacheUseraprodSecret/) },
      { Ref: expect.stringMatching(/^CacheKekaprodSecret/) },
    ]));
    expect(resourcesGranted).toHaveLength(2);
    expect(Stack.of(role)).toBe(built.stack);
  });
});

describe('stack: guide step 4, the replication group', () => {
  it('requires TLS, encrypts at rest, uses the user group, the security group and the subnet group', () => {
    const groups = Object.entries(resources('AWS::ElastiCache::ReplicationGroup'));
    expect(groups).toHaveLength(1);
    const [logicalId, rg] = groups[0]!;
    expect(logicalId).toMatch(/^Cache[0-9A-F]{8}$/);
    expect(rg.Properties).toMatchObject({
      ReplicationGroupId: 'kcc-redis',
      Engine: 'valkey',
      EngineVersion: '8.1',
      CacheNodeType: 'cache.t4g.micro',
      Port: 6379,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AtRestEncryptionEnabled: true,
      ClusterMode: 'disabled',
      NumCacheClusters: 2,
      AutomaticFailoverEnabled: true,
      MultiAZEnabled: true,
      SnapshotRetentionLimit: 1,
      PreferredMaintenanceWindow: 'sun:05:00-sun:06:00',
    });
    expect(rg.Properties.UserGroupIds).toEqual([{ Ref: Object.keys(resources('AWS::ElastiCache::UserGroup'))[0] }]);
    expect(rg.Properties.SecurityGroupIds).toHaveLength(1);
    expect(rg.Properties.CacheSubnetGroupName).toEqual({ Ref: Object.keys(resources('AWS::ElastiCache::SubnetGroup'))[0] });
    expect(rg.Properties.AuthToken).toBeUndefined();
  });

  it('with cluster mode off sizes the group by NumCacheClusters (changes in place), never the create-only ReplicasPerNodeGroup', () => {
    for (const replicas of [0, 1, 5]) {
      const rg = Object.values(synth({ apps: ['a'], replicas }).template.findResources('AWS::ElastiCache::ReplicationGroup'))[0]!;
      expect(rg.Properties.NumCacheClusters).toBe(replicas + 1);
      expect(rg.Properties.ReplicasPerNodeGroup).toBeUndefined();
      expect(rg.Properties.NumNodeGroups).toBeUndefined();
    }
  });

  it('takes a final snapshot when deleted or replaced, unless configured otherwise', () => {
    const [rg] = Object.values(resources('AWS::ElastiCache::ReplicationGroup'));
    expect([rg!.DeletionPolicy, rg!.UpdateReplacePolicy]).toEqual(['Snapshot', 'Snapshot']);
    for (const [policy, cfn] of [['retain', 'Retain'], ['destroy', 'Delete']] as const) {
      const [other] = Object.values(synth({ apps: ['a'], removalPolicy: policy }).template.findResources('AWS::ElastiCache::ReplicationGroup'));
      expect([other!.DeletionPolicy, other!.UpdateReplacePolicy]).toEqual([cfn, cfn]);
    }
  });

  it('delivers slow log and engine log to CloudWatch Logs with retention', () => {
    const rg = Object.values(resources('AWS::ElastiCache::ReplicationGroup'))[0]!;
    const delivery = rg.Properties.LogDeliveryConfigurations as { LogType: string; DestinationDetails: { CloudWatchLogsDetails: { LogGroup: { Ref: string } } } }[];
    expect(delivery.map((d) => d.LogType).sort()).toEqual(['engine-log', 'slow-log']);
    const logGroups = resources('AWS::Logs::LogGroup');
    for (const d of delivery) expect(logGroups[d.DestinationDetails.CloudWatchLogsDetails.LogGroup.Ref]?.Properties.RetentionInDays).toBe(30);
  });

  it('with no replicas has no Multi-AZ or failover; with shards enables cluster mode', () => {
    synth({ apps: ['a'], replicas: 0 }).template.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      NumCacheClusters: 1, MultiAZEnabled: false, AutomaticFailoverEnabled: false, ClusterMode: 'disabled',
    });
    const cluster = synth({ apps: ['a'], shards: 3, engine: 'redis' }).template;
    cluster.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', {
      NumNodeGroups: 3, ReplicasPerNodeGroup: 1, ClusterMode: 'enabled', CacheParameterGroupName: 'default.redis7.cluster.on', AutomaticFailoverEnabled: true,
    });
    // A shard count change reshards online instead of replacing the (custom-named, so irreplaceable) group.
    cluster.hasResource('AWS::ElastiCache::ReplicationGroup', { UpdatePolicy: { UseOnlineResharding: true } });
  });

  it('uses a customer KMS key for the cache and the secrets when given, and grantRead includes decrypting through Secrets Manager', async () => {
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const { Template } = await import('aws-cdk-lib/assertions');
    const iam = await import('aws-cdk-lib/aws-iam');
    const built = build({ apps: ['a'], kmsKeyArn: arn });
    const role = new iam.Role(built.stack, 'AppRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    built.stack.cache.grantRead(role, 'a', 'prod');
    const t = Template.fromStack(built.stack);
    t.hasResourceProperties('AWS::ElastiCache::ReplicationGroup', { KmsKeyId: arn });
    t.allResourcesProperties('AWS::SecretsManager::Secret', { KmsKeyId: arn });
    const policy = Object.values(t.findResources('AWS::IAM::Policy')).find((p) => JSON.stringify(p.Properties.Roles).includes('AppRole'))!;
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual({
      Action: 'kms:Decrypt',
      Effect: 'Allow',
      Resource: arn,
      Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } },
    });
  });
});

describe('stack: network and outputs', () => {
  it('creates a VPC with isolated subnets only and no NAT or internet gateway by default', () => {
    expect(Object.keys(resources('AWS::EC2::NatGateway'))).toHaveLength(0);
    expect(Object.keys(resources('AWS::EC2::InternetGateway'))).toHaveLength(0);
    expect(Object.keys(resources('AWS::EC2::Subnet'))).toHaveLength(2);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });

  it('outputs endpoints, ids and the network under stable export names, and one JSON output per app-env', () => {
    const outputs = template.findOutputs('*');
    const exported = Object.fromEntries(Object.entries(outputs).filter(([, v]) => v.Export).map(([k, v]) => [k, v.Export.Name]));
    expect(exported).toEqual(Object.fromEntries(
      ['PrimaryEndpointAddress', 'PrimaryEndpointPort', 'ReaderEndpointAddress', 'ReaderEndpointPort', 'SecurityGroupId', 'UserGroupId', 'ReplicationGroupId', 'VpcId', 'SubnetIds']
        .map((id) => [id, `KccRedis-kcc-redis-${id}`]),
    ));
    const perAppEnv = Object.keys(outputs).filter((k) => !outputs[k]!.Export);
    expect(perAppEnv.sort()).toEqual(['AppEnvBillingDev', 'AppEnvBillingProd', 'AppEnvMyAppDev', 'AppEnvMyAppProd']);
    const value = JSON.stringify(outputs.AppEnvMyAppProd!.Value);
    for (const fragment of [
      '{\\"v\\":2,', '\\"keyPrefix\\":\\"my-app-prod:\\"', '\\"kekSecretArn\\":', '\\"kind\\":\\"replication-group\\",\\"clusterMode\\":false,\\"region\\":',
      '\\"password\\":{\\"username\\":\\"my-app-prod\\",\\"secretArn\\":',
    ]) {
      expect(value).toContain(fragment);
    }
    expect(value).not.toContain('\\"iam\\"');
    expect(value).toMatch(/"Ref":"CacheUsermyappprodSecret[0-9A-F]{8}"/);
    expect(value).toMatch(/"Ref":"CacheKekmyappprodSecret[0-9A-F]{8}"/);
    expect(value).toMatch(/\\"cache\\":\{\\"name\\":\\"",\{"Ref":"Cache[0-9A-F]{8}"\}/);
  });

  it('names the VPC and its subnets', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.VpcId!.Value).toEqual({ Ref: expect.stringMatching(/^NetworkVpc/) });
    expect(outputs.SubnetIds!.Value).toEqual({ 'Fn::Join': [',', [{ Ref: expect.stringMatching(/Subnet/) }, { Ref: expect.stringMatching(/Subnet/) }]] });
  });

  it('outputs the configuration endpoint in cluster mode', () => {
    const outputs = synth({ apps: ['a'], shards: 2 }).template.findOutputs('*');
    expect(outputs.ConfigurationEndpointAddress!.Value).toEqual({ 'Fn::GetAtt': [expect.any(String), 'ConfigurationEndPoint.Address'] });
    expect(outputs.PrimaryEndpointAddress).toBeUndefined();
  });
});
