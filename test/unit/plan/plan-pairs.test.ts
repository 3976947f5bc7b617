import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import { describe, expect, it } from 'vitest';
import {
  type CfnResource,
  type CfnTemplate,
  type ResourceChange,
  UpdateSpec,
  loadUpdateSpec,
  planUpdate,
  renderPlanTable,
} from '../../../infra/plan/index.js';

/** Small hand-written template pairs, one edge path each. */
const spec = loadUpdateSpec();

function template(resources: Record<string, CfnResource>, outputs?: Record<string, unknown>): CfnTemplate {
  return outputs ? { Resources: resources, Outputs: outputs } : { Resources: resources };
}

function plan(before: Record<string, CfnResource>, after: Record<string, CfnResource>) {
  return planUpdate(template(before), template(after), spec);
}

function change(p: ReturnType<typeof plan>, id: string): ResourceChange {
  const found = p.changes.find((c) => c.logicalId === id);
  if (!found) throw new Error(`no change for ${id} in ${JSON.stringify(p.changes.map((c) => c.logicalId))}`);
  return found;
}

const RG = 'AWS::ElastiCache::ReplicationGroup';
const rg = (props: Record<string, unknown>, extra: Partial<CfnResource> = {}): CfnResource => ({
  Type: RG,
  Properties: { Engine: 'valkey', EngineVersion: '8.1', CacheNodeType: 'cache.t4g.micro', Port: 6379, ClusterMode: 'disabled', ...props },
  ...extra,
});
const secret = (key: string, template = '{}', extra: Partial<CfnResource> = {}): CfnResource => ({
  Type: 'AWS::SecretsManager::Secret',
  Properties: { GenerateSecretString: { GenerateStringKey: key, SecretStringTemplate: template, PasswordLength: 64 } },
  ...extra,
});

describe('plan: what the service spec says about a property', () => {
  it.each([
    ['in place (CacheNodeType)', { CacheNodeType: 'cache.t4g.small' }, 'in-place', 'CacheNodeType', /updates in place/],
    ['create-only (Port)', { Port: 6380 }, 'replaced', 'Port', /create-only \(Port\)/],
    ['create-only (KmsKeyId)', { KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/k' }, 'replaced', 'KmsKeyId', /create-only/],
    // The spec still marks it create-only; AWS's schemas of 2026-05-18 on update it in place in all but two regions (a correction).
    ['in place (ReplicasPerNodeGroup, corrected)', { ReplicasPerNodeGroup: 2 }, 'in-place', 'ReplicasPerNodeGroup', /not marked it create-only since 2026-05-18 .*me-central-1 and me-south-1/],
    ['in place (NumCacheClusters)', { NumCacheClusters: 3 }, 'in-place', 'NumCacheClusters', /updates in place/],
  ])('%s', (_name, props, action, property, reason) => {
    const p = plan({ Cache: rg({}) }, { Cache: rg(props) });
    const c = change(p, 'Cache');
    expect(c.action).toBe(action);
    expect(c.causes).toEqual([expect.objectContaining({ property, reason: expect.stringMatching(reason) })]);
    expect(p.findings).toBe(action === 'in-place' ? 0 : 1);
  });

  it('a create-only property nested in an in-place one replaces (NodeGroupConfiguration[0].ReplicaCount)', () => {
    const ngc = (count: number) => ({ NodeGroupConfiguration: [{ NodeGroupId: '0001', ReplicaCount: count }] });
    const c = change(plan({ Cache: rg(ngc(1)) }, { Cache: rg(ngc(2)) }), 'Cache');
    expect(c.causes[0]).toMatchObject({ property: 'NodeGroupConfiguration[0].ReplicaCount', effect: 'replace' });
  });

  it('resolves NumNodeGroups "maybe" by UpdatePolicy UseOnlineResharding, as the template reference says', () => {
    const online = { UpdatePolicy: { UseOnlineResharding: true } };
    expect(change(plan({ Cache: rg({ NumNodeGroups: 2 }, online) }, { Cache: rg({ NumNodeGroups: 3 }, online) }), 'Cache').action).toBe('in-place');
    const offline = change(plan({ Cache: rg({ NumNodeGroups: 2 }) }, { Cache: rg({ NumNodeGroups: 3 }) }), 'Cache');
    expect(offline.action).toBe('replaced');
    expect(offline.causes[0]!.reason).toMatch(/UseOnlineResharding/);
  });

  it('a type change under the same logical id is blocked; an unknown type may replace; a custom resource updates in place', () => {
    const p = plan(
      { A: { Type: 'AWS::SQS::Queue' }, B: { Type: 'AWS::Nope::Thing', Properties: { X: 1 } }, C: { Type: 'Custom::Thing', Properties: { X: 1 } } },
      { A: { Type: 'AWS::SNS::Topic' }, B: { Type: 'AWS::Nope::Thing', Properties: { X: 2 } }, C: { Type: 'Custom::Thing', Properties: { X: 2 } } },
    );
    // CloudFormation refuses the change set ("Update of resource type is not permitted").
    expect(change(p, 'A')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/Update of resource type is not permitted/) });
    expect(change(p, 'A').data).toBeUndefined();
    expect(change(p, 'B')).toMatchObject({ action: 'may-replace', causes: [expect.objectContaining({ reason: expect.stringMatching(/not in the service spec/) })] });
    expect(change(p, 'C').action).toBe('in-place');
  });
});

