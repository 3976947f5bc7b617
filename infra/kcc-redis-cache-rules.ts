import { RemovalPolicy, Token } from 'aws-cdk-lib';
import { appEnvUserName, identifierProblem } from '@kcc-redis/client/contract';
import { appEnvsOf, CACHE_BASE_DEFAULTS, type KccApp } from './kcc-redis-cache-base.js';
import type { KccRedisCacheProps } from './kcc-redis-cache.js';
import { CACHE_ENGINES, DEFAULT_ENGINE_VERSION, engineVersionProblem } from './engine.js';
import {
  MAX_NODES,
  MAX_REPLICAS_PER_SHARD,
  MAX_ROTATION_DAYS,
  MAX_SHARDS,
  MAX_SNAPSHOT_RETENTION_DAYS,
  MAX_USERS_PER_GROUP,
  maxPort,
  nodeTypeProblem,
} from './elasticache-rules.js';
import { concreteProblem, notWholeIn, show, type ValidationRule } from './validate-props.js';
import { maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

/** The props with the namespace (replication group id) they resolve to. */
export interface ResolvedCacheProps {
  readonly props: KccRedisCacheProps;
  readonly namespace: string;
}

const REMOVAL_POLICIES: readonly RemovalPolicy[] = [RemovalPolicy.SNAPSHOT, RemovalPolicy.RETAIN, RemovalPolicy.DESTROY];

const engineOf = (p: KccRedisCacheProps) => p.engine ?? CACHE_BASE_DEFAULTS.engine;
const shardsOf = (p: KccRedisCacheProps) => p.shards ?? 1;
const replicasOf = (p: KccRedisCacheProps) => p.replicasPerShard ?? 1;
const days = (d: { toDays(o?: { integral: boolean }): number } | undefined) => (d === undefined || Token.isUnresolved(d) ? undefined : d.toDays({ integral: false }));

function badAppNames(apps: readonly KccApp[]): string[] {
  return apps.flatMap((app, i) => {
    const problem = identifierProblem(app.name);
    return problem ? [`apps[${i}].name ${show(app.name)} ${problem}`] : [];
  });
}

function badEnvs(apps: readonly KccApp[], envs: readonly string[] | undefined): string[] {
  const lists: [string, readonly string[]][] = [['envs', envs ?? CACHE_BASE_DEFAULTS.envs], ...apps.flatMap((a, i): [string, readonly string[]][] => (a.envs ? [[`apps[${i}].envs`, a.envs]] : []))];
  return lists.flatMap(([where, list]) => {
    if (list.length === 0) return [`${where} must list at least one environment, got []`];
    if (new Set(list).size !== list.length) return [`${where} ${show(list)} lists an environment twice`];
    return list.flatMap((env) => {
      const problem = identifierProblem(env);
      return problem ? [`${where}: environment ${show(env)} ${problem}`] : [];
    });
  });
}

/** The user ids the props lead to, or the problems with them (only once names and envs are valid). */
function userIdProblems({ props, namespace }: ResolvedCacheProps): string[] {
  if (badAppNames(props.apps).length > 0 || badEnvs(props.apps, props.envs).length > 0) return [];
  const problems: string[] = [];
  const defaultUserId = props.defaultUserId ?? `${namespace}-admin`;
  const seen = new Map<string, string>([[defaultUserId, 'the default user']]);
  for (const appEnv of appEnvsOf(props.apps, props.envs)) {
    const id = `${namespace}-${appEnvUserName(appEnv)}`;
    const problem = identifierProblem(id);
    if (problem) problems.push(`apps: user id ${show(id)} (<replicationGroupId>-<app>-<env>) ${problem}; shorten the app, env or replicationGroupId`);
    else if (seen.has(id)) problems.push(`apps: user id ${show(id)} is also ${seen.get(id)}'s; ids must be unique`);
    seen.set(id, `app "${appEnv.app}" env "${appEnv.env}"`);
  }
  return problems;
}

/**
 * The props rules of {@link KccRedisCache}, as a table: each names the prop, the value and the rule.
 * Tokens are not checked (they resolve at deploy time).
 */
export const KCC_REDIS_CACHE_RULES: readonly ValidationRule<ResolvedCacheProps>[] = [
  { condition: ({ props }) => props.apps.length === 0, message: () => 'apps must list at least one app, got []' },
  { condition: ({ props }) => badAppNames(props.apps).length > 0, message: ({ props }) => badAppNames(props.apps).join('; ') },
  {
    condition: ({ props }) => new Set(props.apps.map((a) => a.name)).size !== props.apps.length,
    message: ({ props }) => `apps ${show(props.apps.map((a) => a.name))} names an app twice; each app appears once`,
  },
  { condition: ({ props }) => badEnvs(props.apps, props.envs).length > 0, message: ({ props }) => badEnvs(props.apps, props.envs).join('; ') },
  {
    condition: ({ namespace }) => concreteProblem(namespace, identifierProblem) !== undefined,
    message: ({ namespace }) => `replicationGroupId ${show(namespace)} ${identifierProblem(namespace)}`,
  },
  {
    condition: ({ props, namespace }) => identifierProblem(props.defaultUserId ?? `${namespace}-admin`) !== undefined,
    message: ({ props, namespace }) => `defaultUserId ${show(props.defaultUserId ?? `${namespace}-admin`)} ${identifierProblem(props.defaultUserId ?? `${namespace}-admin`)}`,
  },
  {
    condition: ({ props, namespace }) => identifierProblem(props.userGroupId ?? `${namespace}-users`) !== undefined,
    message: ({ props, namespace }) => `userGroupId ${show(props.userGroupId ?? `${namespace}-users`)} ${identifierProblem(props.userGroupId ?? `${namespace}-users`)}`,
  },
  { condition: (r) => userIdProblems(r).length > 0, message: (r) => userIdProblems(r).join('; ') },
  {
    condition: ({ props }) => appEnvsOf(props.apps, props.envs).length + 1 > MAX_USERS_PER_GROUP,
    message: ({ props }) => `apps: ${appEnvsOf(props.apps, props.envs).length} app-envs + the default user; a user group holds at most ${MAX_USERS_PER_GROUP} users`,
  },
  {
    condition: ({ props }) => !CACHE_ENGINES.includes(engineOf(props)),
    message: ({ props }) => `engine ${show(props.engine)} must be one of ${CACHE_ENGINES.map((e) => `CacheEngine.${e.toUpperCase()}`).join(', ')}`,
  },
  {
    condition: ({ props }) => CACHE_ENGINES.includes(engineOf(props)) && concreteProblem(props.engineVersion, (v) => engineVersionProblem(engineOf(props), v)) !== undefined,
    message: ({ props }) => `engineVersion ${show(props.engineVersion)} ${engineVersionProblem(engineOf(props), props.engineVersion!)}`,
  },
  {
    condition: ({ props }) => concreteProblem(props.cacheNodeType, nodeTypeProblem) !== undefined,
    message: ({ props }) => `cacheNodeType ${show(props.cacheNodeType)} ${nodeTypeProblem(props.cacheNodeType!)}`,
  },
  { condition: ({ props }) => notWholeIn(props.shards, 1, MAX_SHARDS), message: ({ props }) => `shards ${show(props.shards)} must be a whole number from 1 to ${MAX_SHARDS}` },
  {
    condition: ({ props }) => notWholeIn(props.replicasPerShard, 0, MAX_REPLICAS_PER_SHARD),
    message: ({ props }) => `replicasPerShard ${show(props.replicasPerShard)} must be a whole number from 0 to ${MAX_REPLICAS_PER_SHARD}`,
  },
  {
    condition: ({ props }) => shardsOf(props) * (replicasOf(props) + 1) > MAX_NODES,
    message: ({ props }) => `shards × (1 + replicasPerShard) = ${shardsOf(props) * (replicasOf(props) + 1)}: a replication group has at most ${MAX_NODES} nodes`,
  },
  {
    condition: ({ props }) => notWholeIn(props.port, 1, maxPort(shardsOf(props) > 1)),
    message: ({ props }) => `port ${show(props.port)} must be a whole number from 1 to ${maxPort(shardsOf(props) > 1)}${shardsOf(props) > 1 ? ' (cluster mode: the cluster bus uses port + 10000)' : ''}`,
  },
  {
    condition: ({ props }) => notWholeIn(days(props.snapshotRetention), 0, MAX_SNAPSHOT_RETENTION_DAYS),
    message: ({ props }) => `snapshotRetention ${days(props.snapshotRetention)} days must be whole days from 0 to ${MAX_SNAPSHOT_RETENTION_DAYS}`,
  },
  {
    condition: ({ props }) => notWholeIn(days(props.passwordRotation), 1, MAX_ROTATION_DAYS),
    message: ({ props }) => `passwordRotation ${days(props.passwordRotation)} days must be whole days from 1 to ${MAX_ROTATION_DAYS} (Secrets Manager's range)`,
  },
  {
    condition: ({ props }) => concreteProblem(props.maintenanceWindow, maintenanceWindowProblem) !== undefined,
    message: ({ props }) => `maintenanceWindow ${show(props.maintenanceWindow)} ${maintenanceWindowProblem(props.maintenanceWindow!)}`,
  },
  {
    condition: ({ props }) => concreteProblem(props.snapshotWindow, snapshotWindowProblem) !== undefined,
    message: ({ props }) => `snapshotWindow ${show(props.snapshotWindow)} ${snapshotWindowProblem(props.snapshotWindow!)}`,
  },
  {
    condition: ({ props }) => windowsClash(props),
    message: ({ props }) => `snapshotWindow ${show(props.snapshotWindow)} overlaps maintenanceWindow ${show(props.maintenanceWindow ?? KCC_REDIS_CACHE_DEFAULTS.maintenanceWindow)}; ElastiCache requires them apart`,
  },
  {
    condition: ({ props }) => (props.allowFrom ?? []).some((peer) => OPEN_TO_ALL.includes(peer.uniqueId)),
    message: ({ props }) => `allowFrom ${show((props.allowFrom ?? []).map((p) => p.uniqueId))} opens the cache to every address; name the clients' security group or CIDR instead`,
  },
  {
    condition: ({ props }) => props.removalPolicy !== undefined && !REMOVAL_POLICIES.includes(props.removalPolicy),
    message: ({ props }) => `removalPolicy ${show(props.removalPolicy)} must be RemovalPolicy.SNAPSHOT, RETAIN or DESTROY`,
  },
];

const OPEN_TO_ALL = ['0.0.0.0/0', '::/0'];

function windowsClash(props: KccRedisCacheProps): boolean {
  const maintenance = props.maintenanceWindow ?? KCC_REDIS_CACHE_DEFAULTS.maintenanceWindow;
  if (props.snapshotWindow === undefined || Token.isUnresolved(props.snapshotWindow) || Token.isUnresolved(maintenance)) return false;
  if (snapshotWindowProblem(props.snapshotWindow) || maintenanceWindowProblem(maintenance)) return false;
  return windowsOverlap(props.snapshotWindow, maintenance);
}

/** Defaults of the replication-group props, in one object (the shared ones: CACHE_BASE_DEFAULTS). */
export const KCC_REDIS_CACHE_DEFAULTS = {
  engineVersion: DEFAULT_ENGINE_VERSION,
  cacheNodeType: 'cache.t4g.micro',
  shards: 1,
  replicasPerShard: 1,
  maintenanceWindow: 'sun:05:00-sun:06:00',
  snapshotRetentionDays: 1,
  removalPolicy: RemovalPolicy.SNAPSHOT,
} as const;

