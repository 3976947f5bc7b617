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
   * connection is replaced at a random point between 75 % and 90 % of this. Change it only to test:
   * at most 43200000 (a longer age would put renewals after ElastiCache's cut, or so close to it that
   * a failed renewal has no time to be retried).
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
  /**
   * ElastiCache's limit for IAM-authenticated connections ("An IAM authenticated connection … will
   * automatically be disconnected after 12 hours", https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html),
   * and the most `maxConnectionAgeMs` may be: renewal falls at 75-90 % of that age
   * (connection-renewal.ts), so up to 10.8 hours after a connection authenticated with the default,
   * leaving 1.2 hours for the old connection's 5-minute hand-over and for retries of a failed
   * renewal (1/200 of the age, doubling, at most 1/20). At 13⅓ hours the latest point would be the
   * cut itself, and any value above 12 hours only shrinks that margin for no gain: the option names
   * the server's limit, which is 12 hours.
   */
  maxConnectionAgeMs: 12 * 60 * 60 * 1000,
  checkIntervalMs: 60_000,
  /** The stand-by token is re-signed once it is this old (tokens are valid 15 minutes). */
  tokenRefreshAfterMs: 5 * 60 * 1000,
} as const;
