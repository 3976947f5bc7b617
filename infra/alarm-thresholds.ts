/**
 * Thresholds of the stack's CloudWatch alarms (cdk.json `alarms`), each per 5-minute period.
 * Metric meanings: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html
 */
export interface AlarmThresholds {
  /**
   * Failed AUTH/HELLO attempts, summed over the nodes. A password rotation costs each instance that
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
}

export const ALARM_THRESHOLD_DEFAULTS: AlarmThresholds = {
  authenticationFailures: 20,
  authorizationFailures: 5,
  memoryPercent: 80,
  evictions: 1,
  replicationLagSeconds: 10,
  rotationErrors: 1,
};

/** The alarms part of the config: where alarms go and when they fire. */
export interface AlarmsConfig extends AlarmThresholds {
  /** SNS topic that receives ALARM and OK notifications; none: the alarms show in the console only. */
  readonly topicArn: string | undefined;
}
