import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ALARM_THRESHOLD_DEFAULTS, type AlarmThresholds } from './alarm-thresholds.js';
import { notifyTopic, rotationErrorAlarms } from './alarms.js';
import type { KccServerlessCache } from './kcc-serverless-cache.js';

export interface KccServerlessAlarmsProps {
  readonly cache: KccServerlessCache;
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

/** One metric of the cache and when it alarms. */
interface CacheMetric {
  readonly metricName: string;
  readonly statistic: 'Sum' | 'Maximum';
  readonly period: Duration;
  /** Consecutive periods over the threshold before the alarm fires. */
  readonly periods: number;
  readonly threshold: (t: AlarmThresholds, cache: KccServerlessCache) => number;
  readonly description: string;
}

const BYTES_PER_GB = 1e9;

/**
 * The serverless metrics this stack alarms on. A serverless cache publishes its own set, per cache
 * (no nodes, so no memory percentage or replication lag; no channel-authorization count):
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/serverless-metrics-events-redis.html
 */
const CACHE_METRICS: readonly CacheMetric[] = [
  {
    metricName: 'AuthenticationFailures', statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: (t) => t.authenticationFailures,
    description: 'Failed AUTH attempts (wrong password, unknown user, refused IAM token): password guessing, or instances on a rotated-away password.',
  },
  ...(['Command', 'Key'] as const).map((kind): CacheMetric => ({
    metricName: `${kind}AuthorizationFailures`, statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: (t) => t.authorizationFailures,
    description: `NOPERM refusals of ${kind.toLowerCase()}s: an app outside its ACL namespace (a bug or a probe with its credentials).`,
  })),
  {
    metricName: 'Evictions', statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: (t) => t.evictions,
    description: 'Keys evicted at the data storage limit: keys with an expiry (replay records, locks, heartbeats, session-lifetime declarations, the keycloak-connector cache); the key ring and revocation state have none, but writes are refused next. Raise maxDataStorageGb. See docs/serverless.md.',
  },
  {
    metricName: 'ThrottledCmds', statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: (t) => t.throttledCommands,
    description: 'Requests throttled (the ECPU-per-second limit, or load growing faster than the cache scales): commands of the apps fail or wait. Raise maxEcpuPerSecond.',
  },
  {
    metricName: 'BytesUsedForCache', statistic: 'Maximum', period: Duration.minutes(5), periods: 1,
    threshold: (t, cache) => Math.round((t.storagePercent / 100) * cache.maxDataStorageGb * BYTES_PER_GB),
    description: 'Data stored is near the data storage limit; at the limit ElastiCache evicts keys with a TTL, then refuses writes. Raise maxDataStorageGb.',
  },
  {
    // ECPUs are a count: their sum over one minute / 60 is the average ECPUs per second of that minute.
    metricName: 'ElastiCacheProcessingUnits', statistic: 'Sum', period: Duration.minutes(1), periods: 3,
    threshold: (t, cache) => Math.round((t.ecpuPercent / 100) * cache.maxEcpuPerSecond * 60),
    description: 'ECPUs per second have stayed near the limit for 3 minutes; past it ElastiCache throttles requests. Raise maxEcpuPerSecond.',
  },
];

/**
 * The two IAM-authentication metrics, alarmed on when an app-env of the cache authenticates by IAM.
 * AWS lists both for serverless caches too ("The total number of expired IAM-authenticated Valkey or
 * Redis OSS connections", "The total number of throttled IAM-authenticated Valkey or Redis OSS AUTH
 * or HELLO requests": the serverless metrics page above), and its migration guide says to review them
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-to-iam-migration.html). The client
 * replaces every connection before ElastiCache's 12-hour cut, so any expiration is a connection that
 * was not renewed; any throttling, IAM logins ElastiCache refused for their rate. Threshold 1: there
 * is no benign count. Node-based caches: IAM_NODE_METRICS in alarms.ts.
 */
const IAM_CACHE_METRICS: readonly CacheMetric[] = [
  {
    metricName: 'IamAuthenticationExpirations', statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: () => 1,
    description: 'IAM-authenticated connections closed by ElastiCache at 12 hours: not renewed in time (a renewal failing for hours, a dedicated connection without onRenew, another client). docs/iam-auth.md',
  },
  {
    metricName: 'IamAuthenticationThrottling', statistic: 'Sum', period: Duration.minutes(5), periods: 1,
    threshold: () => 1,
    description: 'IAM AUTH/HELLO requests throttled by ElastiCache: too many IAM authentications (a reconnect storm, many instances starting at once); connections fail to log in. docs/iam-auth.md',
  },
];

/**
 * CloudWatch alarms for a {@link KccServerlessCache}: authentication and authorization failures,
 * evictions, throttled commands, data stored and ECPUs near the usage limits (AWS recommends an alarm
 * at 75% of each limit, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Scaling.html), failing
 * rotations, and, when an app-env authenticates by IAM, expired and throttled IAM authentications. Serverless metrics carry the dimension `clusterId` (the cache name), not
 * `CacheClusterId`: `aws cloudwatch list-metrics --namespace AWS/ElastiCache` lists them so (the fix in
 * cdklabs/cdk-monitoring-constructs#766 and open-constructs/aws-cdk-library#68 records the same).
 */
export class KccServerlessAlarms extends Construct {
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: KccServerlessAlarmsProps) {
    super(scope, id);
    const thresholds = { ...ALARM_THRESHOLD_DEFAULTS, ...props.thresholds };
    const cache = props.cache;
    const metrics = cache.iamUsers.size > 0 ? [...CACHE_METRICS, ...IAM_CACHE_METRICS] : CACHE_METRICS;
    const alarms = metrics.map((m) => new cloudwatch.Alarm(this, m.metricName, {
      metric: new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName: m.metricName,
        dimensionsMap: { clusterId: cache.serverlessCacheName },
        statistic: m.statistic,
        period: m.period,
      }),
      threshold: m.threshold(thresholds, cache),
      evaluationPeriods: m.periods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `kcc-redis serverless cache: ${m.description}`,
    }));
    alarms.push(...rotationErrorAlarms(this, props.rotationFunctions ?? [cache.passwordRotation.function, cache.kekRotation.function], thresholds));
    if (props.topic) notifyTopic(alarms, props.topic);
    this.alarms = alarms;
  }
}
