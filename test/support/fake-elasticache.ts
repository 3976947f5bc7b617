import {
  CacheClusterNotFoundFault,
  DescribeCacheClustersCommand,
  type DescribeCacheClustersCommandInput,
  DescribeReplicationGroupsCommand,
  type DescribeReplicationGroupsCommandInput,
  DescribeServerlessCachesCommand,
  type DescribeServerlessCachesCommandInput,
  DescribeUserGroupsCommand,
  type DescribeUserGroupsCommandInput,
  DescribeUsersCommand,
  type DescribeUsersCommandInput,
  ElastiCacheClient,
  InvalidParameterValueException,
  InvalidUserStateFault,
  ModifyUserCommand,
  type ModifyUserCommandInput,
  type ReplicationGroup,
  ReplicationGroupNotFoundFault,
  type ServerlessCache,
  ServerlessCacheNotFoundFault,
  type User,
  UserGroupNotFoundFault,
  UserNotFoundFault,
} from '@aws-sdk/client-elasticache';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';

/** One RBAC user of the fake control plane. */
export interface FakeUser {
  readonly userId: string;
  userName: string;
  readonly arn: string;
  status: string;
  authentication: 'password' | 'iam' | 'no-password';
  passwords: readonly string[];
  /** As given to CreateUser/ModifyUser; DescribeUsers returns it through {@link FakeElastiCache.describeAccessString}. */
  accessString: string;
}

/** One RBAC user group of the fake control plane. */
export interface FakeUserGroup {
  readonly userGroupId: string;
  status: string;
  userIds: string[];
  replicationGroups: string[];
  pendingChanges?: { UserIdsToAdd?: string[]; UserIdsToRemove?: string[] };
}

/** Page size of the Describe* calls when MaxRecords is not given (DescribeReplicationGroups: "Default: 100"). */
const DEFAULT_PAGE = 100;

/**
 * The ElastiCache control plane for RBAC users behind aws-sdk-client-mock: DescribeUsers and
 * ModifyUser, as the ElastiCache API reference describes them (Status "active", "modifying" or
 * "deleting"; ModifyUser refuses a user that is not active with InvalidUserStateFault, takes one or
 * two passwords, and answers while the user is `modifying`: the reply of AWS's example that changes
 * only the access string says `"Status": "modifying"`, aws/aws-cli awscli/examples/elasticache/modify-user.rst).
 * ModifyUser hands the passwords to {@link applyPasswords} (a real Redis in the rehearsal) and the
 * access string to {@link applyAccessString}, and reports `active` again once that is done and
 * {@link modifyingPolls} more DescribeUsers calls have seen it modifying. Call {@link restore} when done.
 *
 * For drift, the read side of a deployment (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/):
 * - DescribeUsers with a UserId (UserNotFoundFault when unknown) or without (every user, in pages of
 *   MaxRecords with a Marker); each user with `AccessString` as {@link describeAccessString} gives it,
 *   `UserGroupIds`, `Authentication { Type, PasswordCount }`, `MinimumEngineVersion`;
 * - ModifyUser's `AccessString` replaces the user's string, `AppendAccessString` appends to it
 *   (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html); the
 *   new string goes to {@link applyAccessString} (a real Redis: the change takes effect there);
 * - DescribeUserGroups (UserGroupNotFoundFault), DescribeReplicationGroups (ReplicationGroupNotFoundFault),
 *   DescribeCacheClusters (CacheClusterNotFoundFault), DescribeServerlessCaches
 *   (ServerlessCacheNotFoundFault), each from what the test added. A replication group's id and a
 *   serverless cache's name are "stored as a lowercase string" (API reference, CreateReplicationGroup
 *   `ReplicationGroupId`, CreateServerlessCache `ServerlessCacheName`); whether a Describe call given
 *   capitals finds them AWS does not document. The fake compares both lowercased (tests add lowercase
 *   ids, as ElastiCache would hold them). Nothing depends on it: the config's ids are lowercase
 *   (identifierProblem).
 */
