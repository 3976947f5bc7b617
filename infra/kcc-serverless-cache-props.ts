import { type Duration, RemovalPolicy, type Size, SizeRoundingBehavior, Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { hasIamUser } from './app-env-auth.js';
import { cacheBaseRules, removalPolicyRule, type Resolved } from './cache-base-rules.js';
import {
  MAX_SNAPSHOT_RETENTION_DAYS,
  MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS,
  SERVERLESS_DATA_STORAGE_GB,
  SERVERLESS_ECPU_PER_SECOND,
} from './elasticache-rules.js';
import { CACHE_ENGINES, DEFAULT_SERVERLESS_MAJOR_VERSION, iamAuthVersionProblem, serverlessVersionProblem } from './engine.js';
import { appEnvAuthsOf } from './kcc-app.js';
import { CACHE_BASE_DEFAULTS, type KccRedisCacheBaseProps } from './kcc-redis-cache-base.js';
import { concreteProblem, notWholeIn, show, type ValidationRule } from './validate-props.js';
import { dailySnapshotTimeProblem } from './windows.js';

export interface KccServerlessCacheProps extends KccRedisCacheBaseProps {
  /**
   * Subnets of the cache's VPC endpoint (all in one VPC); pick subnets in at least two AZs.
   * @default - the VPC's private subnets (isolated ones when it has no others)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Serverless cache name; also the prefix of every ElastiCache user id and of the user group id
   * (ids are unique per account and region). Cannot change once deployed (create-only, custom name).
   * @default - generated from the construct path (unique per stack), at most 20 characters
   */
  readonly serverlessCacheName?: string;
  /**
   * Engine major version (`MajorEngineVersion`): ElastiCache applies minor versions and patches itself.
   * @default - '8' for Valkey, '7' for Redis OSS
   */
  readonly majorEngineVersion?: string;
  /**
   * Most data the cache may hold, whole gigabytes (ElastiCache's `GB`), 1 to 5,000. At the limit,
   * ElastiCache evicts keys that have a TTL (LRU), then refuses writes with an out-of-memory error.
   * @default Size.gibibytes(1)
   */
  readonly maxDataStorage?: Size;
  /**
   * Most ElastiCache Processing Units the cache may use per second, 1,000 to 15,000,000. Past it,
   * ElastiCache throttles requests. With `maxDataStorage`, the ceiling of the cache's bill.
   * @default 5000
   */
  readonly maxEcpuPerSecond?: number;
  /**
   * When the daily snapshot starts, `hh24:mi` UTC.
   * @default '03:00'
   */
  readonly dailySnapshotTime?: string;
  /**
   * How long daily snapshots are kept, whole days from 1 to 35.
   * @default Duration.days(1)
   */
  readonly snapshotRetention?: Duration;
  /**
   * What deleting the cache does: SNAPSHOT takes a final snapshot (named `<name>-final-<stack id>`),
   * RETAIN keeps the running cache (and its cost), DESTROY loses the data.
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The props of KccServerlessCache besides the shared ones (with CACHE_BASE_PROP_NAMES, the compiler keeps the list whole). */
const KCC_SERVERLESS_CACHE_OWN_PROP_NAMES = {
  vpcSubnets: true, serverlessCacheName: true, majorEngineVersion: true, maxDataStorage: true, maxEcpuPerSecond: true,
  dailySnapshotTime: true, snapshotRetention: true, removalPolicy: true,
} as const satisfies Record<Exclude<keyof KccServerlessCacheProps, keyof KccRedisCacheBaseProps>, true>;

const engineOf = (p: KccServerlessCacheProps) => p.engine ?? CACHE_BASE_DEFAULTS.engine;
const versionOf = (p: KccServerlessCacheProps) => p.majorEngineVersion ?? DEFAULT_SERVERLESS_MAJOR_VERSION[engineOf(p)];
const days = (d: { toDays(o?: { integral: boolean }): number } | undefined) => (d === undefined || Token.isUnresolved(d) ? undefined : d.toDays({ integral: false }));
const gigabytes = (s: KccServerlessCacheProps['maxDataStorage']) => (s === undefined || s.isUnresolved() ? undefined : s.toGibibytes({ rounding: SizeRoundingBehavior.NONE }));
const hasIamUsers = (p: KccServerlessCacheProps) => appEnvAuthsOf(p.apps, p.envs, p.auth).some(({ auth }) => hasIamUser(auth));

/**
 * The props rules of {@link KccServerlessCache}: the shared ones ({@link cacheBaseRules}), then the
 * serverless cache's (engine major version, usage limits, snapshots), each citing ElastiCache's bounds
 * in `elasticache-rules.ts` and `engine.ts`.
 */
export const KCC_SERVERLESS_CACHE_RULES: readonly ValidationRule<Resolved<KccServerlessCacheProps>>[] = [
  ...cacheBaseRules<KccServerlessCacheProps>('serverlessCacheName', 'KccServerlessCache', KCC_SERVERLESS_CACHE_OWN_PROP_NAMES),
  {
    condition: ({ props }) => CACHE_ENGINES.includes(engineOf(props)) && concreteProblem(props.majorEngineVersion, (v) => serverlessVersionProblem(engineOf(props), v)) !== undefined,
    message: ({ props }) => `majorEngineVersion ${show(props.majorEngineVersion)} ${serverlessVersionProblem(engineOf(props), props.majorEngineVersion!)}`,
  },
  {
    condition: ({ props }) => CACHE_ENGINES.includes(engineOf(props)) && hasIamUsers(props) && concreteProblem(versionOf(props), (v) => iamAuthVersionProblem(engineOf(props), v)) !== undefined,
    message: ({ props }) => `majorEngineVersion ${show(versionOf(props))}: ${iamAuthVersionProblem(engineOf(props), versionOf(props))} (an app has auth "iam" or "password+iam")`,
  },
  {
    condition: ({ props }) => notWholeIn(gigabytes(props.maxDataStorage), SERVERLESS_DATA_STORAGE_GB.min, SERVERLESS_DATA_STORAGE_GB.max),
    message: ({ props }) =>
      `maxDataStorage ${gigabytes(props.maxDataStorage)} GB must be whole gigabytes from ${SERVERLESS_DATA_STORAGE_GB.min} to ${SERVERLESS_DATA_STORAGE_GB.max} (e.g. Size.gibibytes(1))`,
  },
  {
    condition: ({ props }) => notWholeIn(props.maxEcpuPerSecond, SERVERLESS_ECPU_PER_SECOND.min, SERVERLESS_ECPU_PER_SECOND.max),
    message: ({ props }) =>
      `maxEcpuPerSecond ${show(props.maxEcpuPerSecond)} must be a whole number from ${SERVERLESS_ECPU_PER_SECOND.min} to ${SERVERLESS_ECPU_PER_SECOND.max}`,
  },
  {
    condition: ({ props }) => notWholeIn(days(props.snapshotRetention), MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS, MAX_SNAPSHOT_RETENTION_DAYS),
    message: ({ props }) =>
      `snapshotRetention ${days(props.snapshotRetention)} days must be whole days from ${MIN_SERVERLESS_SNAPSHOT_RETENTION_DAYS} to ${MAX_SNAPSHOT_RETENTION_DAYS} ` +
      '(a serverless cache always takes its daily snapshot)',
  },
  {
    condition: ({ props }) => concreteProblem(props.dailySnapshotTime, dailySnapshotTimeProblem) !== undefined,
    message: ({ props }) => `dailySnapshotTime ${show(props.dailySnapshotTime)} ${dailySnapshotTimeProblem(props.dailySnapshotTime!)}`,
  },
  removalPolicyRule<KccServerlessCacheProps>(),
];

/** Defaults of the serverless props, in one object (the shared ones: CACHE_BASE_DEFAULTS). */
export const KCC_SERVERLESS_CACHE_DEFAULTS = {
  majorEngineVersion: DEFAULT_SERVERLESS_MAJOR_VERSION,
  /** The smallest limit ElastiCache takes; kcc-redis itself stores kilobytes per app-env. */
  maxDataStorageGb: 1,
  /** About 5 MB/s of small commands; kcc-redis itself uses a few ECPUs per instance per second. */
  maxEcpuPerSecond: 5000,
  dailySnapshotTime: '03:00',
  snapshotRetentionDays: 1,
  removalPolicy: RemovalPolicy.SNAPSHOT,
} as const;
