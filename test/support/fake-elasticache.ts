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

/**
 * The engine of a user or user group: CreateUser and CreateUserGroup take `Engine`, "The options are
 * valkey or redis", and DescribeUsers/DescribeUserGroups return it
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateUser.html,
 * API_CreateUserGroup.html). Which go together, per the RBAC page
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html):
 * - "A user group configured for the "VALKEY" engine can only contain users who are using an
 *   authentication mechanism (either password or IAM). This means all users with the engine
 *   "VALKEY", and any other users with the engine "Redis" who have their setup configured to
 *   authenticate with password or IAM, can be in this user group";
 * - "Valkey users are restricted to Valkey user group associations only";
 * - "When using RBAC with Valkey clusters, both user groups with engine "VALKEY" and with engine
 *   "REDIS" can be used"; "When using RBAC with Redis OSS clusters, only user groups with the engine
 *   "REDIS" can be used" ("VALKEY user groups can only be associated to VALKEY clusters").
 * The fake holds the test to them: describing a group or cache that breaks one throws (a state AWS
 * would have refused to create). A test's users and groups are `redis` unless it says otherwise:
 * the engine whose groups both kinds of cache take, and whose groups may hold the built-in
 * password-less `default` user.
 */
export type UserEngine = 'valkey' | 'redis';

/** One RBAC user of the fake control plane. */
export interface FakeUser {
  readonly userId: string;
  userName: string;
  readonly arn: string;
  status: string;
  authentication: 'password' | 'iam' | 'no-password';
  /** CreateUser's `Engine`, returned by DescribeUsers as set (see {@link UserEngine}). */
  engine: UserEngine;
  passwords: readonly string[];
  /** As given to CreateUser/ModifyUser; DescribeUsers returns it through {@link FakeElastiCache.describeAccessString}. */
  accessString: string;
}

/** One RBAC user group of the fake control plane. */
export interface FakeUserGroup {
  readonly userGroupId: string;
  status: string;
  /** CreateUserGroup's `Engine`, returned by DescribeUserGroups as set (see {@link UserEngine}). */
  engine: UserEngine;
  userIds: string[];
  replicationGroups: string[];
  pendingChanges?: { UserIdsToAdd?: string[]; UserIdsToRemove?: string[] };
}

/**
 * How the fake pages a Describe* call that lists (no id given), per the API reference
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/):
 * - DescribeReplicationGroups (API_DescribeReplicationGroups.html): `MaxRecords` "Default: 100
 *   Constraints: minimum 20; maximum 100", `Marker`; a value outside that range is refused with
 *   InvalidParameterValue, an error the page lists;
 * - DescribeUsers (API_DescribeUsers.html) and DescribeUserGroups (API_DescribeUserGroups.html):
 *   `MaxRecords` ("If more records exist than the specified MaxRecords value, a marker is included in
 *   the response so that the remaining results can be retrieved") and `Marker`, with no default and
 *   no bounds documented: the fake uses 100, the default of ElastiCache's other Describe* calls,
 *   and refuses no value (a test that relies on a bound AWS does not document fails in the fake);
 * - DescribeServerlessCaches (API_DescribeServerlessCaches.html): `MaxResults` ("The default is
 *   50", no bounds documented) and `NextToken`.
 * The marker is opaque ("An optional marker returned from a prior request"); one the fake never
 * issued, or a MaxRecords below 1, is a mistake of the test, thrown as a plain Error (AWS documents
 * no answer to either).
 */
interface PageRule {
  readonly operation: string;
  readonly size: number;
  readonly bounds?: readonly [number, number];
}
const PAGES = {
  DescribeReplicationGroups: { operation: 'DescribeReplicationGroups', size: 100, bounds: [20, 100] },
  DescribeUsers: { operation: 'DescribeUsers', size: 100 },
  DescribeUserGroups: { operation: 'DescribeUserGroups', size: 100 },
  DescribeServerlessCaches: { operation: 'DescribeServerlessCaches', size: 50 },
} satisfies Record<string, PageRule>;

