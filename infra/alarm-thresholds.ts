/**
 * Thresholds of the stack's CloudWatch alarms (cdk.json `alarms`), each per 5-minute period.
 * Metric meanings: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html
 */
export interface AlarmThresholds {
  /**
   * Failed AUTH/HELLO attempts, summed over the nodes (over each alarm's 10 nodes at most: docs/alarms.md). A password rotation costs each instance that
   * reconnects with the old password one failure; a steady stream is password guessing.
   * @default 20
   */
  readonly authenticationFailures: number;
  /**
   * NOPERM refusals (commands, keys, channels), each metric summed over the nodes. The client never
   * steps outside its ACL, so any is a misconfigured app or a probe.
   * @default 5
   */
  readonly authorizationFailures: number;
  /**
   * Highest `DatabaseMemoryUsagePercentage` of any node (of maxmemory). Past it, evictions follow.
   * @default 80
   */
  readonly memoryPercent: number;
  /**
   * Evicted keys, summed over the nodes. Key rings and revocations must never be evicted.
   * @default 1
   */
  readonly evictions: number;
  /**
   * Highest `ReplicationLag` of any replica, in seconds (only with replicas).
   * @default 10
   */
  readonly replicationLagSeconds: number;
  /**
   * Errors of each rotation function (Secrets Manager retries; a lasting error leaves a stale password).
   * @default 1
   */
  readonly rotationErrors: number;
  /**
   * Serverless: `BytesUsedForCache` (maximum) as a percentage of the cache's data storage limit. AWS
   * recommends an alarm at 75% of each limit (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Scaling.html).
   * @default 75
   */
  readonly storagePercent: number;
  /**
   * Serverless: ECPUs used per second (`ElastiCacheProcessingUnits` summed over a minute) as a
   * percentage of the cache's ECPU-per-second limit; past the limit ElastiCache throttles requests.
   * @default 75
   */
  readonly ecpuPercent: number;
  /**
   * Serverless: `ThrottledCmds`, summed: requests ElastiCache throttled (the ECPU limit, or a
   * workload growing faster than the cache scales). Any is a failing command in an app.
   * @default 1
   */
  readonly throttledCommands: number;
}

export const ALARM_THRESHOLD_DEFAULTS: AlarmThresholds = {
  authenticationFailures: 20,
  authorizationFailures: 5,
  memoryPercent: 80,
  evictions: 1,
  replicationLagSeconds: 10,
  rotationErrors: 1,
  storagePercent: 75,
  ecpuPercent: 75,
  throttledCommands: 1,
};

/** Thresholds of metrics only replication groups publish (per node). */
export const REPLICATION_GROUP_THRESHOLDS: readonly (keyof AlarmThresholds)[] = ['memoryPercent', 'replicationLagSeconds'];
/** Thresholds of metrics only serverless caches publish, or of their limits. */
export const SERVERLESS_THRESHOLDS: readonly (keyof AlarmThresholds)[] = ['storagePercent', 'ecpuPercent', 'throttledCommands'];

/** The alarms part of the config: where alarms go and when they fire. */
export interface AlarmsConfig extends AlarmThresholds {
  /** SNS topic that receives ALARM and OK notifications; none: the alarms show in the console only. */
  readonly topicArn: string | undefined;
}
