import { type Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
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
import { CACHE_BASE_DEFAULTS, type KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { concreteProblem, notWholeIn, show, type ValidationRule } from './validate-props.js';
import { maintenanceWindowProblem, snapshotWindowProblem, windowsOverlap } from './windows.js';

export interface KccRedisCacheProps extends KccRedisCacheBaseProps {
  /**
   * Subnets of the cache's subnet group; pick subnets in at least two AZs for Multi-AZ.
   * @default - the VPC's private subnets (isolated ones when it has no others)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Replication group id; also the prefix of every ElastiCache user id and of the user group id
   * (ids are unique per account and region, so two caches need two of them). Cannot change once
   * deployed: the group has a custom name, so CloudFormation cannot replace it.
   * @default - generated from the construct path (unique per stack), at most 20 characters
   */
  readonly replicationGroupId?: string;
  /**
   * Engine version, one ElastiCache offers for the engine (see `ENGINE_VERSIONS`).
   * @default - '8.1' for Valkey, '7.1' for Redis OSS
   */
  readonly engineVersion?: string;
  /** @default 'cache.t4g.micro' */
  readonly cacheNodeType?: string;
  /**
   * Shards (node groups): 1 = cluster mode disabled, more = cluster mode enabled.
   * @default 1
   */
  readonly shards?: number;
  /**
   * Replicas per shard, 0 to 5; at least 1 gives Multi-AZ with automatic failover.
   * @default 1
   */
  readonly replicasPerShard?: number;
  /** @default 6379 */
  readonly port?: number;
  /**
   * How long automatic backups are kept, in whole days (0 turns them off).
   * @default Duration.days(1)
   */
  readonly snapshotRetention?: Duration;
  /**
   * Daily backup window, `hh24:mi-hh24:mi` UTC, at least 60 minutes, apart from the maintenance window.
   * @default - ElastiCache picks one
   */
  readonly snapshotWindow?: string;
  /** @default 'sun:05:00-sun:06:00' */
  readonly maintenanceWindow?: string;
  /**
   * What deleting or replacing the replication group does: SNAPSHOT keeps a final backup, RETAIN
   * keeps the running group (and its cost), DESTROY loses the data.
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The props of KccRedisCache besides the shared ones (with CACHE_BASE_PROP_NAMES, the compiler keeps the list whole). */
const KCC_REDIS_CACHE_OWN_PROP_NAMES = {
  vpcSubnets: true, replicationGroupId: true, engineVersion: true, cacheNodeType: true, shards: true, replicasPerShard: true, port: true,
  snapshotRetention: true, snapshotWindow: true, maintenanceWindow: true, removalPolicy: true,
} as const satisfies Record<Exclude<keyof KccRedisCacheProps, keyof KccRedisCacheBaseProps>, true>;

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
  ...cacheBaseRules<KccRedisCacheProps>('replicationGroupId', 'KccRedisCache', KCC_REDIS_CACHE_OWN_PROP_NAMES),
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
