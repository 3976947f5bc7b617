export * from './backchannel-logout.js';
export * from './keycloak-admin.js';
export { ASYMMETRIC_JWS_ALGORITHMS, REALM_KEYS_DEFAULTS, resolveRealmKeys, type AsymmetricJwsAlgorithm, type RealmKeys, type RealmKeysOptions } from './realm-keys.js';
export type { EndpointHandler, EndpointRequest, EndpointResponse, EndpointStats } from './revocation-endpoint.js';
export * from './revocation-index.js';
export type { RevocationSink } from './revocation-sink.js';
export * from './revocations.js';
