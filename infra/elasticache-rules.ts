/**
 * ElastiCache's and Secrets Manager's documented bounds, shared by the cdk.json parser (messages
 * name the cdk.json field) and the constructs' own props validation (messages name the prop).
 */

/** 1 primary + up to 5 replicas per shard. https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Replication.html */
export const MAX_REPLICAS_PER_SHARD = 5;
/**
 * Up to 500 shards (node groups) per cluster-mode replication group, within its 500 nodes ("500 shards
 * with no replicas", https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.html); above 90
 * nodes the account's default quota is said ({@link nodeQuotaWarning}), not refused. Until 2026-12-07
 * 90 was refused, the default node quota taken for a shard limit (a review of stack updates).
 */
export const MAX_SHARDS = 500;
/** At most 500 nodes per replication group (Valkey 7.2+, Redis OSS 5.0.6+). */
export const MAX_NODES = 500;
/**
 * ElastiCache's default quota of nodes per cluster (cluster mode enabled): 90, raised on request up
 * to {@link MAX_NODES}. Above it a deploy fails (NodeQuotaForClusterExceeded) unless the account's
 * quota was raised, so the stack warns and does not refuse.
 * https://docs.aws.amazon.com/general/latest/gr/elasticache-service.html ("Nodes per cluster"),
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.html ("can be increased to a maximum of 500").
 */
export const DEFAULT_NODES_PER_CLUSTER_QUOTA = 90;

/** The warning for a replication group of `nodes` nodes above the default quota, or undefined. */
export function nodeQuotaWarning(nodes: number, how: string): string | undefined {
  if (nodes <= DEFAULT_NODES_PER_CLUSTER_QUOTA) return undefined;
  return `${how} = ${nodes} nodes, above ElastiCache's default quota of ${DEFAULT_NODES_PER_CLUSTER_QUOTA} nodes per cluster: ` +
    `before deploying, have the account's quota raised (Service Quotas, ElastiCache "Nodes per cluster", up to ${MAX_NODES}), ` +
    'or the deploy fails with NodeQuotaForClusterExceeded';
}
/**
 * The note for cluster mode without replicas, or undefined. ElastiCache requires automatic failover
 * in cluster mode ("AutomaticFailoverEnabled must be enabled for Valkey or Redis OSS (cluster mode
 * enabled) replication groups", CreateReplicationGroup), with no replica to fail over to here; a
 * later CloudFormation update of such a group is reported to fail ("Replication group must have at
 * least one read replica to enable autofailover",
 * https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1275), which is what
 * adding a replica later would be (ReplicasPerNodeGroup updates in place in most regions' schemas since
 * 2026-05-18, plan/documented-rules.ts; me-central-1 and me-south-1 still mark it create-only).
 */
export function clusterWithoutReplicasNote(shards: number, replicas: number): string | undefined {
  if (shards <= 1 || replicas > 0) return undefined;
  return `${shards} shards with 0 replicas per shard: a primary lost loses its shard's data and slots until it is replaced, ` +
    'later CloudFormation updates of such a group are reported to fail ("at least one read replica to enable autofailover"), ' +
    'so adding replicas later may not go through (and in me-central-1 and me-south-1 ReplicasPerNodeGroup is still create-only): choose replicas ≥ 1 now unless the cache is disposable';
}

/** ElastiCache allows at most 100 users in a user group. */
export const MAX_USERS_PER_GROUP = 100;
/** Secrets Manager rotation schedules run every 1 to 1000 days. */
export const MAX_ROTATION_DAYS = 1000;
/** Automatic backups are kept 0 (off) to 35 days. */
export const MAX_SNAPSHOT_RETENTION_DAYS = 35;
/** In cluster mode every node also listens on the cluster bus port, port + 10000. */
export function maxPort(clusterMode: boolean): number {
  return clusterMode ? 65535 - 10000 : 65535;
}

const NODE_TYPE = /^cache\.[a-z0-9]+\.[a-z0-9]+$/;

export function nodeTypeProblem(nodeType: string): string | undefined {
  return NODE_TYPE.test(nodeType) ? undefined : 'must look like "cache.<family>.<size>", e.g. "cache.t4g.micro"';
}

/** Values the CloudWatch Logs API accepts for a retention period, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/**
 * Bounds of a serverless cache's usage limits, as aws-cdk's serverless construct validates them
 * (`@aws-cdk/aws-elasticache-alpha`: data storage 1–5,000 GB, 1,000–15,000,000 ECPUs per second);
 * `DataStorage` takes whole GB (`Unit: "GB"`, integer `Maximum`, the registry schema).
 */
export const SERVERLESS_DATA_STORAGE_GB = { min: 1, max: 5000 } as const;
export const SERVERLESS_ECPU_PER_SECOND = { min: 1000, max: 15_000_000 } as const;
/** A serverless cache keeps automatic snapshots 1 to 35 days (CreateServerlessCache: "The maximum value allowed is 35 days"). */
export const MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS = 1;
/** The ports of a serverless cache: the endpoint, and the reader endpoint (reads from replicas). */
export const SERVERLESS_PORTS = { endpoint: 6379, reader: 6380 } as const;
