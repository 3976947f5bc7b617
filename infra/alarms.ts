import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ALARM_THRESHOLD_DEFAULTS, type AlarmThresholds } from './alarm-thresholds.js';
import type { KccRedisCache } from './kcc-redis-cache.js';

export interface KccRedisAlarmsProps {
  readonly cache: KccRedisCache;
  /** @default ALARM_THRESHOLD_DEFAULTS */
  readonly thresholds?: Partial<AlarmThresholds>;
  /**
   * Receives every alarm's ALARM and OK notifications.
   * @default - none: the alarms show in the CloudWatch console only
   */
  readonly topic?: sns.ITopic;
  /**
   * Functions whose `Errors` each get an alarm.
   * @default - the cache's password rotation function and its key-encryption-key rotation function
   */
  readonly rotationFunctions?: readonly lambda.IFunction[];
}

const PERIOD = Duration.minutes(5);
/** A metric-math expression may use at most 10 metrics (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-data-queries.html). */
const METRICS_PER_EXPRESSION = 10;

/** One ElastiCache metric the alarms watch, and how nodes combine. */
interface NodeMetric {
  readonly id: string;
  readonly metricName: string;
  /** SUM of counts over nodes, or MAX of a level over nodes. */
  readonly combine: 'SUM' | 'MAX';
  readonly statistic: 'Sum' | 'Maximum';
  readonly threshold: (t: AlarmThresholds) => number;
  readonly description: string;
  /**
   * The metric is published per node under `CacheClusterId` and `CacheNodeId` together only, not
   * under `CacheClusterId` alone: each node is named by both (see {@link IAM_NODE_METRICS}).
   * @default false
   */
  readonly byCacheNodeId?: boolean;
}

/** Metric names and meanings: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html */
const NODE_METRICS: readonly NodeMetric[] = [
  {
    id: 'AuthenticationFailures', metricName: 'AuthenticationFailures', combine: 'SUM', statistic: 'Sum',
    threshold: (t) => t.authenticationFailures,
    description: 'Failed AUTH attempts (wrong password or unknown user): password guessing, or instances on a revoked password.',
  },
  ...(['Command', 'Key', 'Channel'] as const).map((kind): NodeMetric => ({
    id: `${kind}AuthorizationFailures`, metricName: `${kind}AuthorizationFailures`, combine: 'SUM', statistic: 'Sum',
    // CloudWatch's table of ElastiCache metrics lists ChannelAuthorizationFailures with `CacheClusterId,
    // CacheNodeId` only, as it does the IAM metrics below (same source); per-node series exist for
    // every node metric, so naming both dimensions watches a series that gets data either way.
    byCacheNodeId: kind === 'Channel',
    threshold: (t) => t.authorizationFailures,
    description: `NOPERM refusals of ${kind.toLowerCase()}s: an app outside its ACL namespace (a bug or a probe with its credentials).`,
  })),
  {
    id: 'DatabaseMemoryUsagePercentage', metricName: 'DatabaseMemoryUsagePercentage', combine: 'MAX', statistic: 'Maximum',
    threshold: (t) => t.memoryPercent,
    description: 'A node uses this much of its maxmemory; past it keys with an expiry are evicted, then writes refused. Raise nodeType (in place); add shards only where there are already more than one (1 to more is a replacement). See docs/alarms.md.',
  },
  {
    id: 'Evictions', metricName: 'Evictions', combine: 'SUM', statistic: 'Sum',
    threshold: (t) => t.evictions,
    description: 'Keys evicted for memory: under volatile-lru (the default) keys with an expiry (replay records, locks, heartbeats, session-lifetime declarations, the keycloak-connector cache); the key ring and revocation state have none, but under an allkeys-* policy anything goes. Raise nodeType now. See docs/alarms.md.',
  },
  {
    id: 'ReplicationLag', metricName: 'ReplicationLag', combine: 'MAX', statistic: 'Maximum',
    threshold: (t) => t.replicationLagSeconds,
    description: 'A replica is this many seconds behind its primary; a failover now would lose those writes.',
  },
];

/**
 * The id of the one node of every Valkey or Redis OSS member cluster: a cluster of these engines has
 * exactly one node ("For clusters running Valkey or Redis OSS, this value must be 1", NumCacheNodes,
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateCacheCluster.html),
 * and node ids count from 0001 ("A node ID is a numeric identifier (0001, 0002, etc.)",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_NodeGroupMember.html).
 */
const CACHE_NODE_ID = '0001';

/**
 * The two metrics AWS names for IAM-authenticated connections, alarmed on when an app-env of the
 * cache authenticates by IAM (without an IAM user they count nothing). AWS's migration guide says to
 * review them ("Review your application logs and the IamAuthenticationExpirations and
 * IamAuthenticationThrottling Amazon CloudWatch metrics",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-to-iam-migration.html); meanings:
 * "The total number of expired IAM-authenticated Valkey or Redis OSS connections" and "The total
 * number of throttled IAM-authenticated Valkey or Redis OSS AUTH or HELLO requests"
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html). The client
 * replaces every connection before ElastiCache's 12-hour cut, so any expiration is a connection
 * that was not renewed; any throttling, reconnects faster than ElastiCache takes IAM AUTH. Threshold 1:
 * there is no benign count. Unlike the metrics above, CloudWatch's table of ElastiCache metrics and
 * their dimension sets lists these with `CacheClusterId, CacheNodeId` only (CloudWatch User Guide,
 * "Supported metrics for resource tags for telemetry", AWS/ElastiCache, AWS::ElastiCache::CacheCluster;
 * reached from https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/UsingResourceTagsForTelemetry.html):
 * an alarm on `CacheClusterId` alone would watch a series that never gets data, silently.
 */
