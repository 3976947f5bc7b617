import { type CfnResource, isRecord } from './cfn-template.js';
import type { Replacement } from './update-spec.js';

/**
 * What the service spec cannot say: the conditions the template reference states in prose for a
 * `maybe`, changes the service refuses outright (the stack update fails and rolls back), and entries
 * of the spec that AWS's current schemas contradict. Each rule cites its source. Everything else
 * comes from `@aws-cdk/aws-service-spec`.
 */

const REPLICATION_GROUP = 'AWS::ElastiCache::ReplicationGroup';
const SERVERLESS_CACHE = 'AWS::ElastiCache::ServerlessCache';
const USER = 'AWS::ElastiCache::User';
const USER_GROUP = 'AWS::ElastiCache::UserGroup';
const SUBNET_GROUP = 'AWS::ElastiCache::SubnetGroup';

/** An entry of the service spec replaced by what AWS's current resource schema says, and the source. */
export interface SpecCorrection {
  readonly replacement: Replacement;
  /** Why the spec's own entry does not apply, in words (printed with the property's reason). */
  readonly because: string;
}

/**
 * Top-level properties whose replacement mark in the installed `@aws-cdk/aws-service-spec` is stale.
 * `Engine` of the replication group, its users and user groups was create-only in CloudFormation's
 * registry schemas until AWS removed it from `createOnlyProperties` (ElastiCache moves Redis OSS to
 * Valkey in place since October 2024). The schemas' history, as cfn-lint vendors them
 * (https://github.com/aws-cloudformation/cfn-lint, src/cfnlint/data/schemas/providers/us_east_1/):
 * - aws-elasticache-replicationgroup.json: "/properties/Engine" removed in commit c94f5f7d2,
 *   "Update CloudFormation schemas to 2024-10-10";
 * - aws-elasticache-user.json: removed in 4ebc96782, "Update CloudFormation schemas to 2024-11-18";
 * - aws-elasticache-usergroup.json: removed in 3bdb648c3, "Update CloudFormation schemas to 2025-01-16".
 * The template reference says the same: UserGroup `Engine`, "Update requires: No interruption"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-elasticache-usergroup.html),
 * and the service spec's own text for ReplicationGroup `Engine`: "Upgrading an existing engine from
 * redis to valkey is done through in-place migration, and requires a parameter group." Whether this
 * stack can make the change at all is {@link refusal}'s business.
 *
 * `ReplicasPerNodeGroup` (replicas per shard in cluster mode) left the replication group's
 * `createOnlyProperties` in the schemas of "Update CloudFormation schemas to 2026-05-18" (cfn-lint
 * 4055d4ccd) for most regions: in those of 2026-06-15 (602229535), 44 of the 46 regions' schemas
 * (resources/2c2a8dbb0e297d76.json) update it in place, and me-central-1 and me-south-1 still mark it
 * create-only. There a change fails and rolls back (the group has a custom name, so it cannot be
 * replaced): nothing is lost, which the reason says.
 */
export const SPEC_CORRECTIONS: Readonly<Record<string, Readonly<Record<string, SpecCorrection>>>> = {
  [REPLICATION_GROUP]: {
    Engine: stale('2024-10-10'),
    ReplicasPerNodeGroup: {
      replacement: 'no',
      because: "AWS's resource schema has not marked it create-only since 2026-05-18 in every region but me-central-1 and me-south-1 (there the update fails and rolls back); the bundled service spec still does",
    },
  },
  [USER]: { Engine: stale('2024-11-18') },
  [USER_GROUP]: { Engine: stale('2025-01-16') },
};

/**
 * List properties whose order CloudFormation ignores: `"insertionOrder": false` in AWS's resource
 * schemas (cfn-lint's copies of 2026-06-15, 602229535; the resource-schema meta-schema: only `true`
 * means "changing the order of the array would indicate a diff"). The service spec does not carry
 * it. Tags left out: the stack sets none on these.
 */
export const UNORDERED_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  [SERVERLESS_CACHE]: ['SecurityGroupIds', 'SnapshotArnsToRestore', 'SubnetIds'],
  [USER_GROUP]: ['UserIds'],
};

function stale(since: string): SpecCorrection {
  return { replacement: 'no', because: `AWS's resource schema has not marked it create-only since ${since}; the bundled service spec still does` };
}

/**
 * What an engine change leaves to do, said after each reason it cannot happen: the stack sets one
 * engine for its cache, users and user group, and names the engine in its security group's
 * description (create-only), so it has no path of several deploys either.
 */
const NEW_STACK = 'this stack cannot change its engine in place: deploy a second stack with the new engine (another stackName and replicationGroupId), move the apps, then delete the first';

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

/** The rest of the stack as deployed: what a resource's update meets while CloudFormation applies it. */
export interface DeployedStack {
  /** The deployed template's resources, by logical id. */
  readonly resources: Readonly<Record<string, CfnResource>>;
  /** The logical id of the resource being updated. */
  readonly id: string;
}

