export {
  ACL_DIRECTIVES,
  ACL_PROFILES,
  CLUSTER_MODE_GRANTS,
  DEFAULT_ADMIN_USER_ID,
  DEFAULT_ENVS,
  DEFAULT_REDIS_PORT,
  DEFAULT_USER_GROUP_ID,
  DEFAULT_USER_NAME,
  HARDENED_DENIALS,
  HARDENED_STANDALONE_DENIALS,
  IAM_USER_SUFFIX,
  accessPermissions,
  appEnvIamUserName,
  appEnvUserId,
  appEnvAccessString,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  hashTag,
  keyPrefix,
  namespacedChannel,
  namespacedKey,
  storedAccessString,
  type AccessStringOptions,
  type AclProfile,
  type AppEnv,
} from './naming.js';
/**
 * Validation helpers of the repository's stack, CLI and client (ElastiCache's identifier rule, key
 * prefixes); not part of the published API.
 * @internal
 */
export { identifierProblem, keyPrefixOfUser, keyPrefixProblem } from './naming.js';
export {
  KEK_HISTORY_LENGTH,
  KEK_SECRET_FIELD,
  KEK_SECRET_VERSION,
  MIN_KEK_LENGTH,
  USER_SECRET_PASSWORD_FIELD,
  USER_SECRET_PASSWORD_LENGTH,
  parseKeyEncryptionKeySecret,
  parseRedisUserSecret,
  type KeyEncryptionKeySecret,
  type RedisUserSecret,
} from './user-secret.js';
/**
 * Where the key ring and the revocation state live in an app-env's namespace (the stored layout),
 * for the repository's CLI, which reads them; not part of the published API.
 * @internal
 */
export { KEY_RING_KEYS } from '../keyring/ring-keys.js';
/** @internal */
export { REVOCATION_KEYS } from '../revocation/revocation-keys.js';
