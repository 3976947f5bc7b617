export type { KccFastify, KccHealth } from './decoration.js';
export type { KccHealthSummary } from './health-route.js';
export { JWKS_CONTENT_TYPE } from './jwks-route.js';
export { fastifyKcc, fastifyKcc as default } from './plugin.js';
export { KCC_FASTIFY_DEFAULTS, PLUGIN_NAME, type KccFastifyKeycloakAdminOptions, type KccFastifyMetricsOptions, type KccFastifyOptions } from './plugin-options.js';
export { requireNotRevoked, type ClaimsGetter, type RequireNotRevokedOptions } from './require-not-revoked.js';