/** Why the service refuses this update of a resource, or undefined. */
export function refusal(type: string, previous: CfnResource, current: CfnResource, deployed?: DeployedStack): string | undefined {
  if (type === SERVERLESS_CACHE) return serverlessRefusal(previous, current);
  if (type === USER) return deployed ? userEngineRefusal(previous, current, deployed) : undefined;
  if (type === USER_GROUP) return deployed ? userGroupEngineRefusal(previous, current, deployed) : undefined;
  if (type !== REPLICATION_GROUP) return undefined;
  const before = previous.Properties ?? {};
  const after = current.Properties ?? {};

  const engine = engineChange(previous, current);
  // ElastiCache's cross-engine upgrade goes one way: "How to upgrade from Redis OSS to Valkey"
  // (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VersionManagement.HowTo.html); it
  // documents no way from Valkey back to Redis OSS, and "you cannot downgrade to an older engine
  // version" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SelectEngine.html).
  if (engine === 'valkey → redis') return `Engine valkey → redis: ElastiCache upgrades Redis OSS to Valkey in place, not back; ${NEW_STACK}`;
  // The template reference of Engine: "Upgrading an existing engine from redis to valkey is done
  // through in-place migration, and requires a parameter group." With cluster mode on this stack sets
  // one (default.<engine><major>.cluster.on), with it off none.
  if (engine === 'redis → valkey' && after.CacheParameterGroupName === undefined) {
    return `Engine redis → valkey: CloudFormation's reference says this in-place migration "requires a parameter group", and the template sets no CacheParameterGroupName; ${NEW_STACK}`;
  }

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
  if (modeFrom === 'disabled' && modeTo === 'disabled') {
    const crossing = replicasCrossingZero(before, after, { count: 'NumCacheClusters', none: 1, flag: 'AutomaticFailoverEnabled' });
    if (crossing) {
      return crossing.on
        ? `${crossing.change} in one update: automatic failover needs the replica first, and CloudFormation applying both at once is reported to fail ("at least one read replica to enable autofailover"); the stack turns failover on with the first replica, so create the cache with the replicas it needs`
        : `${crossing.change} in one update: ElastiCache keeps the last replica while automatic failover is on, and CloudFormation does not say it turns failover off first`;
    }
  }
  // Cluster mode: ReplicasPerNodeGroup updates in place (SPEC_CORRECTIONS), but crossing zero turns
  // Multi-AZ on or off in the same update, and the same rules hold: the last replica cannot go while
  // Multi-AZ is on (the scale-in page above), and a cluster-mode group without replicas is reported
  // to fail later updates ("at least one read replica to enable autofailover",
  // https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1275). Found by a
  // review once the correction made the change look safe.
  if (modeFrom === 'enabled' && modeTo === 'enabled') {
    const crossing = replicasCrossingZero(before, after, { count: 'ReplicasPerNodeGroup', none: 0, flag: 'MultiAZEnabled' });
    if (crossing) {
      return crossing.on
        ? `${crossing.change} in one update: Multi-AZ needs the replicas first, and a cluster-mode group without replicas is reported to fail later updates ("at least one read replica to enable autofailover"); create the cache with the replicas it needs`
        : `${crossing.change} in one update: ElastiCache keeps the last replica while Multi-AZ is on, and CloudFormation does not say it turns Multi-AZ off first`;
    }
  }
  return undefined;
}

/**
 * A replica count moving between none (`none`: the count without replicas) and some while `flag`
 * (automatic failover, Multi-AZ) turns on or off in the same update: the change as said, and whether
 * the flag turns on; undefined otherwise.
 */
function replicasCrossingZero(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  names: { readonly count: string; readonly none: number; readonly flag: string },
): { readonly change: string; readonly on: boolean } | undefined {
  const [from, to] = [Number(before[names.count] ?? names.none), Number(after[names.count] ?? names.none)];
  const [flagFrom, flagTo] = [before[names.flag] === true, after[names.flag] === true];
  if (flagFrom === flagTo || from === to || Math.min(from, to) !== names.none) return undefined;
  return { change: `${names.count} ${from} → ${to} with ${names.flag} ${flagFrom} → ${flagTo}`, on: flagTo };
}

/**
 * What may make the service refuse an update, which the plan cannot decide from the templates: said
 * as notes on the row, not as a verdict.
 */
export function cautions(type: string, previous: CfnResource, current: CfnResource): string[] {
  if (type !== SUBNET_GROUP) return [];
  // "You cannot delete a subnet ID from a subnet group if a cache is currently using that subnet."
  // https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SubnetGroups.Modifying.html
  const before = previous.Properties?.SubnetIds;
  const after = current.Properties?.SubnetIds;
  if (!Array.isArray(before) || !Array.isArray(after)) return [];
  const dropped = before.filter((subnet): subnet is string => typeof subnet === 'string' && !after.includes(subnet));
  if (dropped.length === 0) return [];
  return [`SubnetIds drops ${dropped.join(', ')}: ElastiCache refuses to remove a subnet a cache node is in, and the plan cannot see where the nodes are (add the new subnets first; remove old ones only once no node uses them)`];
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
  if (engineChange(previous, current) === 'valkey → redis') return `Engine valkey → redis: ElastiCache upgrades Redis OSS to Valkey in place, not back; ${NEW_STACK}`;
  const from = before.MajorEngineVersion;
  const to = after.MajorEngineVersion;
  if (typeof from === 'string' && typeof to === 'string' && before.Engine === after.Engine && compareVersions(to, from) < 0) {
    return `MajorEngineVersion ${from} → ${to} is a downgrade; ElastiCache only upgrades engine versions`;
  }
  return undefined;
}

