import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it, vi } from 'vitest';
import { synth } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

type Alarm = { Properties: Record<string, unknown> & { Metrics?: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] }; Period?: number; Stat?: string } }[] } };

function alarms(template: Template): Alarm[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Alarm[];
}
/** The ElastiCache metric an alarm watches and the nodes (CacheClusterId) it covers. */
function watched(alarm: Alarm): { metric: string; nodes: string[] } {
  const props = alarm.Properties as { MetricName?: string; Dimensions?: { Value: string }[]; Metrics?: Alarm['Properties']['Metrics'] };
  if (props.MetricName) return { metric: props.MetricName, nodes: (props.Dimensions ?? []).map((d) => d.Value) };
  const stats = (props.Metrics ?? []).filter((m) => m.MetricStat);
  return { metric: stats[0]!.MetricStat!.Metric.MetricName, nodes: stats.map((m) => m.MetricStat!.Metric.Dimensions[0]!.Value) };
}

describe('alarms', () => {
  const { template, stack } = synth({ apps: ['my-app'] });

  it('watches authentication and authorization failures, memory, evictions and replication lag on every node, with the default thresholds', () => {
    const byMetric = Object.fromEntries(alarms(template).filter((a) => !String(a.Properties.AlarmDescription).includes('rotation')).map((a) => [watched(a).metric, a]));
    expect(Object.keys(byMetric).sort()).toEqual([
      'AuthenticationFailures', 'ChannelAuthorizationFailures', 'CommandAuthorizationFailures', 'DatabaseMemoryUsagePercentage',
      'Evictions', 'KeyAuthorizationFailures', 'ReplicationLag',
    ]);
    expect(Object.fromEntries(Object.entries(byMetric).map(([m, a]) => [m, a.Properties.Threshold]))).toEqual({
      AuthenticationFailures: 20, CommandAuthorizationFailures: 5, KeyAuthorizationFailures: 5, ChannelAuthorizationFailures: 5,
      DatabaseMemoryUsagePercentage: 80, Evictions: 1, ReplicationLag: 10,
    });
    for (const alarm of Object.values(byMetric)) {
      expect(watched(alarm).nodes).toEqual(['kcc-redis-001', 'kcc-redis-002']);
      expect(alarm.Properties).toMatchObject({ ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    }
    expect(byMetric.AuthenticationFailures!.Properties.Metrics![0]!.Expression).toBe('SUM([m0,m1])');
    expect(byMetric.DatabaseMemoryUsagePercentage!.Properties.Metrics![0]!.Expression).toBe('MAX([m0,m1])');
  });

  // The key-encryption-key rotation function had none (an SRE's review): a failing rotation left AWSPENDING behind, and no one was paged.
  it('alarms on errors of both rotation functions, the password one and the key-encryption-key one', () => {
    const fnId = (fn: { node: { defaultChild?: unknown } }) => stack.getLogicalId(fn.node.defaultChild as never);
    const rotation = alarms(template).filter((a) => a.Properties.MetricName === 'Errors');
    expect(rotation.map((a) => [a.Properties.Namespace, a.Properties.Dimensions, a.Properties.Threshold])).toEqual([
      ['AWS/Lambda', [{ Name: 'FunctionName', Value: { Ref: fnId(stack.cache.passwordRotation.function) } }], 1],
      ['AWS/Lambda', [{ Name: 'FunctionName', Value: { Ref: fnId(stack.cache.kekRotation.function) } }], 1],
    ]);
  });

  it('sends nothing anywhere without a topic; with one, every alarm notifies it on ALARM and OK', () => {
    for (const alarm of alarms(template)) expect(alarm.Properties.AlarmActions).toBeUndefined();
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops';
    const withTopic = alarms(synth({ apps: ['a'], alarms: { topicArn, authenticationFailures: 3 } }).template);
    expect(withTopic.length).toBe(9);
    for (const alarm of withTopic) expect([alarm.Properties.AlarmActions, alarm.Properties.OKActions]).toEqual([[topicArn], [topicArn]]);
    expect(withTopic.find((a) => watched(a).metric === 'AuthenticationFailures')!.Properties.Threshold).toBe(3);
  });

  it('has no replication-lag alarm without replicas, covers cluster-mode nodes by shard, and none at all when turned off', () => {
    expect(alarms(synth({ apps: ['a'], replicas: 0 }).template).map((a) => watched(a).metric)).not.toContain('ReplicationLag');
    const cluster = alarms(synth({ apps: ['a'], shards: 3, replicas: 4 }).template).filter((a) => watched(a).metric === 'Evictions');
    // 15 nodes: one alarm per 10 (metric math takes at most 10 metrics), together every node once.
    expect(cluster.map((a) => watched(a).nodes.length)).toEqual([10, 5]);
    expect(cluster.flatMap((a) => watched(a).nodes)).toEqual(
      ['0001', '0002', '0003'].flatMap((group) => ['001', '002', '003', '004', '005'].map((node) => `kcc-redis-${group}-${node}`)),
    );
    expect(alarms(synth({ apps: ['a'], alarms: false }).template)).toEqual([]);
  });

  describe('IAM authentication', () => {
    const IAM_METRICS = ['IamAuthenticationExpirations', 'IamAuthenticationThrottling'];
    /** The dimensions of every per-node metric an alarm combines. */
    const dimensionsOf = (alarm: Alarm) => (alarm.Properties.Metrics ?? []).filter((m) => m.MetricStat).map((m) => m.MetricStat!.Metric.Dimensions);
    const iamAlarms = (kcc: object) => alarms(synth(kcc).template).filter((a) => a.Properties.Metrics && IAM_METRICS.includes(watched(a).metric));

    it('alarms on expired and throttled IAM authentications (sum ≥ 1 in 5 minutes) on every node, named by CacheClusterId and CacheNodeId', () => {
      for (const auth of ['iam', 'password+iam']) {
        const found = iamAlarms({ apps: ['a', { name: 'b', auth }] });
        expect(found.map((a) => watched(a).metric).sort()).toEqual(IAM_METRICS);
        for (const alarm of found) {
          expect(alarm.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
          expect(alarm.Properties.Metrics![0]!.Expression).toBe('SUM([m0,m1])');
          // ElastiCache publishes these under both dimensions only (not CacheClusterId alone); a
          // Valkey or Redis OSS member cluster's one node is 0001.
          expect(dimensionsOf(alarm)).toEqual(['kcc-redis-001', 'kcc-redis-002'].map((Value) => [{ Name: 'CacheClusterId', Value }, { Name: 'CacheNodeId', Value: '0001' }]));
          for (const m of alarm.Properties.Metrics!.filter((x) => x.MetricStat)) expect(m.MetricStat).toMatchObject({ Period: 300, Stat: 'Sum' });
        }
      }
    });

    it('names each node of ChannelAuthorizationFailures by CacheClusterId and CacheNodeId (listed with both only)', () => {
      const channel = alarms(template).find((a) => a.Properties.Metrics && watched(a).metric === 'ChannelAuthorizationFailures')!;
      expect(dimensionsOf(channel)).toEqual(['kcc-redis-001', 'kcc-redis-002'].map((Value) => [{ Name: 'CacheClusterId', Value }, { Name: 'CacheNodeId', Value: '0001' }]));
      const command = alarms(template).find((a) => a.Properties.Metrics && watched(a).metric === 'CommandAuthorizationFailures')!;
      expect(dimensionsOf(command)).toEqual(['kcc-redis-001', 'kcc-redis-002'].map((Value) => [{ Name: 'CacheClusterId', Value }]));
    });

    it('has no IAM alarm when no app-env authenticates by IAM', () => {
      expect(iamAlarms({ apps: ['a', 'b'] })).toEqual([]);
      expect(iamAlarms({ apps: ['a'], auth: 'password' })).toEqual([]);
      expect(alarms(synth({ apps: ['a'] }).template).map((a) => watched(a).metric)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^Iam/)]));
    });

    it('covers every cluster-mode node, 10 per alarm, and notifies the topic', () => {
      const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops';
      const found = iamAlarms({ apps: [{ name: 'a', auth: 'iam' }], shards: 3, replicas: 4, alarms: { topicArn } });
      const expirations = found.filter((a) => watched(a).metric === 'IamAuthenticationExpirations');
      expect(expirations.map((a) => watched(a).nodes.length)).toEqual([10, 5]);
      expect(expirations.flatMap((a) => dimensionsOf(a).map((d) => d.map((x) => x.Value).join('/')))).toEqual(
        ['0001', '0002', '0003'].flatMap((group) => ['001', '002', '003', '004', '005'].map((node) => `kcc-redis-${group}-${node}/0001`)),
      );
      expect(found).toHaveLength(4);
      for (const alarm of found) expect([alarm.Properties.AlarmActions, alarm.Properties.OKActions]).toEqual([[topicArn], [topicArn]]);
    });
  });
});
