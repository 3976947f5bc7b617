import type { AwsCredentials, AwsCredentialsProvider } from './aws-credentials.js';

/** How the client authenticates to Redis: a password (the default), or IAM tokens (ElastiCache IAM users). */
export type RedisAuthMode = 'password' | 'iam';

/**
 * Settings of `auth: 'iam'`. The user id is the `username` option (an IAM-enabled ElastiCache
 * user's id equals its name), the region the `region` option, serverless the `serverless` option.
 *
 * | option | environment |
 * |---|---|
 * | `cacheName` | `KCC_REDIS_IAM_CACHE_NAME`, else `replicationGroupId` / `KCC_REDIS_REPLICATION_GROUP_ID` |
 * | `credentials` | the AWS SDK's chain: `AWS_ACCESS_KEY_ID`…, `AWS_PROFILE`, web identity, ECS/EC2 roles |
 */
export interface IamConnectionOptions {
  /** The replication group id or serverless cache name tokens are signed for. @default replicationGroupId */
  readonly cacheName?: string;
  /** AWS credentials that sign tokens (the role needs `elasticache:Connect`). @default the AWS SDK's Node.js chain */
  readonly credentials?: AwsCredentials | AwsCredentialsProvider;
  /**
   * ElastiCache closes an IAM-authenticated connection 12 hours after it authenticated; each
   * connection is replaced at a random point between 75 % and 90 % of this. Change it only to test.
   * @default 43200000 (12 hours)
   */
  readonly maxConnectionAgeMs?: number;
  /** Clock for signing tokens and for connection ages (epoch ms); for tests. @default Date.now */
  readonly now?: () => number;
  /** How often token and connection ages are checked. @default 60000 */
  readonly checkIntervalMs?: number;
}

/** Defaults of the IAM settings, in one object. */
export const IAM_DEFAULTS = {
  /** ElastiCache's limit for IAM-authenticated connections. */
  maxConnectionAgeMs: 12 * 60 * 60 * 1000,
  checkIntervalMs: 60_000,
  /** The stand-by token is re-signed once it is this old (tokens are valid 15 minutes). */
  tokenRefreshAfterMs: 5 * 60 * 1000,
} as const;
