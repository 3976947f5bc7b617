import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { KccServerlessCache } from '../../../infra/index.js';
import { synth } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

const SERVERLESS = { deployment: 'serverless', apps: ['my-app'] };

describe('serverless: the cache', () => {
  const { template, stack } = synth(SERVERLESS);
  const cache = () => {
    const all = Object.entries(template.findResources('AWS::ElastiCache::ServerlessCache')) as [string, Resource][];
    expect(all).toHaveLength(1);
    return all[0]!;
  };

  it('is a serverless cache instead of a replication group: no nodes, subnet group or node log groups', () => {
    expect(stack.cache).toBeInstanceOf(KccServerlessCache);
    for (const type of ['AWS::ElastiCache::ReplicationGroup', 'AWS::ElastiCache::SubnetGroup']) expect(template.findResources(type)).toEqual({});
    // The only log groups: the flow log's and the two rotation functions'.
    expect(Object.keys(template.findResources('AWS::Logs::LogGroup')).some((id) => /SlowLog|EngineLog/.test(id))).toBe(false);
  });

  it('is wired to the user group, the cache security group and the network\'s subnets', () => {
    const [, sc] = cache();
    const [groupId] = Object.keys(template.findResources('AWS::ElastiCache::UserGroup'));
    const [sgId] = Object.entries(template.findResources('AWS::EC2::SecurityGroup')).find(([, r]) => String(r.Properties.GroupDescription).startsWith('kcc-redis kcc-redis'))!;
    expect(sc.Properties.UserGroupId).toEqual({ Ref: groupId });
    expect(sc.Properties.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [sgId, 'GroupId'] }]);
    expect(sc.Properties.SubnetIds).toEqual(stack.network.subnets.map((s) => ({ Ref: stack.getLogicalId(s.node.defaultChild as never) })));
    expect(sc.Properties).toMatchObject({ ServerlessCacheName: 'kcc-redis', Engine: 'valkey', MajorEngineVersion: '8' });
    expect(sc.Properties.KmsKeyId).toBeUndefined();
  });

  it('always sets usage limits (the cost ceiling): 1 GB and 5,000 ECPUs per second by default, the config\'s otherwise', () => {
    expect(cache()[1].Properties.CacheUsageLimits).toEqual({ DataStorage: { Maximum: 1, Unit: 'GB' }, ECPUPerSecond: { Maximum: 5000 } });
    const other = synth({ ...SERVERLESS, maxDataStorageGb: 10, maxEcpuPerSecond: 20000 }).template;
    other.hasResourceProperties('AWS::ElastiCache::ServerlessCache', { CacheUsageLimits: { DataStorage: { Maximum: 10, Unit: 'GB' }, ECPUPerSecond: { Maximum: 20000 } } });
  });

  it('takes a daily snapshot kept 1 day at 03:00 UTC by default, and a final snapshot named per stack when deleted', () => {
    const [, sc] = cache();
    expect(sc.Properties).toMatchObject({ DailySnapshotTime: '03:00', SnapshotRetentionLimit: 1 });
    expect(sc.Properties.FinalSnapshotName).toEqual({ 'Fn::Join': ['', ['kcc-redis-final-', { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] }]] });
    // CloudFormation's Snapshot policy does not cover serverless caches: the final snapshot is the property's.
    expect([sc.DeletionPolicy, sc.UpdateReplacePolicy]).toEqual(['Delete', 'Delete']);
  });

  it('keeps the cache with removalPolicy retain, and takes no final snapshot with destroy', () => {
    const retained = Object.values(synth({ ...SERVERLESS, removalPolicy: 'retain', snapshotRetentionDays: 7, dailySnapshotTime: '22:30' }).template.findResources('AWS::ElastiCache::ServerlessCache'))[0] as Resource;
    expect([retained.DeletionPolicy, retained.UpdateReplacePolicy]).toEqual(['Retain', 'Retain']);
    expect(retained.Properties).toMatchObject({ SnapshotRetentionLimit: 7, DailySnapshotTime: '22:30' });
    const destroyed = Object.values(synth({ ...SERVERLESS, removalPolicy: 'destroy' }).template.findResources('AWS::ElastiCache::ServerlessCache'))[0] as Resource;
    expect([destroyed.DeletionPolicy, destroyed.Properties.FinalSnapshotName]).toEqual(['Delete', undefined]);
  });

  it('uses the engine major version and a customer KMS key from the config', () => {
    const arn = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const t = synth({ ...SERVERLESS, engine: 'redis', engineVersion: '7', kmsKeyArn: arn }).template;
    t.hasResourceProperties('AWS::ElastiCache::ServerlessCache', { Engine: 'redis', MajorEngineVersion: '7', KmsKeyId: arn });
    t.allResourcesProperties('AWS::ElastiCache::User', { Engine: 'redis' });
  });
});

describe('serverless: ports and users', () => {
  const { template } = synth({ ...SERVERLESS, allowFrom: ['sg-0123456789abcdef0', '10.1.0.0/16'] });

  it('admits 6379 (endpoint) and 6380 (reader endpoint) and nothing else, from members and allowFrom peers', () => {
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 6379, ToPort: 6380 });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        Match.objectLike({ SourceSecurityGroupId: 'sg-0123456789abcdef0', FromPort: 6379, ToPort: 6380, IpProtocol: 'tcp' }),
        Match.objectLike({ CidrIp: '10.1.0.0/16', FromPort: 6379, ToPort: 6380, IpProtocol: 'tcp' }),
      ],
    });
  });

  it('gives app users +cluster|slots: clients use cluster mode on a serverless endpoint', () => {
    for (const env of ['prod', 'dev']) {
      template.hasResourceProperties('AWS::ElastiCache::User', {
        UserName: `my-app-${env}`,
        AccessString: storedAccessString(appEnvAccessString({ app: 'my-app', env }, { clusterMode: true })),
      });
    }
    expect(storedAccessString(appEnvAccessString({ app: 'my-app', env: 'prod' }, { clusterMode: true }))).toContain('+cluster|slots');
  });
});

