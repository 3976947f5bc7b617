/**
 * The one place that spells the names and ACL strings of the setup guide.
 *
 * The CDK stack, the local ElastiCache-like Redis, the tests and the client all call these
 * functions; nothing else types an access string, a user id or a key prefix.
 *
 * This module has no dependencies so that both the published client and the CDK app can use it.
 */

/** User name ElastiCache requires for the default user of a user group. */
export const DEFAULT_USER_NAME = 'default';
/** User id of the default user, as in the setup guide. */
export const DEFAULT_ADMIN_USER_ID = 'keycloak-connector-aws-redis-admin';
/** User group holding the default user and every app user, as in the setup guide. */
export const DEFAULT_USER_GROUP_ID = 'keycloak-connector-aws-redis-channel';
/** Environments every app gets unless it names its own. */
export const DEFAULT_ENVS: readonly string[] = ['prod', 'dev'];
/** The port of the setup guide. */
export const DEFAULT_REDIS_PORT = 6379;

/**
 * Which access string app users get.
 * - `guide`: exactly the setup guide's template.
 * - `hardened`: the template plus denials of commands that leak other tenants' key names,
 *   counts, channel names or subscriber counts, act on the server's shared scripts and functions,
 *   or reach other logical databases. The client never uses them.
 */
export type AclProfile = 'guide' | 'hardened';
export const ACL_PROFILES: readonly AclProfile[] = ['guide', 'hardened'];

/**
 * Appended by the `hardened` profile: everything the guide's string still lets an app user reach
 * beyond its own namespace that a rule can close, none of which the client uses. Measured on
 * Redis 7.0.15 (`test/integration/local/acl-truth-table.test.ts`):
 * - `-scan -randomkey -dbsize`: key names and key counts of every tenant;
 * - `-pubsub`: every PUBSUB subcommand (CHANNELS, SHARDCHANNELS, NUMSUB, SHARDNUMSUB, NUMPAT): names and
 *   subscriber counts of every tenant's channels;
 * - `-@scripting +eval +evalsha`: of the scripting commands only the two the client runs; SCRIPT
 *   (FLUSH, KILL, LOAD, EXISTS), FUNCTION (LOAD, LIST, DUMP, RESTORE, DELETE, FLUSH, KILL, STATS) and
 *   FCALL act on the server's scripts and functions, shared by every tenant;
 * - `-select -copy`: other logical databases (COPY's DB option).
 *
 * Only rules of ElastiCache's documented access-string syntax: commands, `@`categories and
 * `command|subcommand` (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html#Access-string);
 * none names a command ElastiCache restricts (an access string naming one is refused), serverless
 * included (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SupportedCommands.html): FUNCTION
 * and SCRIPT KILL are closed through their category, not by name. INFO's sections cannot be told
 * apart by a rule: INFO keyspace (key counts per database) stays open under both profiles.
 */
export const HARDENED_DENIALS: readonly string[] = ['-scan', '-randomkey', '-dbsize', '-pubsub', '-@scripting', '+eval', '+evalsha', '-select', '-copy'];

/**
 * Appended by the `hardened` profile outside cluster mode: MOVE to another logical database.
 * Not in cluster mode: ElastiCache Serverless (cluster mode) does not offer MOVE, so naming it there
 * would make ElastiCache refuse the access string. Valkey 9 does allow numbered databases in cluster
 * mode (https://valkey.io/blog/numbered-databases/), so there MOVE stays allowed: a tenant can move
 * only keys its own patterns match, and ACL key patterns hold in every database, so it hides its own
 * keys from its own client (which uses database 0) and reaches no other tenant's.
 */
export const HARDENED_STANDALONE_DENIALS: readonly string[] = ['-move'];

/**
 * Appended in cluster mode: ioredis' Cluster client discovers the shard layout with
 * CLUSTER SLOTS, which the guide's string (`-@all … -@dangerous`) does not allow.
 */
export const CLUSTER_MODE_GRANTS: readonly string[] = ['+cluster|slots'];

/**
 * The directives of the guide's string: each empties a list before the rules that fill it
 * (selectors, key patterns, channel patterns). {@link accessPermissions} leaves all three out, so a
 * string is compared by the rules that fill the lists. The stack's template keeps `resetchannels`
 * and leaves out the other two ({@link storedAccessString}): on ElastiCache a user's channel list
 * does not start empty (`acl-pubsub-default` is `allchannels` there, see storedAccessString).
 */
export const ACL_DIRECTIVES: readonly string[] = ['clearselectors', 'resetkeys', 'resetchannels'];

