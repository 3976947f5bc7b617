import { RemovalPolicy, Token } from 'aws-cdk-lib';
import { hasIamUser } from './app-env-auth.js';
import { cacheBaseRules, removalPolicyRule, type Resolved } from './cache-base-rules.js';
import { CACHE_ENGINES, DEFAULT_ENGINE_VERSION, engineVersionProblem, iamAuthVersionProblem } from './engine.js';
import {
  MAX_NODES,
  MAX_REPLICAS_PER_SHARD,
  MAX_SHARDS,
  MAX_SNAPSHOT_RETENTION_DAYS,
  maxPort,
  nodeTypeProblem,
} from './elasticache-rules.js';
import { appEnvAuthsOf } from './kcc-app.js';
import { CACHE_BASE_DEFAULTS } from './kcc-redis-cache-base.js';
import type { KccRedisCacheProps } from './kcc-redis-cache.js';
import { concreteProblem, notWholeIn, show, type ValidationRule } from './validate-props.js';
import { maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

/** The props with the namespace (replication group id) they resolve to. */
export type ResolvedCacheProps = Resolved<KccRedisCacheProps>;

const engineOf = (p: KccRedisCacheProps) => p.engine ?? CACHE_BASE_DEFAULTS.engine;
const shardsOf = (p: KccRedisCacheProps) => p.shards ?? 1;
const replicasOf = (p: KccRedisCacheProps) => p.replicasPerShard ?? 1;
const days = (d: { toDays(o?: { integral: boolean }): number } | undefined) => (d === undefined || Token.isUnresolved(d) ? undefined : d.toDays({ integral: false }));
const versionOf = (p: KccRedisCacheProps) => p.engineVersion ?? DEFAULT_ENGINE_VERSION[engineOf(p)];
const hasIamUsers = (p: KccRedisCacheProps) => appEnvAuthsOf(p.apps, p.envs, p.auth).some(({ auth }) => hasIamUser(auth));

/**
 * The props rules of {@link KccRedisCache}, as a table: the shared ones ({@link cacheBaseRules}), then
 * the replication group's. Each names the prop, the value and the rule. Tokens are not checked (they
 * resolve at deploy time).
 */
export const KCC_REDIS_CACHE_RULES: readonly ValidationRule<ResolvedCacheProps>[] = [
  ...cacheBaseRules<KccRedisCacheProps>('replicationGroupId'),
  {
    condition: ({ props }) => CACHE_ENGINES.includes(engineOf(props)) && concreteProblem(props.engineVersion, (v) => engineVersionProblem(engineOf(props), v)) !== undefined,
    message: ({ props }) => `engineVersion ${show(props.engineVersion)} ${engineVersionProblem(engineOf(props), props.engineVersion!)}`,
  },
  {
    condition: ({ props }) => CACHE_ENGINES.includes(engineOf(props)) && hasIamUsers(props) && concreteProblem(versionOf(props), (v) => iamAuthVersionProblem(engineOf(props), v)) !== undefined,
    message: ({ props }) => `engineVersion ${show(versionOf(props))}: ${iamAuthVersionProblem(engineOf(props), versionOf(props))} (an app has auth "iam" or "password+iam")`,
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
  removalPolicyRule<KccRedisCacheProps>(),
];

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