export class FakeElastiCache {
  readonly mock: AwsClientStub<ElastiCacheClient>;
  readonly users = new Map<string, FakeUser>();
  /** Where ModifyUser's passwords go. @default nowhere (the fake only records them) */
  applyPasswords: (userId: string, passwords: readonly string[]) => Promise<void> = async () => {};
  /** DescribeUsers calls that report `modifying` after a ModifyUser before `active`. */
  modifyingPolls = 1;
  /** A user that never leaves `modifying` (an operation stuck on AWS's side). */
  stuck = false;
  /** Where ModifyUser's access strings go (as given). @default nowhere (the fake only records them) */
  applyAccessString: (userId: string, userName: string, accessString: string) => Promise<void> = async () => {};
  /**
   * The `AccessString` DescribeUsers and ModifyUser return for the string a user was given. AWS may
   * return another form: "a simpler string may be used instead of the one provided if there are
   * redundancies" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html). Its
   * examples return the engine's own description of the user: `off +get ~keys*` as
   * `off ~keys* -@all +get` (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/User-Secrets-Manager.html),
   * `on ~app::* -@all +@read` as `on ~app::* -@all +@read +@hash +@bitmap +@geo -setbit …`
   * (aws/aws-cli awscli/examples/elasticache/create-user.rst); a string without redundancies comes
   * back as given (`on ~* +@all`, modify-user.rst). Set it to a real engine's description
   * (test/support/engine-access-string.ts) to get the form a server prints.
   * @default the string as given
   */
  describeAccessString: (accessString: string) => Promise<string> = async (accessString) => accessString;
  readonly userGroups = new Map<string, FakeUserGroup>();
  readonly replicationGroups = new Map<string, ReplicationGroup>();
  /** Cache cluster id → engine version (DescribeCacheClusters). */
  readonly cacheClusters = new Map<string, string>();
  /** By name, lowercase (as ElastiCache stores it). */
  readonly serverlessCaches = new Map<string, ServerlessCache>();
  /** An error the next call of a Describe* operation (by name, e.g. `DescribeUserGroups`) throws instead of answering. */
  readonly failNext = new Map<string, Error>();
  /** Errors the next ModifyUser calls throw, one each, before the fake behaves again (a function sees the input). */
  readonly modifyUserFailures: Array<Error | ((input: ModifyUserCommandInput) => Error)> = [];
  private readonly applying = new Map<string, { done: boolean; promise: Promise<void>; pollsLeft: number }>();

  constructor() {
    this.mock = mockClient(ElastiCacheClient);
    this.mock.on(DescribeUsersCommand).callsFake(async (input: DescribeUsersCommandInput) => {
      this.throwInjected('DescribeUsers');
      if (input.UserId === undefined) {
        const all = [...this.users.values()];
        const start = Number(input.Marker ?? 0);
        const page = all.slice(start, start + (input.MaxRecords ?? DEFAULT_PAGE));
        const next = start + page.length;
        return { Users: await Promise.all(page.map((u) => this.describeUser(u))), Marker: next < all.length ? String(next) : undefined };
      }
      const user = this.user(input.UserId);
      const change = this.applying.get(user.userId);
      if (user.status === 'modifying' && change?.done && !this.stuck && change.pollsLeft-- <= 0) user.status = 'active';
      return { Users: [await this.describeUser(user)] };
    });
    this.mock.on(DescribeUserGroupsCommand).callsFake(async (input: DescribeUserGroupsCommandInput) => {
      this.throwInjected('DescribeUserGroups');
      const groups = input.UserGroupId === undefined ? [...this.userGroups.values()] : [this.userGroups.get(input.UserGroupId)];
      if (groups.some((g) => g === undefined)) throw new UserGroupNotFoundFault({ message: `User group ${input.UserGroupId} not found.`, $metadata: {} });
      return {
        UserGroups: (groups as FakeUserGroup[]).map((g) => ({
          UserGroupId: g.userGroupId,
          Status: g.status,
          Engine: 'redis',
          UserIds: [...g.userIds],
          MinimumEngineVersion: '6.0',
          PendingChanges: g.pendingChanges,
          ReplicationGroups: [...g.replicationGroups],
          ARN: `arn:aws:elasticache:eu-west-1:123456789012:usergroup:${g.userGroupId}`,
        })),
      };
    });
    this.mock.on(DescribeReplicationGroupsCommand).callsFake(async (input: DescribeReplicationGroupsCommandInput) => {
      this.throwInjected('DescribeReplicationGroups');
      const wanted = input.ReplicationGroupId?.toLowerCase();
      const found = [...this.replicationGroups.values()].filter((g) => wanted === undefined || g.ReplicationGroupId?.toLowerCase() === wanted);
      if (wanted !== undefined && found.length === 0) throw new ReplicationGroupNotFoundFault({ message: `ReplicationGroup ${input.ReplicationGroupId} not found.`, $metadata: {} });
      return { ReplicationGroups: found };
    });
    this.mock.on(DescribeCacheClustersCommand).callsFake(async (input: DescribeCacheClustersCommandInput) => {
      this.throwInjected('DescribeCacheClusters');
      const version = this.cacheClusters.get(input.CacheClusterId ?? '');
      if (version === undefined) throw new CacheClusterNotFoundFault({ message: `CacheCluster ${input.CacheClusterId} not found.`, $metadata: {} });
      return { CacheClusters: [{ CacheClusterId: input.CacheClusterId, EngineVersion: version, CacheClusterStatus: 'available' }] };
    });
    this.mock.on(DescribeServerlessCachesCommand).callsFake(async (input: DescribeServerlessCachesCommandInput) => {
      this.throwInjected('DescribeServerlessCaches');
      const cache = this.serverlessCaches.get(input.ServerlessCacheName?.toLowerCase() ?? '');
      if (input.ServerlessCacheName !== undefined && !cache) throw new ServerlessCacheNotFoundFault({ message: `Serverless cache ${input.ServerlessCacheName} not found.`, $metadata: {} });
      return { ServerlessCaches: cache ? [cache] : [...this.serverlessCaches.values()] };
    });
    this.mock.on(ModifyUserCommand).callsFake(async (input: ModifyUserCommandInput) => {
      const failure = this.modifyUserFailures.shift();
      if (failure) throw typeof failure === 'function' ? failure(input) : failure;
      const user = this.user(input.UserId ?? '');
      if (user.status !== 'active') {
        throw new InvalidUserStateFault({ message: `User ${user.userId} is not in active state.`, $metadata: {} });
      }
      const accessString = input.AccessString !== undefined || input.AppendAccessString !== undefined ? input.AccessString ?? `${user.accessString} ${input.AppendAccessString}` : undefined;
      if (input.Passwords === undefined && accessString !== undefined) {
        this.startChange(user, async () => {
          await this.applyAccessString(user.userId, user.userName, accessString);
          user.accessString = accessString;
        });
        return { UserId: user.userId, UserName: user.userName, Status: 'modifying', ARN: user.arn, AccessString: await this.describeAccessString(accessString) };
      }
      const passwords = [...(input.Passwords ?? [])];
      // ModifyUser: "The passwords belonging to the user. You are allowed up to two." (ElastiCache API reference)
      if (passwords.length < 1 || passwords.length > 2) {
        throw new InvalidParameterValueException({ message: `Passwords: ${passwords.length} given; a user has one or two.`, $metadata: {} });
      }
      // "Changes user password(s) and/or access string" (ModifyUser, ElastiCache API reference,
      // https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html): both in one call apply both.
      this.startChange(user, async () => {
        await this.applyPasswords(user.userId, passwords);
        if (accessString !== undefined) {
          await this.applyAccessString(user.userId, user.userName, accessString);
          user.accessString = accessString;
        }
        user.passwords = passwords;
      });
      return { UserId: user.userId, UserName: user.userName, Status: 'modifying', ARN: user.arn };
    });
  }

