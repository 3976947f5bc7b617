export {
  CONNECTOR_MESSAGE_TYPE,
  type KccClusterProvider,
  type KccClusterProviderExtras,
  type KccClusterProviderOptions,
  isKccClusterProvider,
  kccClusterProvider,
} from './cluster-provider.js';
export type { KccClusterEvent } from './connection-events.js';
export { type KccKeyProvider, kccKeyProvider } from './key-provider.js';
export { UPSTREAM_PACKAGE } from './upstream.js';
