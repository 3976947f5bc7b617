import { type CfnResource, isRecord } from './cfn-template.js';
import type { Replacement } from './update-spec.js';

/**
 * What the service spec cannot say: the conditions the template reference states in prose for a
 * `maybe`, and changes the service refuses outright (the stack update fails and rolls back).
 * Each rule cites its source. Everything else comes from `@aws-cdk/aws-service-spec`.
 */

const REPLICATION_GROUP = 'AWS::ElastiCache::ReplicationGroup';
const SERVERLESS_CACHE = 'AWS::ElastiCache::ServerlessCache';

/**
 * Resolves a `maybe` when the documentation names the condition. `decidedBy` is the property the
 * spec marked `maybe`; undefined when no rule applies (the change stays "may replace").
 */
export function resolveMaybe(type: string, decidedBy: string, current: CfnResource | undefined): { replacement: Replacement; because: string } | undefined {
  // "If you set UseOnlineResharding to true, you can update NumNodeGroups without interruption. When
  // UseOnlineResharding is set to false, or is not specified, updating NumNodeGroups results in
  // replacement." (same for NodeGroupConfiguration)
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-elasticache-replicationgroup.html
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html#cfn-attributes-updatepolicy-useonlineresharding
  if (type === REPLICATION_GROUP && (decidedBy === 'NumNodeGroups' || decidedBy.startsWith('NodeGroupConfiguration'))) {
    const policy = current?.UpdatePolicy;
    const online = isRecord(policy) && policy.UseOnlineResharding === true;
    return online
      ? { replacement: 'no', because: 'online resharding (UpdatePolicy UseOnlineResharding: true)' }
      : { replacement: 'yes', because: 'no UpdatePolicy UseOnlineResharding: true, so CloudFormation replaces the group' };
  }
  return undefined;
}

/** Why the service refuses this update of a resource, or undefined. */
export function refusal(type: string, previous: CfnResource, current: CfnResource): string | undefined {
  if (type === SERVERLESS_CACHE) return serverlessRefusal(previous, current);
  if (type !== REPLICATION_GROUP) return undefined;
  const before = previous.Properties ?? {};
  const after = current.Properties ?? {};

  // "You can upgrade to a newer engine version ... but you cannot downgrade to an earlier engine
  // version." (EngineVersion, template reference above; ElastiCache "Version Management")
  const from = before.EngineVersion;
  const to = after.EngineVersion;
  if (typeof from === 'string' && typeof to === 'string' && before.Engine === after.Engine && compareVersions(to, from) < 0) {
    return `EngineVersion ${from} → ${to} is a downgrade; ElastiCache only upgrades engine versions in place`;
  }

  // "Cluster mode configuration can only be changed from cluster mode disabled to cluster mode
  // enabled. Reverting this configuration is not possible." and the change is "a two-step
  // procedure" through "compatible".
  // https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/modify-cluster-mode.html
  const modeFrom = before.ClusterMode ?? 'disabled';
  const modeTo = after.ClusterMode ?? 'disabled';
  if (modeFrom !== modeTo && typeof modeFrom === 'string' && typeof modeTo === 'string') {
    if (modeTo === 'disabled') return `ClusterMode ${modeFrom} → disabled: cluster mode cannot be turned off again`;
    if (modeFrom === 'disabled' && modeTo === 'enabled') {
      return 'ClusterMode disabled → enabled in one step: ElastiCache goes through "compatible" first (two deploys)';
    }
  }

  // Cluster mode disabled, the replica count crossing zero also turns automatic failover (and
  // Multi-AZ) on or off, in the same update. ElastiCache needs a replica while automatic failover is
  // on: "If the cluster is Multi-AZ with automatic failover enabled, you cannot delete the last read
  // replica without first disabling Multi-AZ"
  // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Scaling.RedisReplGrps.ScaleIn.html), and
  // NumCacheClusters "must be at least 2" when AutomaticFailoverEnabled is true
  // (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html).
  // CloudFormation does not document the order it applies the two in, and the way up is reported to
  // fail ("Replication group must have at least one read replica to enable autofailover":
  // https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/383).
  const clustersFrom = Number(before.NumCacheClusters ?? 1);
  const clustersTo = Number(after.NumCacheClusters ?? 1);
  const failoverFrom = before.AutomaticFailoverEnabled === true;
  const failoverTo = after.AutomaticFailoverEnabled === true;
  if (modeFrom === 'disabled' && modeTo === 'disabled' && failoverFrom !== failoverTo && clustersFrom !== clustersTo && Math.min(clustersFrom, clustersTo) === 1) {
    return failoverTo
      ? `NumCacheClusters ${clustersFrom} → ${clustersTo} with AutomaticFailoverEnabled false → true in one update: automatic failover needs the replica first, and CloudFormation applying both at once is reported to fail ("at least one read replica to enable autofailover"); the stack turns failover on with the first replica, so create the cache with the replicas it needs`
      : `NumCacheClusters ${clustersFrom} → ${clustersTo} with AutomaticFailoverEnabled true → false in one update: ElastiCache keeps the last replica while automatic failover is on, and CloudFormation does not say it turns failover off first`;
  }
  return undefined;
}

/**
 * A serverless cache's engine and major version change in place (the spec marks neither create-only),
 * in one direction only: "After you create a cache ... you can upgrade to a newer engine version, but
 * you cannot downgrade to an older engine version" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SelectEngine.html),
 * and the cross-engine upgrade goes from Redis OSS to Valkey, not back
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html, "How to trigger
 * cross-engine upgrade from Redis OSS to Valkey").
 */
function serverlessRefusal(previous: CfnResource, current: CfnResource): string | undefined {
  const before = previous.Properties ?? {};
  const after = current.Properties ?? {};
  if (before.Engine === 'valkey' && after.Engine === 'redis') return 'Engine valkey → redis: ElastiCache upgrades Redis OSS to Valkey, not back';
  const from = before.MajorEngineVersion;
  const to = after.MajorEngineVersion;
  if (typeof from === 'string' && typeof to === 'string' && before.Engine === after.Engine && compareVersions(to, from) < 0) {
    return `MajorEngineVersion ${from} → ${to} is a downgrade; ElastiCache only upgrades engine versions`;
  }
  return undefined;
}

/** Numeric comparison of dotted versions ("7.1" < "8.0" < "8.0.1"); missing parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0 && !Number.isNaN(d)) return Math.sign(d);
  }
  return 0;
}