/**
 * ElastiCache's rules for users and user groups of the two engines
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html, "RBAC with Valkey"):
 * "Valkey users are restricted to Valkey user group associations only", "VALKEY user groups can only
 * be associated to VALKEY clusters" ("When using RBAC with Redis OSS clusters, only user groups with
 * the engine "REDIS" can be used"), while a Valkey group may hold Redis OSS users with a password or
 * IAM, and a Valkey cache may use a Redis OSS group. CloudFormation updates a resource after the
 * resources it depends on (DependsOn, Ref, Fn::GetAtt), so from Redis OSS to Valkey the users change
 * while their group is still Redis OSS, and the group while its cache is: each step is refused. From
 * Valkey to Redis OSS the users and the group may change; the cache may not (see {@link refusal}).
 */
function userEngineRefusal(previous: CfnResource, current: CfnResource, deployed: DeployedStack): string | undefined {
  if (engineChange(previous, current) !== 'redis → valkey') return undefined;
  const userId = previous.Properties?.UserId;
  for (const [groupId, group] of Object.entries(deployed.resources)) {
    if (group.Type !== USER_GROUP || engineOf(group) !== 'redis') continue;
    const members = group.Properties?.UserIds;
    if (!Array.isArray(members) || !members.some((member) => (userId !== undefined && member === userId) || refersTo(member, deployed.id))) continue;
    const order = dependsOn(group, deployed.id) ? 'first, as the group depends on it' : 'nothing makes CloudFormation change the group first';
    return `Engine redis → valkey: ElastiCache keeps Valkey users in Valkey user groups only, and user group ${nameOf(group, 'UserGroupId', groupId)} is still engine redis when CloudFormation updates the user (${order}); ${NEW_STACK}`;
  }
  return undefined;
}

function userGroupEngineRefusal(previous: CfnResource, current: CfnResource, deployed: DeployedStack): string | undefined {
  if (engineChange(previous, current) !== 'redis → valkey') return undefined;
  const groupId = previous.Properties?.UserGroupId;
  for (const [cacheId, cache] of Object.entries(deployed.resources)) {
    if ((cache.Type !== REPLICATION_GROUP && cache.Type !== SERVERLESS_CACHE) || engineOf(cache) !== 'redis') continue;
    const props = cache.Properties ?? {};
    const attached = cache.Type === REPLICATION_GROUP ? props.UserGroupIds : [props.UserGroupId];
    if (!Array.isArray(attached) || !attached.some((id) => (groupId !== undefined && id === groupId) || refersTo(id, deployed.id))) continue;
    const name = cache.Type === REPLICATION_GROUP ? `replication group ${nameOf(cache, 'ReplicationGroupId', cacheId)}` : `serverless cache ${nameOf(cache, 'ServerlessCacheName', cacheId)}`;
    return `Engine redis → valkey: ElastiCache attaches Valkey user groups to Valkey caches only, and ${name} is still engine redis when CloudFormation updates the group (first, as the cache depends on it); ${NEW_STACK}`;
  }
  return undefined;
}

type EngineChange = 'redis → valkey' | 'valkey → redis' | undefined;

function engineChange(previous: CfnResource, current: CfnResource): EngineChange {
  const from = engineOf(previous);
  const to = engineOf(current);
  if (from === 'redis' && to === 'valkey') return 'redis → valkey';
  if (from === 'valkey' && to === 'redis') return 'valkey → redis';
  return undefined;
}

/** The resource's Engine in lower case (ElastiCache takes "VALKEY" and "valkey"), or undefined when not a literal. */
function engineOf(resource: CfnResource): string | undefined {
  const engine = resource.Properties?.Engine;
  return typeof engine === 'string' ? engine.toLowerCase() : undefined;
}

function refersTo(value: unknown, id: string): boolean {
  return isRecord(value) && (value.Ref === id || (Array.isArray(value['Fn::GetAtt']) && value['Fn::GetAtt'][0] === id));
}

function dependsOn(resource: CfnResource, id: string): boolean {
  const on = resource.DependsOn;
  return on === id || (Array.isArray(on) && on.includes(id));
}

/** `"name"` when the property is a literal, else the logical id. */
function nameOf(resource: CfnResource, property: string, logicalId: string): string {
  const name = resource.Properties?.[property];
  return typeof name === 'string' ? JSON.stringify(name) : logicalId;
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