const IAM_NODE_METRICS: readonly NodeMetric[] = [
  {
    id: 'IamAuthenticationExpirations', metricName: 'IamAuthenticationExpirations', combine: 'SUM', statistic: 'Sum', byCacheNodeId: true,
    threshold: () => 1,
    description: 'IAM-authenticated connections closed by ElastiCache at 12 hours: not renewed in time (a renewal failing for hours, a dedicated connection without onRenew, another client). docs/iam-auth.md',
  },
  {
    id: 'IamAuthenticationThrottling', metricName: 'IamAuthenticationThrottling', combine: 'SUM', statistic: 'Sum', byCacheNodeId: true,
    threshold: () => 1,
    description: 'IAM AUTH/HELLO requests throttled by ElastiCache: too many IAM authentications (a reconnect storm, many instances starting at once); connections fail to log in. docs/iam-auth.md',
  },
];

/**
 * CloudWatch alarms on what a kcc-redis operator must see: authentication and authorization
 * failures, memory pressure, evictions, replication lag, failing rotations, and, when an app-env
 * authenticates by IAM, expired and throttled IAM authentications. ElastiCache publishes per node
 * (`CacheClusterId`); each alarm combines the nodes with metric math, 10 nodes per alarm.
 */
export class KccRedisAlarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: KccRedisAlarmsProps) {
    super(scope, id);
    const thresholds = { ...ALARM_THRESHOLD_DEFAULTS, ...props.thresholds };
    const members = props.cache.memberClusterIds;
    const chunks = Array.from({ length: Math.ceil(members.length / METRICS_PER_EXPRESSION) }, (_, i) =>
      members.slice(i * METRICS_PER_EXPRESSION, (i + 1) * METRICS_PER_EXPRESSION));
    const alarms: cloudwatch.Alarm[] = [];
    const metrics = props.cache.iamUsers.size > 0 ? [...NODE_METRICS, ...IAM_NODE_METRICS] : NODE_METRICS;
    for (const metric of metrics) {
      if (metric.id === 'ReplicationLag' && props.cache.replicasPerShard === 0) continue;
      chunks.forEach((nodes, i) => {
        const suffix = chunks.length > 1 ? `${i + 1}` : '';
        alarms.push(new cloudwatch.Alarm(this, `${metric.id}${suffix}`, {
          metric: combined(metric, nodes),
          threshold: metric.threshold(thresholds),
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription: `kcc-redis ${nodes[0]}…: ${metric.description}`,
        }));
      });
    }
    alarms.push(...rotationErrorAlarms(this, props.rotationFunctions ?? [props.cache.passwordRotation.function, props.cache.kekRotation.function], thresholds));
    if (props.topic) notifyTopic(alarms, props.topic);
    this.alarms = alarms;
  }
}

/** One alarm on the `Errors` of each rotation function. */
export function rotationErrorAlarms(scope: Construct, functions: readonly lambda.IFunction[], thresholds: AlarmThresholds): cloudwatch.Alarm[] {
  return functions.map((fn, i) => new cloudwatch.Alarm(scope, `RotationErrors${i === 0 ? '' : i + 1}`, {
    metric: fn.metricErrors({ period: PERIOD, statistic: 'Sum' }),
    threshold: thresholds.rotationErrors,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: 'kcc-redis: a rotation failed; its log group names the secret, the step and a KCC_ROTATION_* code.',
  }));
}

/** Sends every alarm's ALARM and OK notifications to `topic`. */
export function notifyTopic(alarms: readonly cloudwatch.Alarm[], topic: sns.ITopic): void {
  const action = new SnsAction(topic);
  for (const alarm of alarms) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
}

/** The metric of `nodes` combined into one series: the metric itself for one node, else SUM/MAX over them. */
function combined(metric: NodeMetric, nodes: readonly string[]): cloudwatch.IMetric {
  const perNode = nodes.map((CacheClusterId) => new cloudwatch.Metric({
    namespace: 'AWS/ElastiCache',
    metricName: metric.metricName,
    dimensionsMap: metric.byCacheNodeId ? { CacheClusterId, CacheNodeId: CACHE_NODE_ID } : { CacheClusterId },
    statistic: metric.statistic,
    period: PERIOD,
  }));
  if (perNode.length === 1) return perNode[0]!;
  return new cloudwatch.MathExpression({
    expression: `${metric.combine}([${perNode.map((_, i) => `m${i}`).join(',')}])`,
    usingMetrics: Object.fromEntries(perNode.map((m, i) => [`m${i}`, m])),
    period: PERIOD,
    label: `${metric.metricName} (${metric.combine} of ${nodes.length} nodes)`,
  });
}