describe('plan: blocked', () => {
  it('a replacement that keeps a custom physical name (ReplicationGroupId) is blocked', () => {
    const p = plan({ Cache: rg({ ReplicationGroupId: 'kcc-redis' }) }, { Cache: rg({ ReplicationGroupId: 'kcc-redis', Port: 6380 }) });
    const c = change(p, 'Cache');
    expect(c.action).toBe('blocked');
    expect(c.blockedBecause).toMatch(/ReplicationGroupId "kcc-redis" is a custom name/);
    expect(c.data).toBeUndefined(); // nothing happens: the update fails and rolls back
    expect(p.findings).toBe(1);
  });

  it('renaming the resource in the same change lets the replacement happen (and loses the cache data)', () => {
    const c = change(plan({ Cache: rg({ ReplicationGroupId: 'kcc-redis' }) }, { Cache: rg({ ReplicationGroupId: 'kcc-redis-2', Port: 6380 }) }), 'Cache');
    expect(c.action).toBe('replaced');
    expect(c.data).toMatchObject({ fate: 'lost', what: expect.stringMatching(/signing-key rings.*automatic snapshots are deleted/) });
  });

  it.each([
    ['an engine downgrade', { EngineVersion: '8.1' }, { EngineVersion: '7.2' }, /downgrade/],
    ['turning cluster mode off', { ClusterMode: 'enabled' }, { ClusterMode: 'disabled' }, /cannot be turned off/],
    ['enabling cluster mode in one step', { ClusterMode: 'disabled' }, { ClusterMode: 'enabled' }, /compatible/],
    // A review: once ReplicasPerNodeGroup updated in place, crossing zero with Multi-AZ looked safe.
    ['cluster mode: the first replicas per shard with Multi-AZ in one update', { ClusterMode: 'enabled', NumNodeGroups: 2, ReplicasPerNodeGroup: 0, MultiAZEnabled: false }, { ClusterMode: 'enabled', NumNodeGroups: 2, ReplicasPerNodeGroup: 1, MultiAZEnabled: true }, /ReplicasPerNodeGroup 0 → 1 with MultiAZEnabled false → true/],
    ['cluster mode: the last replicas per shard with Multi-AZ off in one update', { ClusterMode: 'enabled', NumNodeGroups: 2, ReplicasPerNodeGroup: 1, MultiAZEnabled: true }, { ClusterMode: 'enabled', NumNodeGroups: 2, ReplicasPerNodeGroup: 0, MultiAZEnabled: false }, /keeps the last replica while Multi-AZ is on/],
  ])('a change ElastiCache refuses is blocked: %s', (_name, before, after, reason) => {
    const c = change(plan({ Cache: rg(before) }, { Cache: rg(after) }), 'Cache');
    expect(c).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(reason) });
  });

  it('cluster mode: replicas per shard 1 → 2 update in place', () => {
    const shards = { ClusterMode: 'enabled', NumNodeGroups: 2, MultiAZEnabled: true };
    expect(change(plan({ Cache: rg({ ...shards, ReplicasPerNodeGroup: 1 }) }, { Cache: rg({ ...shards, ReplicasPerNodeGroup: 2 }) }), 'Cache').action).toBe('in-place');
  });

  it('an engine upgrade and a move to "compatible" are not refused', () => {
    expect(change(plan({ Cache: rg({ EngineVersion: '7.2' }) }, { Cache: rg({ EngineVersion: '8.1' }) }), 'Cache').action).toBe('in-place');
    expect(change(plan({ Cache: rg({}) }, { Cache: rg({ ClusterMode: 'compatible' }) }), 'Cache').action).toBe('in-place');
  });

  it('a new logical id that takes a custom name still held by a removed resource is blocked', () => {
    const user = (id: string): CfnResource => ({ Type: 'AWS::ElastiCache::User', Properties: { UserId: id, UserName: id, Engine: 'valkey', AccessString: 'on' } });
    const p = plan({ OldUser: user('a-prod') }, { NewUser: user('a-prod') });
    expect(change(p, 'NewUser')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/still belongs to OldUser/) });
    expect(change(p, 'OldUser').action).toBe('removed');
    const renamed = plan({ OldUser: user('a-prod') }, { NewUser: user('a-prod-2') });
    expect(change(renamed, 'NewUser').action).toBe('added');
  });
});