/** The page of `all` after `marker` (as issued by an earlier page), at most `max` (else the operation's default) long, and the marker of the next page, if any. */
function pageOf<T>(rule: PageRule, all: readonly T[], marker: string | undefined, max: number | undefined): { items: T[]; next: string | undefined } {
  if (max !== undefined && rule.bounds && (max < rule.bounds[0] || max > rule.bounds[1])) {
    throw new InvalidParameterValueException({ message: `${rule.operation}: MaxRecords ${max}: the value must be between ${rule.bounds[0]} and ${rule.bounds[1]}.`, $metadata: {} });
  }
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new Error(`FakeElastiCache ${rule.operation}: page size ${max}: AWS documents no answer to a size below 1`);
  let start = 0;
  if (marker !== undefined) {
    const match = /^fake-page-(\d+)$/.exec(marker);
    if (!match) throw new Error(`FakeElastiCache ${rule.operation}: marker "${marker}" was not issued by this fake (pass the one a previous page returned)`);
    start = Number(match[1]);
  }
  const items = all.slice(start, start + (max ?? rule.size));
  const end = start + items.length;
  return { items, next: end < all.length ? `fake-page-${end}` : undefined };
}

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
 * - DescribeUsers with a UserId (UserNotFoundFault when unknown) or without (every user, in pages:
 *   {@link pageOf}); each user with `AccessString` as {@link describeAccessString} gives it,
 *   `UserGroupIds`, `Authentication { Type, PasswordCount }`, `MinimumEngineVersion`;
 * - ModifyUser's `AccessString` replaces the user's string, `AppendAccessString` appends to it
 *   (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html); the
 *   new string goes to {@link applyAccessString} (a real Redis: the change takes effect there);
 * - DescribeUserGroups (UserGroupNotFoundFault), DescribeReplicationGroups (ReplicationGroupNotFoundFault),
 *   DescribeCacheClusters (CacheClusterNotFoundFault), DescribeServerlessCaches
 *   (ServerlessCacheNotFoundFault), each from what the test added; without an id, every one in
 *   pages as the reference documents for each call ({@link pageOf}). A replication group's id and a
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
      // "Engine: The engine." and "Filters: Filter to determine the list of User IDs to return." (API_DescribeUsers.html): what they match is not documented.
      if (input.Engine !== undefined || input.Filters !== undefined) throw new Error('FakeElastiCache DescribeUsers: Engine and Filters are not modelled (AWS does not document what they match)');
      if (input.UserId === undefined) {
        const page = pageOf(PAGES.DescribeUsers, [...this.users.values()], input.Marker, input.MaxRecords);
        return { Users: await Promise.all(page.items.map((u) => this.describeUser(u))), Marker: page.next };
      }
      const user = this.user(input.UserId);
      const change = this.applying.get(user.userId);
      if (user.status === 'modifying' && change?.done && !this.stuck && change.pollsLeft-- <= 0) user.status = 'active';
      return { Users: [await this.describeUser(user)] };
    });
    this.mock.on(DescribeUserGroupsCommand).callsFake(async (input: DescribeUserGroupsCommandInput) => {
      this.throwInjected('DescribeUserGroups');
      const one = input.UserGroupId === undefined ? undefined : this.userGroups.get(input.UserGroupId);
      if (input.UserGroupId !== undefined && !one) throw new UserGroupNotFoundFault({ message: `User group ${input.UserGroupId} not found.`, $metadata: {} });
      const page = one ? { items: [one], next: undefined } : pageOf(PAGES.DescribeUserGroups, [...this.userGroups.values()], input.Marker, input.MaxRecords);
      for (const group of page.items) this.checkMembers(group);
      return {
        Marker: page.next,
        UserGroups: page.items.map((g) => ({
          UserGroupId: g.userGroupId,
          Status: g.status,
          Engine: g.engine,
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
      if (wanted === undefined) {
        const page = pageOf(PAGES.DescribeReplicationGroups, [...this.replicationGroups.values()], input.Marker, input.MaxRecords);
        return { ReplicationGroups: page.items, Marker: page.next };
      }
      const found = [...this.replicationGroups.values()].find((g) => g.ReplicationGroupId?.toLowerCase() === wanted);
      if (!found) throw new ReplicationGroupNotFoundFault({ message: `ReplicationGroup ${input.ReplicationGroupId} not found.`, $metadata: {} });
      this.checkCacheGroups(`replication group ${found.ReplicationGroupId}`, found.Engine, found.UserGroupIds ?? []);
      return { ReplicationGroups: [found] };
    });
    this.mock.on(DescribeCacheClustersCommand).callsFake(async (input: DescribeCacheClustersCommandInput) => {
      this.throwInjected('DescribeCacheClusters');
      const version = this.cacheClusters.get(input.CacheClusterId ?? '');
      if (version === undefined) throw new CacheClusterNotFoundFault({ message: `CacheCluster ${input.CacheClusterId} not found.`, $metadata: {} });
      return { CacheClusters: [{ CacheClusterId: input.CacheClusterId, EngineVersion: version, CacheClusterStatus: 'available' }] };
    });
    this.mock.on(DescribeServerlessCachesCommand).callsFake(async (input: DescribeServerlessCachesCommandInput) => {
      this.throwInjected('DescribeServerlessCaches');
      if (input.ServerlessCacheName === undefined) {
        const page = pageOf(PAGES.DescribeServerlessCaches, [...this.serverlessCaches.values()], input.NextToken, input.MaxResults);
        return { ServerlessCaches: page.items, NextToken: page.next };
      }
      const cache = this.serverlessCaches.get(input.ServerlessCacheName.toLowerCase());
      if (!cache) throw new ServerlessCacheNotFoundFault({ message: `Serverless cache ${input.ServerlessCacheName} not found.`, $metadata: {} });
      this.checkCacheGroups(`serverless cache ${cache.ServerlessCacheName}`, cache.Engine, cache.UserGroupId ? [cache.UserGroupId] : []);
      return { ServerlessCaches: [cache] };
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

  /** Adds an active password user of engine `redis` (set `engine` on the result for `valkey`) with this access string (DescribeUsers returns it through {@link describeAccessString}). */
  add(userId: string, arn: string, passwords: readonly string[], userName = userId, accessString = 'off -@all'): FakeUser {
    const user: FakeUser = { userId, userName, arn, status: 'active', authentication: 'password', engine: 'redis', passwords, accessString };
    this.users.set(userId, user);
    return user;
  }

  /** Adds an active user group of `engine` with these members, serving these replication groups. */
  addUserGroup(userGroupId: string, userIds: readonly string[], replicationGroups: readonly string[] = [], engine: UserEngine = 'redis'): FakeUserGroup {
    const group: FakeUserGroup = { userGroupId, status: 'active', engine, userIds: [...userIds], replicationGroups: [...replicationGroups] };
    this.userGroups.set(userGroupId, group);
    return group;
  }

  /** Adds a replication group (DescribeReplicationGroups returns it as given) and its member clusters' engine version. */
  addReplicationGroup(group: ReplicationGroup, engineVersion: string): void {
    this.replicationGroups.set(group.ReplicationGroupId!.toLowerCase(), group);
    for (const member of group.MemberClusters ?? []) this.cacheClusters.set(member, engineVersion);
  }

  /** Throws if `group` holds, or is about to hold, a user AWS would not let into it (see {@link UserEngine}). */
  private checkMembers(group: FakeUserGroup): void {
    for (const userId of [...group.userIds, ...(group.pendingChanges?.UserIdsToAdd ?? [])]) {
      const user = this.users.get(userId);
      if (!user) continue;
      if (group.engine === 'valkey' && user.authentication === 'no-password') {
        throw new Error(`FakeElastiCache: user group ${group.userGroupId} (engine valkey) holds ${userId}, a user without a password: AWS refuses it ("A user group configured for the "VALKEY" engine can only contain users who are using an authentication mechanism", Clusters.RBAC.html); give the user a password or IAM, or the group engine redis`);
      }
      if (group.engine === 'redis' && user.engine === 'valkey') {
        throw new Error(`FakeElastiCache: user group ${group.userGroupId} (engine redis) holds ${userId}, a valkey user: AWS refuses it ("Valkey users are restricted to Valkey user group associations only", Clusters.RBAC.html); make the group engine valkey or the user redis`);
      }
    }
  }

  /** Throws if a cache of `engine` has a user group AWS would not attach to it (see {@link UserEngine}). */
  private checkCacheGroups(cache: string, engine: string | undefined, userGroupIds: readonly string[]): void {
    for (const id of userGroupIds) {
      const group = this.userGroups.get(id);
      if (group?.engine === 'valkey' && engine?.toLowerCase() === 'redis') {
        throw new Error(`FakeElastiCache: ${cache} (engine redis) has user group ${id} of engine valkey: AWS refuses it ("When using RBAC with Redis OSS clusters, only user groups with the engine "REDIS" can be used", Clusters.RBAC.html)`);
      }
    }
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
      Engine: user.engine,
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
