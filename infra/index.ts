export { ALARM_THRESHOLD_DEFAULTS, type AlarmThresholds, type AlarmsConfig } from './alarm-thresholds.js';
export { KccRedisAlarms, type KccRedisAlarmsProps } from './alarms.js';
export { KccServerlessAlarms, type KccServerlessAlarmsProps } from './serverless-alarms.js';
export { type AllowedPeer, parseAllowedPeer } from './allowed-peer.js';
export { type BuiltApp, buildApp } from './app.js';
export { KccRedisBastion, type KccRedisBastionProps } from './bastion.js';
export {
  type AppConfig,
  CACHE_REMOVAL_POLICIES,
  CONFIG_CONTEXT_KEY,
  CONFIG_DEFAULTS,
  DEPLOYMENT_KINDS,
  type CacheRemovalPolicy,
  type DeploymentKind,
  type KccConfig,
  LOG_RETENTION_DAYS,
  parseConfig,
} from './config.js';
export {
  CACHE_ENGINES,
  CacheEngine,
  DEFAULT_ENGINE_VERSION,
  DEFAULT_SERVERLESS_MAJOR_VERSION,
  ENGINE_VERSIONS,
  IAM_AUTH_MIN_VERSION,
  SERVERLESS_MAJOR_VERSIONS,
  engineVersionProblem,
  iamAuthVersionProblem,
  serverlessVersionProblem,
} from './engine.js';
export {
  KccCachePropsError,
  KccInfraError,
  type KccInfraErrorCode,
  KccRotationError,
  type KccRotationErrorCode,
  KccStackConfigError,
} from './errors.js';
export { APP_ENV_AUTHS, AppEnvAuth, hasIamUser, hasPasswordUser, usersPerAppEnv } from './app-env-auth.js';
export { type AppEnvWithAuth, type KccApp, appEnvAuthsOf, appEnvsOf } from './kcc-app.js';
export {
  CACHE_BASE_DEFAULTS,
  type CacheTopology,
  type IKccRedisCache,
  KccRedisCacheBase,
  type KccRedisCacheBaseProps,
} from './kcc-redis-cache-base.js';
export { KccRedisCache, type KccRedisCacheProps } from './kcc-redis-cache.js';
export { KCC_REDIS_CACHE_DEFAULTS } from './kcc-redis-cache-props.js';
export { KccServerlessCache, type KccServerlessCacheProps } from './kcc-serverless-cache.js';
export { KCC_SERVERLESS_CACHE_DEFAULTS } from './kcc-serverless-cache-props.js';
export {
  APP_ENV_OUTPUT_VERSION,
  type AppEnvOutput,
  KccRedisStack,
  type KccRedisStackProps,
  cachePropsFromConfig,
  serverlessCachePropsFromConfig,
} from './kcc-redis-stack.js';
export { SigningKeyEncryptionSecret, type KeyEncryptionKeySecretProps } from './key-encryption-key-secret.js';
export {
  CLOUDFORMATION_LIMITS,
  MAX_APP_ENVS,
  MAX_APP_ENVS_BY_AUTH,
  PER_APP_ENV_RESOURCES,
  PER_APP_ENV_RESOURCES_BY_AUTH,
  RESOURCES_PER_APP_ENV,
  appEnvLimitProblems,
  countTemplate,
  dynamicReferencesPerAppEnv,
  resourcesPerAppEnv,
} from './limits.js';
export { NAG_ACKNOWLEDGEMENTS, acknowledgeNagFindings } from './nag-acknowledgements.js';
export { KccRedisNetwork, type KccRedisNetworkProps } from './network.js';
export { RbacIamUser, type RbacIamUserProps } from './rbac-iam-user.js';
export { RbacPasswordUser, type RbacPasswordUserProps } from './rbac-password-user.js';
export { RedisPasswordRotation, type RedisPasswordRotationProps } from './rotation/redis-password-rotation.js';
export { KeyEncryptionKeyRotation, type KeyEncryptionKeyRotationProps } from './rotation/key-encryption-key-rotation.js';