describe('plan: an engine change (Engine is no longer create-only; what ElastiCache refuses is)', () => {
  const user = (id: string, engine: string): CfnResource => ({ Type: 'AWS::ElastiCache::User', Properties: { UserId: id, UserName: id, Engine: engine, AccessString: 'on' } });
  const group = (engine: string, extra: Partial<CfnResource> = {}): CfnResource => ({
    Type: 'AWS::ElastiCache::UserGroup',
    Properties: { UserGroupId: 'g', Engine: engine, UserIds: ['u-1', 'u-2'] },
    ...extra,
  });
  /** The stack's shape: two users, the group listing them (and depending on them), the cache using the group. */
  const stack = (engine: string, cache: Record<string, unknown> = {}) => ({
    U1: user('u-1', engine),
    U2: user('u-2', engine),
    Group: group(engine, { DependsOn: ['U1', 'U2'] }),
    Cache: rg({ ReplicationGroupId: 'kcc', Engine: engine, EngineVersion: engine === 'redis' ? '7.1' : '8.1', UserGroupIds: [{ Ref: 'Group' }], ...cache }),
  });
  const ENGINE_CREATE_ONLY = /create-only \(Engine\)/;

  it.each([
    ['AWS::ElastiCache::ReplicationGroup', '2024-10-10'],
    ['AWS::ElastiCache::User', '2024-11-18'],
    ['AWS::ElastiCache::UserGroup', '2025-01-16'],
  ])('%s: Engine updates in place, as AWS\'s schema says since %s (the bundled spec still says create-only)', (type, since) => {
    expect(spec.behaviourAt(type, ['Engine'])).toMatchObject({ replacement: 'no', corrected: expect.stringContaining(since) });
    expect(spec.nameProperties(type)).not.toContain('Engine');
    // Without the correction the installed spec says create-only: when it stops, drop the entry in SPEC_CORRECTIONS.
    expect(new UpdateSpec(loadAwsServiceSpecSync() as unknown as ConstructorParameters<typeof UpdateSpec>[0], {}).behaviourAt(type, ['Engine'])?.replacement).toBe('yes');
  });

  it('a user or user group alone changes engine in place, with the schema as the reason', () => {
    const p = plan({ U: user('u-1', 'valkey'), G: group('valkey') }, { U: user('u-1', 'redis'), G: group('redis') });
    for (const id of ['U', 'G']) {
      expect(change(p, id)).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ property: 'Engine', reason: expect.stringMatching(/updates in place \(AWS's resource schema has not marked it create-only since/) })] });
    }
    expect(p.findings).toBe(0);
  });

  it('redis → valkey: the users meet their Redis OSS group, the group its Redis OSS cache, the cache has no parameter group: each blocked for that', () => {
    const p = plan(stack('redis'), stack('valkey'));
    for (const id of ['U1', 'U2']) {
      expect(change(p, id)).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine redis → valkey: ElastiCache keeps Valkey users in Valkey user groups only, and user group "g" is still engine redis when CloudFormation updates the user \(first, as the group depends on it\); this stack cannot change its engine in place: deploy a second stack/) });
    }
    expect(change(p, 'Group')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine redis → valkey: ElastiCache attaches Valkey user groups to Valkey caches only, and replication group "kcc" is still engine redis when CloudFormation updates the group \(first, as the cache depends on it\)/) });
    expect(change(p, 'Cache')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine redis → valkey: CloudFormation's reference says this in-place migration "requires a parameter group", and the template sets no CacheParameterGroupName/) });
    const table = renderPlanTable(p, { color: false });
    expect(table).not.toMatch(ENGINE_CREATE_ONLY);
    expect(table).not.toMatch(/is a custom name/);
    // Refused in place, not replaced: the cache's reference to the group keeps its value.
    expect(change(p, 'Cache').causes.map((c) => c.property)).toEqual(['Engine', 'EngineVersion']);
  });

  it('redis → valkey with a parameter group and no users: the cache alone changes in place', () => {
    const cache = (engine: string, group: string) => rg({ Engine: engine, EngineVersion: engine === 'redis' ? '7.1' : '8.1', CacheParameterGroupName: group });
    const c = change(plan({ Cache: cache('redis', 'default.redis7.cluster.on') }, { Cache: cache('valkey', 'default.valkey8.cluster.on') }), 'Cache');
    expect(c.action).toBe('in-place');
  });

  it('valkey → redis: users and group may follow, the cache may not (no way back from Valkey)', () => {
    const p = plan(stack('valkey'), stack('redis'));
    for (const id of ['U1', 'U2', 'Group']) expect(change(p, id).action).toBe('in-place');
    expect(change(p, 'Cache')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine valkey → redis: ElastiCache upgrades Redis OSS to Valkey in place, not back; this stack cannot change its engine in place/) });
    expect(renderPlanTable(p, { color: false })).not.toMatch(ENGINE_CREATE_ONLY);
  });

  it('a serverless cache refused in place keeps its physical id: what refers to it does not change', () => {
    const cache = (engine: string): CfnResource => ({ Type: 'AWS::ElastiCache::ServerlessCache', Properties: { ServerlessCacheName: 'kcc', Engine: engine } });
    const alarm: CfnResource = { Type: 'AWS::CloudWatch::Alarm', Properties: { Dimensions: [{ Name: 'clusterId', Value: { Ref: 'Cache' } }] } };
    const p = plan({ Cache: cache('valkey'), Alarm: alarm }, { Cache: cache('redis'), Alarm: alarm });
    expect(change(p, 'Cache')).toMatchObject({ action: 'blocked', blockedBecause: expect.stringMatching(/^Engine valkey → redis/) });
    expect(p.changes.map((c) => c.logicalId)).toEqual(['Cache']);
  });

  it('a replaced security group says its members lose the access it gave (not a loss of data)', () => {
    const sg = (description: string): CfnResource => ({ Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: description, VpcId: 'vpc-1' } });
    const p = plan({ S: sg('redis on tcp/6379') }, { S: sg('valkey on tcp/6379') });
    expect(change(p, 'S')).toMatchObject({ action: 'replaced', data: { fate: 'disconnected', what: expect.stringMatching(/^members of the old group .*SecurityGroupId output.* are not members of the new one/) } });
    expect(p.findings).toBe(1); // the replacement, not a data loss
  });
});

