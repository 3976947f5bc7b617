export {
  kccClusterProvider,
  type ConnectorKeyEncryptionKeys,
  type KccClusterProvider,
  type KccClusterProviderExtras,
  type KccClusterProviderOptions,
} from './cluster-provider.js';
export type { KccClusterEvent } from './connection-events.js';
export { kccKeyProvider, type KccKeyProvider, type KccKeyProviderFactory } from './key-provider.js';
