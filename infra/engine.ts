/** The cache engines the stack deploys. */
export enum CacheEngine {
  /** Valkey: the open-source fork, priced about 20% below Redis OSS on ElastiCache. */
  VALKEY = 'valkey',
  /** Redis OSS (ElastiCache's last Redis OSS line is 7.1). */
  REDIS = 'redis',
}

export const CACHE_ENGINES: readonly CacheEngine[] = [CacheEngine.VALKEY, CacheEngine.REDIS];

/** Engine version used when the config names none. */
export const DEFAULT_ENGINE_VERSION: Readonly<Record<CacheEngine, string>> = {
  [CacheEngine.VALKEY]: '8.1',
  [CacheEngine.REDIS]: '7.1',
};

/**
 * Oldest version of each engine that supports `TransitEncryptionMode: required`, which a user
 * group (RBAC) needs. Redis OSS "7.0" alone resolves to the newest 7.0 patch, so it passes.
 */
const MINIMUM_VERSION: Readonly<Record<CacheEngine, readonly [number, number, number]>> = {
  [CacheEngine.VALKEY]: [7, 2, 0],
  [CacheEngine.REDIS]: [7, 0, 5],
};

const VERSION_PATTERN = /^(\d+)\.(\d+)(?:\.(\d+))?$/;

/** What is wrong with `version` for `engine`, or undefined when it can be deployed with RBAC + TLS. */
export function engineVersionProblem(engine: CacheEngine, version: string): string | undefined {
  const match = VERSION_PATTERN.exec(version);
  if (!match) return 'must look like "<major>.<minor>" or "<major>.<minor>.<patch>"';
  const [major, minor, patch] = [Number(match[1]), Number(match[2]), match[3] === undefined ? Infinity : Number(match[3])];
  const [minMajor, minMinor, minPatch] = MINIMUM_VERSION[engine];
  const tooOld =
    major < minMajor || (major === minMajor && (minor < minMinor || (minor === minMinor && patch < minPatch)));
  if (tooOld) {
    return `${engine} ${minMajor}.${minMinor}.${minPatch} or newer is required for transit encryption mode "required" (mandatory with a user group)`;
  }
  return undefined;
}

/** Name of the engine's default parameter group with cluster mode on, e.g. `default.valkey8.cluster.on`. */
export function clusterModeParameterGroup(engine: CacheEngine, version: string): string {
  const major = version.split('.')[0];
  return `default.${engine}${major}.cluster.on`;
}