describe('plan: references and tokens', () => {
  const subnetGroup = (name: string): CfnResource => ({ Type: 'AWS::ElastiCache::SubnetGroup', Properties: { CacheSubnetGroupName: name, Description: 'd', SubnetIds: ['s-1'] } });

  it('a replaced resource changes every value that refers to it, until nothing new is replaced', () => {
    const cache = rg({ ReplicationGroupId: 'kcc', CacheSubnetGroupName: { Ref: 'Subnets' } });
    const p = plan({ Subnets: subnetGroup('a'), Cache: cache }, { Subnets: subnetGroup('b'), Cache: cache });
    expect(change(p, 'Subnets').action).toBe('replaced');
    const c = change(p, 'Cache');
    expect(c.action).toBe('blocked');
    expect(c.causes[0]).toMatchObject({ property: 'CacheSubnetGroupName', reason: expect.stringMatching(/Subnets gets a new physical id/) });
  });

  it('a subnet group takes new subnets in place; dropping one gets a note (ElastiCache refuses it while a node is in it)', () => {
    const group = (...subnets: string[]): CfnResource => ({ Type: 'AWS::ElastiCache::SubnetGroup', Properties: { Description: 'd', SubnetIds: subnets } });
    const added = change(plan({ G: group('s-1', 's-2') }, { G: group('s-1', 's-2', 's-3') }), 'G');
    expect(added).toMatchObject({ action: 'in-place', notes: [] });
    const moved = change(plan({ G: group('s-1', 's-2') }, { G: group('s-1', 's-3') }), 'G');
    expect(moved).toMatchObject({ action: 'in-place', notes: [expect.stringMatching(/^SubnetIds drops s-2: ElastiCache refuses to remove a subnet a cache node is in, and the plan cannot see where the nodes are/)] });
  });

  it('an identity attribute of a resource updated in place is stable; another attribute may change', () => {
    const group = (desc: string): CfnResource => ({ Type: 'AWS::ElastiCache::SubnetGroup', Properties: { Description: desc, SubnetIds: ['s-1'] } });
    const ingress = (attribute: string): CfnResource => ({
      Type: 'AWS::EC2::SecurityGroupIngress',
      Properties: { IpProtocol: 'tcp', FromPort: 1, ToPort: 1, GroupId: 'sg-1', Description: { 'Fn::GetAtt': ['G', attribute] } },
    });
    const byArn = plan({ G: group('a'), I: ingress('Arn') }, { G: group('b'), I: ingress('Arn') });
    expect(byArn.changes.map((c) => c.logicalId)).toEqual(['G']);
    const byOther = plan({ G: group('a'), I: ingress('Status') }, { G: group('b'), I: ingress('Status') });
    expect(change(byOther, 'I').causes[0]!.reason).toMatch(/may change \(G\.Status may change: G is updated\)/);
  });

  it('the same string built by Fn::Join, Fn::Sub or written out is no change', () => {
    const role = (value: unknown): CfnResource => ({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30, LogGroupClass: value } });
    const p = plan(
      { A: role('x-STANDARD'), B: role({ 'Fn::Join': ['-', ['x', 'STANDARD']] }), C: role({ 'Fn::Sub': ['x-${Class}', { Class: 'STANDARD' }] }) },
      { A: role({ 'Fn::Sub': 'x-STANDARD' }), B: role('x-STANDARD'), C: role({ 'Fn::Join': ['', ['x-', 'STANDARD']] }) },
    );
    expect(p.changes).toEqual([]);
  });

  it('a changed token that cannot be evaluated is "may change" with the reason; on a create-only property, "may replace"', () => {
    const sg = (index: number): CfnResource => ({ Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: { 'Fn::Select': [index, { 'Fn::GetAZs': '' }] } } });
    const c = change(plan({ S: sg(0) }, { S: sg(1) }), 'S');
    expect(c).toMatchObject({ action: 'may-replace', causes: [expect.objectContaining({ effect: 'may-replace', reason: expect.stringMatching(/computed by Fn::Select at deploy time/) })] });
  });

  it('a changed dynamic reference may change the value and updates in place', () => {
    const user = (field: string): CfnResource => ({
      Type: 'AWS::ElastiCache::User',
      Properties: { UserId: 'u', UserName: 'u', Engine: 'valkey', AuthenticationMode: { Type: 'password', Passwords: [`{{resolve:secretsmanager:s:SecretString:${field}::}}`] } },
    });
    const c = change(plan({ U: user('password') }, { U: user('pw') }), 'U');
    expect(c.action).toBe('in-place');
    expect(c.causes[0]!.reason).toMatch(/dynamic reference \{\{resolve:secretsmanager/);
  });

  it('a Lambda asset hash is "code changes in place", not a finding', () => {
    const fn = (hash: string): CfnResource => ({ Type: 'AWS::Lambda::Function', Properties: { Role: 'r', Code: { S3Bucket: 'b', S3Key: `${hash}.zip` } } });
    const p = plan({ F: fn('a'.repeat(64)) }, { F: fn('b'.repeat(64)) });
    expect(change(p, 'F')).toMatchObject({ action: 'in-place', causes: [expect.objectContaining({ reason: expect.stringMatching(/^code changes in place/) })] });
    expect(p.findings).toBe(0);
  });

  // A review of stack updates: the permission's identifier is [FunctionName, Id], Id generated, so a replaced
  // permission is a new statement on the same function; it was reported "blocked" as a custom name.
  it("a serverless cache's SubnetIds in another order is no change (insertionOrder false); another subnet is blocked (create-only, custom name)", () => {
    const cache = (subnets: string[]): CfnResource => ({ Type: 'AWS::ElastiCache::ServerlessCache', Properties: { ServerlessCacheName: 'kcc', Engine: 'valkey', SubnetIds: subnets } });
    expect(plan({ C: cache(['subnet-a', 'subnet-b']) }, { C: cache(['subnet-b', 'subnet-a']) }).changes).toEqual([]);
    expect(change(plan({ C: cache(['subnet-a', 'subnet-b']) }, { C: cache(['subnet-a', 'subnet-c']) }), 'C').action).toBe('blocked');
  });

  it('a Lambda permission replaced (a create-only SourceAccount changed) is replaced, not blocked', () => {
    const permission = (account: string): CfnResource => ({ Type: 'AWS::Lambda::Permission', Properties: { FunctionName: 'rotation-fn', Action: 'lambda:InvokeFunction', Principal: 'secretsmanager.amazonaws.com', SourceAccount: account } });
    const c = change(plan({ P: permission('111111111111') }, { P: permission('222222222222') }), 'P');
    expect(c.action).toBe('replaced');
    expect(c.blockedBecause).toBeUndefined();
  });
});