/** The directives the stack leaves out of the template: no-ops on a user built from its whole string ({@link storedAccessString}). */
const TEMPLATE_DROPPED_DIRECTIVES: readonly string[] = ['clearselectors', 'resetkeys'];

const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

/**
 * ElastiCache's identifier rule (users, user groups, replication groups): a lowercase letter
 * first, then lowercase letters, digits and hyphens, no two hyphens in a row, no hyphen last,
 * at most `maxLength` characters. Returns what is wrong, or undefined when the value is valid.
 */
export function identifierProblem(value: string, maxLength = 40): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > maxLength) return `must be at most ${maxLength} characters (has ${value.length})`;
  if (!NAME_PATTERN.test(value)) return 'must start with a lowercase letter and contain only a-z, 0-9 and "-"';
  if (value.includes('--')) return 'must not contain two consecutive hyphens';
  if (value.endsWith('-')) return 'must not end with a hyphen';
  return undefined;
}

/** One app in one environment: the unit that gets its own Redis user and namespace. */
export interface AppEnv {
  readonly app: string;
  readonly env: string;
}

function checkedName({ app, env }: AppEnv): string {
  const name = `${app}-${env}`;
  const problem = identifierProblem(app) ?? identifierProblem(env) ?? identifierProblem(name);
  if (problem) {
    throw new TypeError(`app-env "${name}" is not a valid ElastiCache user id: ${problem}`);
  }
  return name;
}

/**
 * User id and user name of an app-env's Redis user: `<app>-<env>`.
 *
 * @example appEnvUserName({ app: 'my-app', env: 'prod' }) // 'my-app-prod'
 */
export function appEnvUserName(appEnv: AppEnv): string {
  return checkedName(appEnv);
}

/**
 * The key and channel prefix of an app-env: `<app>-<env>:`. The ACL allows nothing else.
 *
 * @example keyPrefix({ app: 'my-app', env: 'prod' }) // 'my-app-prod:'
 */
export function keyPrefix(appEnv: AppEnv): string {
  return `${checkedName(appEnv)}:`;
}

/**
 * The namespace (key prefix) a Redis user name owns, or undefined when the name is not an
 * app-env user name. Used to refuse a prefix the user's ACL would deny.
 */
export function keyPrefixOfUser(username: string): string | undefined {
  return identifierProblem(username) === undefined && username.includes('-') ? `${username}:` : undefined;
}

/**
 * The hash tag shared by every key of one app-env, so that one app-env's multi-key scripts stay
 * in one cluster slot while different app-envs spread over shards.
 *
 * @example hashTag({ app: 'my-app', env: 'prod' }) // '{my-app-prod}'
 */
export function hashTag(appEnv: AppEnv): string {
  return `{${checkedName(appEnv)}}`;
}

export interface AccessStringOptions {
  /** @default 'guide' */
  readonly profile?: AclProfile;
  /** Cluster mode enabled: grants CLUSTER SLOTS for topology discovery. @default false */
  readonly clusterMode?: boolean;
}

/**
 * The access string of an app-env user: the setup guide's template, filled in, plus what the
 * profile and cluster mode add.
 *
 * @example
 * appEnvAccessString({ app: 'my-app', env: 'prod' })
 * // 'on clearselectors resetkeys ~my-app-prod:* resetchannels &my-app-prod:* -@all +@fast …'
 */
export function appEnvAccessString(appEnv: AppEnv, options: AccessStringOptions = {}): string {
  const ns = checkedName(appEnv);
  const rules = [
    'on',
    'clearselectors',
    'resetkeys',
    `~${ns}:*`,
    'resetchannels',
    `&${ns}:*`,
    '-@all',
    '+@fast',
    '+@pubsub',
    '+@keyspace',
    '+@string',
    '+@read',
    '+@write',
    '+@scripting',
    '-@dangerous',
    '+client|setname',
    '+info',
  ];
  if (options.clusterMode) rules.push(...CLUSTER_MODE_GRANTS);
  if ((options.profile ?? 'guide') === 'hardened') rules.push(...HARDENED_DENIALS, ...(options.clusterMode ? [] : HARDENED_STANDALONE_DENIALS));
  return rules.join(' ');
}

/**
 * The default user's access string: `on ~* &* +@all`, or `off ~* &* +@all` to disable logins
 * with it (the stack's default).
 */
export function defaultUserAccessString(enabled: boolean): string {
  return `${enabled ? 'on' : 'off'} ~* &* +@all`;
}

