import type * as ElastiCache from '@aws-sdk/client-elasticache';
import { CliFailure } from '../exit-codes.js';

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
 *   (`UserIdsToAdd`/`UserIdsToRemove`), `ReplicationGroups`; UserGroupNotFoundFault;
 * - DescribeUsers (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeUsers.html)
 *   by `UserId`: `UserName`, `Status` ("active", "modifying", "deleting"), `AccessString` (as
 *   stored: without the directives), `UserGroupIds`, `Authentication.Type` (`password`, `iam`,
 *   `no-password`) and `PasswordCount`; UserNotFoundFault;
 * - DescribeServerlessCaches (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeServerlessCaches.html)
 *   when no replication group has the id: a serverless cache of that name is another kind of
 *   deployment than the config describes; ServerlessCacheNotFoundFault.
 * Every call needs its `elasticache:Describe*` permission; an AccessDenied is reported as such.
 */
export interface DeployedState {
  readonly replicationGroup: ElastiCache.ReplicationGroup | undefined;
  /** Set when no replication group has the id but a serverless cache has that name. */
  readonly serverlessCache: ElastiCache.ServerlessCache | undefined;
  /** The engine version of the group's first member cluster. */
  readonly engineVersion: string | undefined;
  readonly userGroup: ElastiCache.UserGroup | undefined;
  /** Users by id: the expected ones and every member of the user group; undefined = not found. */
  readonly users: ReadonlyMap<string, ElastiCache.User | undefined>;
}

/** Reads the deployment's state; fails with the API's error (and the permission to check) when a call fails otherwise than "not found". */
export async function readDeployedState(
  ids: { readonly replicationGroupId: string; readonly userGroupId: string; readonly userIds: readonly string[] },
  region: string | undefined,
): Promise<DeployedState> {
  const sdk = await import('@aws-sdk/client-elasticache');
  const client = new sdk.ElastiCacheClient(region ? { region } : {});
  const call = async <T>(what: string, send: () => Promise<T>, notFound: string): Promise<T | undefined> => {
    try {
      return await send();
    } catch (error) {
      if ((error as Error).name === notFound) return undefined;
      throw new CliFailure(`ElastiCache ${what} failed: ${(error as Error).name}: ${(error as Error).message} (the caller needs elasticache:${what})`, { cause: error });
    }
  };
  try {
    const groups = await call('DescribeReplicationGroups', () => client.send(new sdk.DescribeReplicationGroupsCommand({ ReplicationGroupId: ids.replicationGroupId })), 'ReplicationGroupNotFoundFault');
    const replicationGroup = groups?.ReplicationGroups?.[0];
    let serverlessCache: ElastiCache.ServerlessCache | undefined;
    if (!replicationGroup) {
      const serverless = await call('DescribeServerlessCaches', () => client.send(new sdk.DescribeServerlessCachesCommand({ ServerlessCacheName: ids.replicationGroupId })), 'ServerlessCacheNotFoundFault');
      serverlessCache = serverless?.ServerlessCaches?.[0];
    }
    const member = replicationGroup?.MemberClusters?.[0];
    const clusters = member
      ? await call('DescribeCacheClusters', () => client.send(new sdk.DescribeCacheClustersCommand({ CacheClusterId: member })), 'CacheClusterNotFoundFault')
      : undefined;
    const userGroups = await call('DescribeUserGroups', () => client.send(new sdk.DescribeUserGroupsCommand({ UserGroupId: ids.userGroupId })), 'UserGroupNotFoundFault');
    const userGroup = userGroups?.UserGroups?.[0];
    const users = new Map<string, ElastiCache.User | undefined>();
    for (const userId of new Set([...ids.userIds, ...(userGroup?.UserIds ?? [])])) {
      const found = await call('DescribeUsers', () => client.send(new sdk.DescribeUsersCommand({ UserId: userId })), 'UserNotFoundFault');
      users.set(userId, found?.Users?.find((u) => u.UserId === userId));
    }
    return { replicationGroup, serverlessCache, engineVersion: clusters?.CacheClusters?.[0]?.EngineVersion, userGroup, users };
  } finally {
    client.destroy();
  }
}
