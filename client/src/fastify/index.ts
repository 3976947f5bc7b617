export type { KccFastify, KccHealth } from './decoration.js';
// What fastify.kcc.logoutStats() returns (also exported by the main entry).
export type { EndpointStats } from '../revocation/revocation-endpoint.js';
export { LOGOUT_REJECTION_REASONS, type LogoutRejectionReason } from '../revocation/backchannel-logout.js';
export { ADMIN_REJECTION_REASONS, type AdminRejectionReason } from '../revocation/keycloak-admin.js';
export type { KccHealthSummary } from './health-route.js';
export { JWKS_CONTENT_TYPE } from './jwks-route.js';
export { fastifyKcc, fastifyKcc as default } from './plugin.js';
export { KCC_FASTIFY_DEFAULTS, PLUGIN_NAME, type KccFastifyKeycloakAdminOptions, type KccFastifyMetricsOptions, type KccFastifyOptions } from './plugin-options.js';
export { requireNotRevoked, type ClaimsGetter, type RequireNotRevokedOptions } from './require-not-revoked.js';
