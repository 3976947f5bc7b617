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
 * applies patches itself; Valkey starts at 7.2. Redis OSS below 7.0 is left out: the stack sets
 * `TransitEncryptionMode`, which ElastiCache takes from Redis OSS 7.0 on (it is how TLS is turned on
 * for an existing cluster). A user group itself needs transit encryption enabled
 * (`TransitEncryptionEnabled: true`), in either mode, not the mode `required`.
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

/**
 * The major versions ElastiCache Serverless offers (`MajorEngineVersion`; it applies minor versions and
 * patches itself). Serverless caches support Valkey 7.2 and later and Redis OSS 7.0 and later
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/supported-engine-versions.html); the majors
 * are those of the engine-versions page (Valkey 7.2, 8.x, 9.x; Redis OSS 7.x) and of aws-cdk's own
 * serverless `CacheEngine` (VALKEY_7, VALKEY_8, VALKEY_9, REDIS_7).
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/VersionManagement.html: "When a new major
 * version is available ... you can choose to upgrade your cache".
 */
export const SERVERLESS_MAJOR_VERSIONS: Readonly<Record<CacheEngine, readonly string[]>> = {
  [CacheEngine.VALKEY]: ['7', '8', '9'],
  [CacheEngine.REDIS]: ['7'],
};

/** Serverless major version used when none is given: the major of the replication-group default. */
export const DEFAULT_SERVERLESS_MAJOR_VERSION: Readonly<Record<CacheEngine, string>> = {
  [CacheEngine.VALKEY]: '8',
  [CacheEngine.REDIS]: '7',
};

/** What is wrong with `version` as a serverless `MajorEngineVersion` for `engine`, or undefined. */
export function serverlessVersionProblem(engine: CacheEngine, version: string): string | undefined {
  const offered = SERVERLESS_MAJOR_VERSIONS[engine];
  if (offered === undefined) return `engine "${engine}" is not one of ${CACHE_ENGINES.join(', ')}`;
  if (offered.includes(version)) return undefined;
  const hint = /^\d+\.\d+/.test(version) ? ` (a serverless cache takes the major version only, e.g. "${version.split('.')[0]}": ElastiCache applies minor versions itself)` : '';
  return `is not a ${engine} major version ElastiCache Serverless offers; valid: ${offered.join(', ')}${hint}`;
}

/**
 * The oldest versions IAM authentication works with: "IAM authentication is supported for Valkey 7.2
 * and above, and Redis OSS version 7.0 and above" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).
 */
export const IAM_AUTH_MIN_VERSION: Readonly<Record<CacheEngine, string>> = {
  [CacheEngine.VALKEY]: '7.2',
  [CacheEngine.REDIS]: '7.0',
};

/** What is wrong with using IAM users on `engine` `version` (a version or a serverless major), or undefined. */
export function iamAuthVersionProblem(engine: CacheEngine, version: string): string | undefined {
  const min = IAM_AUTH_MIN_VERSION[engine];
  if (min === undefined) return undefined;
  const [major, minor] = version.split('.').map(Number);
  const [minMajor, minMinor] = min.split('.').map(Number);
  // A serverless major ("7") runs the newest minor of that major, so only the major is compared.
  const tooOld = major! < minMajor! || (minor !== undefined && major === minMajor && minor < minMinor!);
  return tooOld ? `IAM authentication needs ${engine} ${min} or later, got ${version}` : undefined;
}