describe('plan: added, removed and what data goes', () => {
  it('removing a key-encryption-key secret loses the signing-key ring; Retain keeps the secret, still a finding', () => {
    const lost = plan({ Kek: secret('kek'), Q: { Type: 'AWS::SQS::Queue' } }, { Q: { Type: 'AWS::SQS::Queue' } });
    expect(change(lost, 'Kek')).toMatchObject({ action: 'removed', data: { fate: 'lost', what: expect.stringMatching(/key-encryption key: the signing-key ring stored in Redis becomes unreadable/) } });
    expect(lost.findings).toBe(1);
    const kept = plan({ Kek: secret('kek', '{}', { DeletionPolicy: 'Retain' }), Q: { Type: 'AWS::SQS::Queue' } }, { Q: { Type: 'AWS::SQS::Queue' } });
    expect(change(kept, 'Kek').data).toMatchObject({ fate: 'retained' });
    // A review of stack updates: a key-encryption-key secret under a new logical id (a refactor) showed the old
    // one "removed (retained)" and a new one added, findings 0, exit 0, where the ring became unreadable.
    expect(kept.findings).toBe(1);
    const renamed = plan({ Kek: secret('kek', '{}', { DeletionPolicy: 'Retain' }) }, { KekRenamed: secret('kek', '{}', { DeletionPolicy: 'Retain' }) });
    expect(renamed.findings).toBe(1);
  });

  it('removing a cache kept as a final snapshot is a finding: the apps lose what it held (a construct moved to a new generated name)', () => {
    const p = plan({ Cache: rg({}, { DeletionPolicy: 'Snapshot' }), Q: { Type: 'AWS::SQS::Queue' } }, { Q: { Type: 'AWS::SQS::Queue' } });
    expect(change(p, 'Cache')).toMatchObject({ action: 'removed', data: { fate: 'snapshot' } });
    expect(p.findings).toBe(1);
    expect(renderPlanTable(p, { color: false }).split('\n').at(-1)).toMatch(/^Not safe to deploy as is: 1 removed with what they hold, kept aside where the apps no longer find it \(/);
  });

  it('a replaced replication group with UpdateReplacePolicy Snapshot (deployed and new) keeps a final snapshot', () => {
    const c = change(plan({ Cache: rg({}, { UpdateReplacePolicy: 'Snapshot' }) }, { Cache: rg({ Port: 6380 }, { UpdateReplacePolicy: 'Snapshot' }) }), 'Cache');
    expect(c).toMatchObject({ action: 'replaced', data: { fate: 'snapshot', what: expect.stringMatching(/final snapshot is kept; the replacement starts empty/) } });
  });

  it('changing a secret\'s GenerateSecretString regenerates its value in place: a finding', () => {
    const p = plan({ Kek: secret('kek', '{"v":1}') }, { Kek: secret('kek', '{"v":2}') });
    expect(change(p, 'Kek')).toMatchObject({ action: 'in-place', data: { fate: 'regenerated', what: expect.stringMatching(/signing-key ring/) } });
    expect(p.findings).toBe(1);
  });

  it('removing a user closes its connections; removing a stateless resource is no finding', () => {
    const user: CfnResource = { Type: 'AWS::ElastiCache::User', Properties: { UserId: 'u', UserName: 'u', Engine: 'valkey' } };
    const p = plan({ U: user, Q: { Type: 'AWS::SQS::Queue' }, P: { Type: 'AWS::IAM::Policy', Properties: {} } }, { Q: { Type: 'AWS::SQS::Queue' } });
    expect(change(p, 'U').data).toMatchObject({ fate: 'disconnected' });
    expect(change(p, 'P').data).toBeUndefined();
    expect(p.findings).toBe(0);
  });

  it('an added resource is "added" and no finding', () => {
    const p = plan({ Q: { Type: 'AWS::SQS::Queue' } }, { Q: { Type: 'AWS::SQS::Queue' }, T: { Type: 'AWS::SNS::Topic' } });
    expect(p.changes).toEqual([expect.objectContaining({ logicalId: 'T', action: 'added' })]);
    expect(p.findings).toBe(0);
  });

  it('policy-only changes are notes on an in-place row', () => {
    const c = change(plan({ Kek: secret('kek') }, { Kek: secret('kek', '{}', { DeletionPolicy: 'Retain' }) }), 'Kek');
    expect(c).toMatchObject({ action: 'in-place', causes: [], notes: ['DeletionPolicy: (none) → "Retain"'] });
  });

  it('an exported output that changes or goes away says CloudFormation refuses it while imported', () => {
    const q = { Q: { Type: 'AWS::SQS::Queue' } };
    const p = planUpdate(
      template(q, { A: { Value: 'x', Export: { Name: 'e-A' } }, B: { Value: 'y', Export: { Name: 'e-B' } } }),
      template(q, { A: { Value: 'z', Export: { Name: 'e-A' } } }),
      spec,
    );
    expect(p.outputs).toEqual([
      expect.objectContaining({ name: 'A', action: 'changed', note: expect.stringMatching(/"x" → "z".*refuses/) }),
      expect.objectContaining({ name: 'B', action: 'removed', exportName: 'e-B' }),
    ]);
  });
});

describe('plan: secrets in a template never reach the output', () => {
  it('hides the values of secret-looking properties in the table and the JSON', () => {
    const literal = (value: string): CfnResource => ({ Type: 'AWS::SecretsManager::Secret', Properties: { SecretString: value } });
    const user = (pw: string): CfnResource => ({ Type: 'AWS::ElastiCache::User', Properties: { UserId: 'u', UserName: 'u', Engine: 'valkey', AuthenticationMode: { Type: 'password', Passwords: [pw] } } });
    const p = plan({ S: literal('old-Secret-Value-1'), U: user('old-Password-2') }, { S: literal('new-Secret-Value-3'), U: user('new-Password-4') });
    const printed = `${renderPlanTable(p, { color: false })}\n${JSON.stringify(p)}`;
    expect(change(p, 'S').causes[0]!.reason).toMatch(/\(value hidden\) → \(value hidden\)/);
    for (const value of ['old-Secret-Value-1', 'new-Secret-Value-3', 'old-Password-2', 'new-Password-4']) expect(printed).not.toContain(value);
  });
});

describe('plan: table', () => {
  it('lists the most urgent rows first, with causes, blocked reason and data on the lines below', () => {
    const p = plan(
      { Cache: rg({ ReplicationGroupId: 'kcc' }), Kek: secret('kek'), Q: { Type: 'AWS::SQS::Queue', Properties: { DelaySeconds: 1 } } },
      { Cache: rg({ ReplicationGroupId: 'kcc', Port: 6380 }), Q: { Type: 'AWS::SQS::Queue', Properties: { DelaySeconds: 2 } }, T: { Type: 'AWS::SNS::Topic' } },
    );
    const lines = renderPlanTable(p, { color: false }).split('\n');
    const rows = lines.filter((l) => /^(BLOCKED|REPLACE|REMOVE|IN PLACE|ADD)\s/.test(l)).map((l) => l.split(/\s{2,}/).slice(0, 3));
    expect(rows).toEqual([
      ['BLOCKED', 'Cache', 'AWS::ElastiCache::ReplicationGroup'],
      ['REMOVE', 'Kek', 'AWS::SecretsManager::Secret'],
      ['IN PLACE', 'Q', 'AWS::SQS::Queue'],
      ['ADD', 'T', 'AWS::SNS::Topic'],
    ]);
    const text = lines.join('\n');
    expect(text).toMatch(/BLOCKED .*Port: 6379 → 6380; create-only \(Port\)\n\s+blocked: ReplicationGroupId "kcc" is a custom name/);
    expect(text).toMatch(/REMOVE .*data lost: the key-encryption key/);
    expect(lines.at(-1)).toBe('Not safe to deploy as is: 1 blocked (CloudFormation would fail and roll back), 1 lose data (4 resource changes).');
    expect(text).not.toContain('\u001b[');
    expect(renderPlanTable(p, { color: true })).toContain('\u001b[31mBLOCKED');
  });

  it('says so when nothing changes', () => {
    const same = plan({ Q: { Type: 'AWS::SQS::Queue' } }, { Q: { Type: 'AWS::SQS::Queue' } });
    expect(renderPlanTable(same, { color: false })).toBe('No resource changes.\n\nSafe to deploy: 0 resource changes; nothing replaced, blocked or lost.');
  });
});