  /** Adds an active password user with this access string (DescribeUsers returns it through {@link describeAccessString}). */
  add(userId: string, arn: string, passwords: readonly string[], userName = userId, accessString = 'off -@all'): FakeUser {
    const user: FakeUser = { userId, userName, arn, status: 'active', authentication: 'password', passwords, accessString };
    this.users.set(userId, user);
    return user;
  }

  /** Adds an active user group with these members, serving these replication groups. */
  addUserGroup(userGroupId: string, userIds: readonly string[], replicationGroups: readonly string[] = []): FakeUserGroup {
    const group: FakeUserGroup = { userGroupId, status: 'active', userIds: [...userIds], replicationGroups: [...replicationGroups] };
    this.userGroups.set(userGroupId, group);
    return group;
  }

  /** Adds a replication group (DescribeReplicationGroups returns it as given) and its member clusters' engine version. */
  addReplicationGroup(group: ReplicationGroup, engineVersion: string): void {
    this.replicationGroups.set(group.ReplicationGroupId!.toLowerCase(), group);
    for (const member of group.MemberClusters ?? []) this.cacheClusters.set(member, engineVersion);
  }

  private throwInjected(operation: string): void {
    const error = this.failNext.get(operation);
    if (error) {
      this.failNext.delete(operation);
      throw error;
    }
  }

  /** Marks `user` modifying while `apply` runs; DescribeUsers reports it active again once done (see the class comment). */
  private startChange(user: FakeUser, apply: () => Promise<void>): void {
    user.status = 'modifying';
    const change = { done: false, pollsLeft: this.modifyingPolls, promise: Promise.resolve() };
    change.promise = apply().then(() => {
      change.done = true;
    });
    this.applying.set(user.userId, change);
  }

  private async describeUser(user: FakeUser): Promise<User> {
    return {
      UserId: user.userId,
      UserName: user.userName,
      Status: user.status,
      Engine: 'valkey',
      MinimumEngineVersion: '6.0',
      AccessString: await this.describeAccessString(user.accessString),
      UserGroupIds: [...this.userGroups.values()].filter((g) => g.userIds.includes(user.userId)).map((g) => g.userGroupId),
      ARN: user.arn,
      Authentication: { Type: user.authentication, PasswordCount: user.passwords.length },
    };
  }

  /** Resolves once every change ModifyUser started (passwords, access string) has been applied (an event, not a sleep). */
  async settled(): Promise<void> {
    await Promise.all([...this.applying.values()].map((change) => change.promise));
  }

  restore(): void {
    this.mock.restore();
  }

  private user(userId: string): FakeUser {
    const user = this.users.get(userId);
    if (!user) throw new UserNotFoundFault({ message: `User ${userId} not found.`, $metadata: {} });
    return user;
  }
}
