// The main entry of @kcc-redis/client: what an app needs. Low-level primitives live at
// '@kcc-redis/client/primitives', names and secret shapes at '@kcc-redis/client/contract'.

// Connection
export {
  KccRedis,
  type ConnectionRole,
  type ConnectionStats,
  type DedicatedRole,
  type KccRedisEvents,
  type KccRedisSummary,
  type RedisClient,
  type RenewDedicated,
} from './connection.js';
export { CONNECTION_DEFAULTS, type CredentialsProvider, type KccConnectionOptions, type RedisCredentials } from './options.js';
export type { KccRedisConfig } from './resolve-options.js';
export type { MessageListener } from './subscriptions.js';
export type { KccLogger } from './logger.js';
export type { PubSubMode, PubSubOption, PublishRoute } from './pubsub-mode.js';
export { listInstances, type HeartbeatConnection, type HeartbeatKeyRing, type HeartbeatParts, type HeartbeatRevocations, type InstanceHeartbeat, type InstanceList, type ListedInstance } from './heartbeat.js';

// Metrics (OpenTelemetry; @opentelemetry/api is an optional peer)
export { KccMetrics, type KccMetricsOptions, type KccMetricsTargets } from './metrics/kcc-metrics.js';
export type {
  OtelBatchObservableResult,
  OtelMeter,
  OtelMeterProvider,
  OtelMetricAttributes,
  OtelMetricOptions,
  OtelObservable,
} from './metrics/otel-api.js';

// ElastiCache IAM authentication (also for users of other Redis clients)
export { createIamAuthToken, type AwsCredentials, type AwsCredentialsProvider, type IamAuthTokenOptions } from './iam/index.js';
export type { IamConnectionOptions, RedisAuthMode } from './iam/iam-options.js';
export type { ResolvedIamAuth } from './iam/resolve-iam-options.js';

// Errors
export {
  KccAuthError,
  KccAwsError,
  KccClosedError,
  KccConfigError,
  KccConnectionError,
  KccError,
  KccInputError,
  KccKeyRingError,
  KccLockTimeoutError,
  KccNotReadyError,
  KccSecretError,
  type KccErrorCode,
} from './errors.js';

// Signing keys (JWK sync)
export {
  KeyRing,
  type JsonWebKeySet,
  type KeyRingEvents,
  type KeyRingHealth,
  type KeyRingStats,
  type KeyRingSummary,
  type RotateOptions,
  type RotateResult,
} from './keyring/key-ring.js';
export { KEY_RING_DEFAULTS, type KeyRingOptions } from './keyring/key-ring-options.js';
export type { KeyRingKeyStatus, KeyRingStatus } from './keyring/key-ring-status.js';
export type { KeyEncryptionKeyMaterial, KeyEncryptionKeyProvider } from './keyring/key-encryption-keys.js';
export type { RingRefusalReason as KeyRingRefusalReason } from './keyring/ring-seal.js';
export { SIGNING_ALGORITHMS, type SigningAlgorithm } from './keyring/ring-data.js';
export type { ClientAssertionRequest, ClientAuthFunction, SigningKey } from './keyring/client-assertion.js';

// Logout sync (revocations)
export {
  REVOCATION_DEFAULTS,
  Revocations,
  type RevocationCheck,
  type RevocationEvents,
  type RevocationOptions,
  type RevocationSource,
  type RevocationStats,
} from './revocation/revocations.js';
export { MAX_NOT_BEFORE_SKEW_SECONDS, MAX_REVOCATION_ID_LENGTH, type RevocationEvent } from './revocation/revocation-event.js';
export { SESSION_UP_TO_SLACK_SECONDS, type RevocationClaims } from './revocation/revocation-index.js';
export type { KeycloakAdminSink, RevocationSink, RevokeSessionOptions } from './revocation/revocation-sink.js';
export type { DropCounts, DropReason } from './envelope.js';
export { RedisReplayGuard, type ReplayGuard } from './revocation/replay-guard.js';

// Logout endpoints (framework-agnostic handlers)
export {
  BACKCHANNEL_LOGOUT_DEFAULTS,
  LOGOUT_REJECTION_REASONS,
  createBackchannelLogoutHandler,
  type BackchannelLogoutHandler,
  type BackchannelLogoutOptions,
  type LogoutRejectionReason,
} from './revocation/backchannel-logout.js';
export {
  ADMIN_REJECTION_REASONS,
  KEYCLOAK_ADMIN_DEFAULTS,
  KEYCLOAK_ADMIN_PATHS,
  createKeycloakAdminHandlers,
  type AdminRejectionReason,
  type KeycloakAdminHandler,
  type KeycloakAdminHandlers,
  type KeycloakAdminOptions,
} from './revocation/keycloak-admin.js';
export {
  KEYCLOAK_ACTION_LIFETIME_SECONDS,
  MAX_ACTION_EXPIRATION_AHEAD_SECONDS,
  NON_ADMIN_ACTION_CLAIMS,
  createKeycloakPushVerifier,
  type AdminActionRejection,
  type KeycloakAdminAction,
  type KeycloakPushVerdict,
  type KeycloakPushVerifier,
  type KeycloakPushVerifierOptions,
  type VerifiedKeycloakPush,
} from './revocation/keycloak-admin-action.js';
export {
  ASYMMETRIC_JWS_ALGORITHMS,
  REALM_KEYS_DEFAULTS,
  resolveRealmKeys,
  type AsymmetricJwsAlgorithm,
  type RealmKeys,
  type RealmKeysOptions,
  type SignatureFailure,
} from './revocation/realm-keys.js';
export { ENDPOINT_REDIS_WAIT_MS } from './revocation/revocation-endpoint.js';
export type { EndpointHandler, EndpointRequest, EndpointResponse, EndpointStats } from './revocation/revocation-endpoint.js';
