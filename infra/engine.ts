/** The cache engines the stack deploys. */
export enum CacheEngine {
  /** Valkey: the open-source fork, priced about 20% below Redis OSS on ElastiCache. */
  VALKEY = 'valkey',
  /** Redis OSS (ElastiCache's last Redis OSS line is 7.1). */
  REDIS = 'redis',
}

export const CACHE_ENGINES: readonly CacheEngine[] = [CacheEngine.VALKEY, CacheEngine.REDIS];

/**
 * The engine versions ElastiCache offers for node-based replication groups that this stack can use
 * (RBAC user group + `TransitEncryptionMode: required`), as `EngineVersion` takes them.
 *
 * Since Redis OSS 6 ElastiCache offers one version per minor release (`7.1`, not `7.1.0`) and
 * applies patches itself; Valkey starts at 7.2. Redis OSS below 7.0 is left out: transit encryption
 * mode `required` with a user group needs 7.0 or newer.
 * Source: https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html (Valkey 7.2,
 * 8.0, 8.1, 8.2, 9.0, 9.1; Redis OSS up to 7.1) and
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/supported-engine-versions.html.
 * A region may lag: `aws elasticache describe-cache-engine-versions --engine valkey` lists yours.
 */
export const ENGINE_VERSIONS: Readonly<Record<CacheEngine, readonly string[]>> = {
  [CacheEngine.VALKEY]: ['7.2', '8.0', '8.1', '8.2', '9.0', '9.1'],
  [CacheEngine.REDIS]: ['7.0', '7.1'],
};

/** Engine version used when none is given. */
export const DEFAULT_ENGINE_VERSION: Readonly<Record<CacheEngine, string>> = {
  [CacheEngine.VALKEY]: '8.1',
  [CacheEngine.REDIS]: '7.1',
};

/** What is wrong with `version` for `engine` (naming the valid ones), or undefined when ElastiCache offers it. */
export function engineVersionProblem(engine: CacheEngine, version: string): string | undefined {
  const offered = ENGINE_VERSIONS[engine];
  if (offered === undefined) return `engine "${engine}" is not one of ${CACHE_ENGINES.join(', ')}`;
  if (offered.includes(version)) return undefined;
  return `is not a ${engine} version ElastiCache offers for a TLS-required RBAC replication group; valid: ${offered.join(', ')}`;
}

/** Name of the engine's default parameter group with cluster mode on, e.g. `default.valkey8.cluster.on`. */
export function clusterModeParameterGroup(engine: CacheEngine, version: string): string {
  const major = version.split('.')[0];
  return `default.${engine}${major}.cluster.on`;
}