describe('serverless: outputs', () => {
  const { template } = synth({ ...SERVERLESS, apps: [{ name: 'my-app', envs: ['prod'], auth: 'iam' }] });

  it('exports the endpoint and the reader endpoint with their ports, and the cache name; no replication-group outputs', () => {
    const outputs = template.findOutputs('*');
    const exported = Object.fromEntries(Object.entries(outputs).filter(([, v]) => v.Export).map(([k, v]) => [k, v.Value]));
    expect(Object.keys(exported).sort()).toEqual(
      ['EndpointAddress', 'EndpointPort', 'ReaderEndpointAddress', 'ReaderEndpointPort', 'SecurityGroupId', 'ServerlessCacheName', 'SubnetIds', 'UserGroupId', 'VpcId'].sort(),
    );
    const cacheId = Object.keys(template.findResources('AWS::ElastiCache::ServerlessCache'))[0]!;
    expect(exported).toMatchObject({
      EndpointAddress: { 'Fn::GetAtt': [cacheId, 'Endpoint.Address'] },
      EndpointPort: { 'Fn::GetAtt': [cacheId, 'Endpoint.Port'] },
      ReaderEndpointAddress: { 'Fn::GetAtt': [cacheId, 'ReaderEndpoint.Address'] },
      ReaderEndpointPort: { 'Fn::GetAtt': [cacheId, 'ReaderEndpoint.Port'] },
      ServerlessCacheName: { Ref: cacheId },
    });
  });

  it('tells the app it talks to a serverless cache in cluster mode', () => {
    expect(JSON.stringify(template.findOutputs('AppEnvMyAppProd').AppEnvMyAppProd!.Value)).toContain('\\"kind\\":\\"serverless\\",\\"clusterMode\\":true');
  });
});

describe('serverless: alarms', () => {
  type Alarm = { Properties: { MetricName: string; Namespace: string; Dimensions: { Name: string; Value: unknown }[]; Threshold: number; Period: number; Statistic: string; EvaluationPeriods: number } };
  const alarmsOf = (kcc: object) => Object.values(synth(kcc).template.findResources('AWS::CloudWatch::Alarm')) as Alarm[];

  it('watches the serverless metrics by cache (dimension clusterId), thresholds at 75% of the usage limits', () => {
    const alarms = alarmsOf({ ...SERVERLESS, maxDataStorageGb: 4, maxEcpuPerSecond: 2000 }).filter((a) => a.Properties.Namespace === 'AWS/ElastiCache');
    const byMetric = Object.fromEntries(alarms.map((a) => [a.Properties.MetricName, a.Properties]));
    expect(Object.keys(byMetric).sort()).toEqual([
      'AuthenticationFailures', 'BytesUsedForCache', 'CommandAuthorizationFailures', 'ElastiCacheProcessingUnits', 'Evictions', 'KeyAuthorizationFailures', 'ThrottledCmds',
    ]);
    for (const alarm of alarms) expect(alarm.Properties.Dimensions).toEqual([{ Name: 'clusterId', Value: { Ref: expect.stringMatching(/^Cache[0-9A-F]{8}$/) } }]);
    expect(byMetric.BytesUsedForCache).toMatchObject({ Statistic: 'Maximum', Threshold: 0.75 * 4 * 1e9 });
    // ECPUs summed over a minute: 75% of 2,000 per second × 60 s, three minutes in a row.
    expect(byMetric.ElastiCacheProcessingUnits).toMatchObject({ Statistic: 'Sum', Period: 60, Threshold: 0.75 * 2000 * 60, EvaluationPeriods: 3 });
    expect(byMetric.ThrottledCmds).toMatchObject({ Statistic: 'Sum', Threshold: 1 });
    expect(byMetric.AuthenticationFailures).toMatchObject({ Threshold: 20 });
  });

  it('takes the serverless thresholds from the config', () => {
    const alarms = alarmsOf({ ...SERVERLESS, alarms: { storagePercent: 50, ecpuPercent: 90, throttledCommands: 10 } });
    const threshold = (metric: string) => alarms.find((a) => a.Properties.MetricName === metric)!.Properties.Threshold;
    expect([threshold('BytesUsedForCache'), threshold('ElastiCacheProcessingUnits'), threshold('ThrottledCmds')]).toEqual([0.5 * 1e9, 0.9 * 5000 * 60, 10]);
  });

  it('alarms on expired and throttled IAM authentications by cache (sum ≥ 1 in 5 minutes) when an app-env uses IAM, and not without', () => {
    const iamMetrics = (kcc: object) => alarmsOf(kcc).filter((a) => a.Properties.MetricName.startsWith('Iam'));
    for (const auth of ['iam', 'password+iam']) {
      const found = iamMetrics({ ...SERVERLESS, apps: ['my-app', { name: 'billing', auth }] });
      expect(found.map((a) => a.Properties.MetricName).sort()).toEqual(['IamAuthenticationExpirations', 'IamAuthenticationThrottling']);
      for (const alarm of found) {
        expect(alarm.Properties).toMatchObject({ Namespace: 'AWS/ElastiCache', Statistic: 'Sum', Period: 300, EvaluationPeriods: 1, Threshold: 1 });
        expect(alarm.Properties.Dimensions).toEqual([{ Name: 'clusterId', Value: { Ref: expect.stringMatching(/^Cache[0-9A-F]{8}$/) } }]);
      }
    }
    expect(iamMetrics(SERVERLESS)).toEqual([]);
  });
});