/**
 * The rules of an access string without the directives ({@link ACL_DIRECTIVES}). Not a drift check
 * by itself: ElastiCache may return a user's string reworded ("a simpler string may be used instead
 * of the one provided if there are redundancies",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html), so compare what the
 * rules allow, as `kcc-redis drift` does. Both strings are read as applied to a user whose lists are
 * empty, i.e. each `&` pattern after a `resetchannels`: so the guide's string, the stack's
 * ({@link storedAccessString}) and the form ElastiCache shows without the directives compare equal.
 * That says nothing about whether an engine whose `acl-pubsub-default` is `allchannels` accepts a
 * string without `resetchannels` (it refuses it: see storedAccessString).
 */
export function accessPermissions(accessString: string): string[] {
  return accessString
    .split(/\s+/)
    .filter((rule) => rule.length > 0 && !ACL_DIRECTIVES.includes(rule));
}

/**
 * An access string without `clearselectors` and `resetkeys`, `resetchannels` kept in its place
 * (just before the `&` pattern): the form the stack puts in the template.
 *
 * `resetchannels` stays because ElastiCache does not start a user's channels empty. Its parameter
 * groups default `acl-pubsub-default` to `allchannels` ("Permitted values: resetchannels,
 * allchannels / Default: allchannels", added in Redis OSS 6.2; a change of it leaves the existing
 * users with their permissions; the Redis OSS 7 and Valkey 7.2 changes leave it as is, and the stack
 * uses the default parameter groups:
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html), and
 * serverless caches fix it at `allchannels`
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RedisConfiguration.html). That the open-source
 * engines default it to `resetchannels` does not apply there. Under `allchannels` the engine
 * (redis-server 7.0.15) refuses a channel pattern on a user that starts from the default
 * (`ACL SETUSER u on ~a:* &a:*`: "Adding a pattern after the * pattern (or the 'allchannels' flag) is
 * not valid … Try 'resetchannels'"), and accepts it after `resetchannels`, with the user then holding
 * only its own channels. How ElastiCache
 * applies a stored string without `resetchannels` on such a node AWS does not document: the user
 * refused, or left with every channel (every tenant reading and publishing on every other tenant's
 * channels). The setup guide submits the string with the directives, and ElastiCache accepts it (and
 * shows it without them afterwards).
 *
 * `clearselectors` and `resetkeys` are left out: selectors and key patterns have no configurable
 * default (a new user has none), and ModifyUser's `AccessString` replaces the user's whole permission
 * set (`AppendAccessString` is the separate "add to it" parameter,
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html): ElastiCache
 * rebuilds each user from its stored string, so they only clear what an incremental `ACL SETUSER`
 * would otherwise keep, and on a fresh user they are no-ops.
 *
 * AWS does not document which form DescribeUsers returns, only that it may differ from the one given
 * ("a simpler string may be used instead of the one provided if there are redundancies",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html); its examples return
 * the engine's own description of the user. CloudFormation drift detection does not compare the
 * string in any form: `AccessString` is a write-only property of AWS::ElastiCache::User (its resource
 * schema, aws-cloudformation/aws-cloudformation-resource-providers-elasticache), one CloudFormation
 * "can't read"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/generate-IaC-write-only-properties.html).
 * `kcc-redis drift` reads it with DescribeUsers and compares what it allows, the directives read for
 * what they do, so the string with or without them is the same to it.
 *
 * @example storedAccessString('on clearselectors resetkeys ~a-prod:* resetchannels &a-prod:* -@all')
 * // 'on ~a-prod:* resetchannels &a-prod:* -@all'
 */
export function storedAccessString(accessString: string): string {
  return accessString
    .split(/\s+/)
    .filter((rule) => rule.length > 0 && !TEMPLATE_DROPPED_DIRECTIVES.includes(rule))
    .join(' ');
}

/**
 * ElastiCache user id of an app-env's user in one stack: `<namespace>-<app>-<env>`. User ids and
 * user-group ids are unique per account and region (they are the last part of the user's ARN,
 * `arn:aws:elasticache:<region>:<account>:user:<id>`), so two stacks with the same apps need
 * different ids; the namespace is the stack's replication group id, itself unique per region. The
 * user *name* stays `<app>-<env>` ({@link appEnvUserName}). An IAM-authenticated user's id must
 * equal its user name, so such a user needs the namespace in its name too.
 *
 * @example appEnvUserId('kcc-redis', { app: 'my-app', env: 'prod' }) // 'kcc-redis-my-app-prod'
 */
