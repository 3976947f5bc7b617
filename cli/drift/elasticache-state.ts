import type * as ElastiCache from '@aws-sdk/client-elasticache';
import type { DeploymentKind } from '../../infra/config.js';
import { awsCallFailure } from './aws-call-failure.js';

/**
 * What the ElastiCache API says about a deployment, read with the Describe* calls only:
 * - DescribeReplicationGroups (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeReplicationGroups.html):
 *   `Status`, `Engine`, `ClusterEnabled`, `TransitEncryptionEnabled`, `TransitEncryptionMode`
 *   (`preferred` | `required`), `AuthTokenEnabled`, `UserGroupIds`, `MemberClusters`; an unknown id
 *   is a ReplicationGroupNotFoundFault. It carries no engine version:
 * - DescribeCacheClusters (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeCacheClusters.html)
 *   of a member cluster gives `EngineVersion` (a full version, e.g. `7.1.0`);
 * - DescribeUserGroups (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeUserGroups.html):
 *   `Status` ("creating", "active", "modifying", "deleting"), `UserIds`, `PendingChanges`
 *   (UserGroupPendingChanges, https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_UserGroupPendingChanges.html:
 *   `UserIdsToAdd`/`UserIdsToRemove`), `ReplicationGroups`; UserGroupNotFoundFault;
 * - DescribeUsers (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeUsers.html)
 *   by `UserId`: `UserName`, `Status` ("active", "modifying", "deleting"), `AccessString` (possibly
 *   reworded: "a simpler string may be used instead of the one provided", Clusters.RBAC),
 *   `UserGroupIds`, `Authentication.Type` (`password`, `iam`, `no-password`) and `PasswordCount`;
 *   UserNotFoundFault;
 * - DescribeServerlessCaches (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeServerlessCaches.html),
 *   a ServerlessCache (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ServerlessCache.html):
 *   `Status`, `Engine`, `MajorEngineVersion`, `FullEngineVersion`, `UserGroupId`; ServerlessCacheNotFoundFault.
 * The cache of the kind the config describes is read first; when it is not found, the other kind of
 * that name is looked up, so the report can say the deployment is of another kind.
 * Every call needs its `elasticache:Describe*` permission; a missing region, missing credentials and
 * a denied call are each reported as such (awsCallFailure).
 */
export interface DeployedState {
  /** Read for a replication-group config; for a serverless one only when no serverless cache has the name. */
  readonly replicationGroup: ElastiCache.ReplicationGroup | undefined;
  /** Read for a serverless config; for a replication-group one only when no replication group has the id. */
  readonly serverlessCache: ElastiCache.ServerlessCache | undefined;
  /** The engine version of the replication group's first member cluster. */
  readonly engineVersion: string | undefined;
  readonly userGroup: ElastiCache.UserGroup | undefined;
  /** Users by id: the expected ones, every member of the user group and every user a pending change adds to it; undefined = not found. */
  readonly users: ReadonlyMap<string, ElastiCache.User | undefined>;
}

/** Reads the deployment's state; fails naming the cause and its fix (awsCallFailure) when a call fails otherwise than "not found". */
export async function readDeployedState(
  ids: { readonly kind: DeploymentKind; readonly cacheName: string; readonly userGroupId: string; readonly userIds: readonly string[] },
  region: string | undefined,
): Promise<DeployedState> {
  const sdk = await import('@aws-sdk/client-elasticache');
  const client = new sdk.ElastiCacheClient(region ? { region } : {});
  const call = async <T>(what: string, send: () => Promise<T>, notFound: string): Promise<T | undefined> => {
    try {
      return await send();
    } catch (error) {
      if ((error as Error).name === notFound) return undefined;
      throw awsCallFailure('ElastiCache', what, error);
    }
  };
  try {
    const readReplicationGroup = async () =>
      (await call('DescribeReplicationGroups', () => client.send(new sdk.DescribeReplicationGroupsCommand({ ReplicationGroupId: ids.cacheName })), 'ReplicationGroupNotFoundFault'))?.ReplicationGroups?.[0];
    const readServerlessCache = async () =>
      (await call('DescribeServerlessCaches', () => client.send(new sdk.DescribeServerlessCachesCommand({ ServerlessCacheName: ids.cacheName })), 'ServerlessCacheNotFoundFault'))?.ServerlessCaches?.[0];
    let replicationGroup: ElastiCache.ReplicationGroup | undefined;
    let serverlessCache: ElastiCache.ServerlessCache | undefined;
    if (ids.kind === 'serverless') {
      serverlessCache = await readServerlessCache();
      if (!serverlessCache) replicationGroup = await readReplicationGroup();
    } else {
      replicationGroup = await readReplicationGroup();
      if (!replicationGroup) serverlessCache = await readServerlessCache();
    }
    const member = replicationGroup?.MemberClusters?.[0];
    const clusters = member
      ? await call('DescribeCacheClusters', () => client.send(new sdk.DescribeCacheClustersCommand({ CacheClusterId: member })), 'CacheClusterNotFoundFault')
      : undefined;
    const userGroups = await call('DescribeUserGroups', () => client.send(new sdk.DescribeUserGroupsCommand({ UserGroupId: ids.userGroupId })), 'UserGroupNotFoundFault');
    const userGroup = userGroups?.UserGroups?.[0];
    const users = new Map<string, ElastiCache.User | undefined>();
    // Those a pending change adds too (UserGroupPendingChanges.UserIdsToAdd), so that drift can say who is joining.
    for (const userId of new Set([...ids.userIds, ...(userGroup?.UserIds ?? []), ...(userGroup?.PendingChanges?.UserIdsToAdd ?? [])])) {
      const found = await call('DescribeUsers', () => client.send(new sdk.DescribeUsersCommand({ UserId: userId })), 'UserNotFoundFault');
      users.set(userId, found?.Users?.find((u) => u.UserId === userId));
    }
    return { replicationGroup, serverlessCache, engineVersion: clusters?.CacheClusters?.[0]?.EngineVersion, userGroup, users };
  } finally {
    client.destroy();
  }
}
