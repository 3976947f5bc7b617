import { RemovalPolicy, SizeRoundingBehavior, Token } from 'aws-cdk-lib';
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
import { CACHE_BASE_DEFAULTS } from './kcc-redis-cache-base.js';
import type { KccServerlessCacheProps } from './kcc-serverless-cache.js';
import { concreteProblem, notWholeIn, show, type ValidationRule } from './validate-props.js';
import { dailySnapshotTimeProblem } from './windows.js';

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
  ...cacheBaseRules<KccServerlessCacheProps>('serverlessCacheName'),
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