export function appEnvUserId(namespace: string, appEnv: AppEnv): string {
  return checkedId(`${namespace}-${checkedName(appEnv)}`);
}

/** What ends the id (and name) of an app-env's IAM-authenticated user: it tells it from the password user. */
export const IAM_USER_SUFFIX = 'iam';

/**
 * User id *and* user name of an app-env's IAM-authenticated user in one stack:
 * `<namespace>-<app>-<env>-iam`. ElastiCache requires an IAM user's id to equal its user name, and
 * ids are unique per account and region, so the name carries the stack's namespace; the suffix keeps
 * it apart from the app-env's password user (`<namespace>-<app>-<env>`), so both can exist while apps
 * move from passwords to IAM. The key prefix stays `<app>-<env>:` ({@link keyPrefix}): a client
 * takes it from the stack's output, never from this name.
 *
 * @example appEnvIamUserName('kcc-redis', { app: 'my-app', env: 'prod' }) // 'kcc-redis-my-app-prod-iam'
 */
export function appEnvIamUserName(namespace: string, appEnv: AppEnv): string {
  return checkedId(`${namespace}-${checkedName(appEnv)}-${IAM_USER_SUFFIX}`);
}

/**
 * The default user's id in one stack when none is configured: `<namespace>-admin`.
 *
 * @example defaultAdminUserId('kcc-redis') // 'kcc-redis-admin'
 */
export function defaultAdminUserId(namespace: string): string {
  return checkedId(`${namespace}-admin`);
}

/**
 * The user group's id in one stack when none is configured: `<namespace>-users`.
 *
 * @example defaultUserGroupId('kcc-redis') // 'kcc-redis-users'
 */
export function defaultUserGroupId(namespace: string): string {
  return checkedId(`${namespace}-users`);
}

function checkedId(id: string): string {
  const problem = identifierProblem(id);
  if (problem) throw new TypeError(`ElastiCache id "${id}" ${problem}`);
  return id;
}

const PREFIX_PATTERN = /^[a-z][a-z0-9-]*(:[a-z0-9-]+)*:$/;

/**
 * What is wrong with using `prefix` as the key prefix of Redis user `username`, or undefined.
 * The prefix must be the user's namespace (`<app>-<env>:`) or a sub-namespace of it
 * (`<app>-<env>:<more>:`): anything else the ACL denies with NOPERM on every command.
 */
export function keyPrefixProblem(username: string, prefix: string): string | undefined {
  if (!PREFIX_PATTERN.test(prefix)) {
    return `key prefix "${prefix}" must be lowercase words separated and ended by ":" (e.g. "my-app-prod:")`;
  }
  const namespace = keyPrefixOfUser(username);
  if (namespace !== undefined && !prefix.startsWith(namespace)) {
    return `key prefix "${prefix}" is outside user "${username}"'s namespace "${namespace}"; its ACL allows only keys and channels starting with "${namespace}"`;
  }
  return undefined;
}

/**
 * A key in a namespace: the prefix, then a hash tag made of the prefix, then the name, so that all
 * keys of one namespace share one cluster slot and different namespaces spread over shards.
 *
 * @example namespacedKey('my-app-prod:', 'keyring') // 'my-app-prod:{my-app-prod}:keyring'
 */
export function namespacedKey(prefix: string, name: string): string {
  return `${taggedPrefix(prefix)}:${name}`;
}

/** The prefix followed by its hash tag (the prefix without its colon): every key of a namespace starts with it. */
function taggedPrefix(prefix: string): string {
  return `${prefix}{${prefix.slice(0, -1)}}`;
}

/**
 * A key the client keeps beside key `name` of a namespace, with the same hash tag (the same cluster
 * slot): `<prefix>{<prefix without its colon>}!<kind>:<name>`. {@link namespacedKey} puts a colon
 * after the tag, so no app's key name reaches it.
 *
 * @example namespacedSideKey('my-app-prod:', 'set-by', 'job:1') // 'my-app-prod:{my-app-prod}!set-by:job:1'
 */
export function namespacedSideKey(prefix: string, kind: string, name: string): string {
  return `${taggedPrefix(prefix)}!${kind}:${name}`;
}

/**
 * A pub/sub channel in a namespace (channels have no slots for PUBLISH; no hash tag needed).
 *
 * @example namespacedChannel('my-app-prod:', 'bus') // 'my-app-prod:bus'
 */
export function namespacedChannel(prefix: string, name: string): string {
  return `${prefix}${name}`;
}
