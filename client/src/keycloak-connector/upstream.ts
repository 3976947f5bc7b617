import { KccConfigError } from '../errors.js';

/** The npm package this adapter plugs into (an optional peer dependency, never bundled). */
export const UPSTREAM_PACKAGE = '@dapperduckling/keycloak-connector-server';

type MainModule = typeof import('@dapperduckling/keycloak-connector-server');
type ClusterModule = typeof import('@dapperduckling/keycloak-connector-server/dist/cluster/abstract-cluster-provider.js');
type KeyModule = typeof import('@dapperduckling/keycloak-connector-server/dist/crypto/abstract-key-provider.js');

/** Upstream's cluster-provider base class and its event names. */
export type UpstreamClusterBase = Pick<ClusterModule, 'AbstractClusterProvider' | 'BaseClusterEvents'>;
/** Upstream's key-provider base class. */
export type UpstreamKeyBase = Pick<KeyModule, 'AbstractKeyProvider'>;

let cluster: Promise<UpstreamClusterBase> | undefined;
let key: Promise<UpstreamKeyBase> | undefined;

/**
 * Loads upstream's cluster-provider base class, once. Our providers extend the upstream classes
 * because the connector's config types them nominally (they have private members).
 *
 * The module that defines it is imported directly: in 3.0.10 the package's main entry also loads
 * its Express adapter, which imports `express` and `body-parser` without declaring them, and this
 * module needs neither. The class object is the same either way (one module per file URL); the
 * main entry is the fallback should the file move.
 */
export function loadUpstreamClusterBase(): Promise<UpstreamClusterBase> {
  cluster ??= load(
    () => import('@dapperduckling/keycloak-connector-server/dist/cluster/abstract-cluster-provider.js'),
    (main) => ({ AbstractClusterProvider: main.AbstractClusterProvider, BaseClusterEvents: main.BaseClusterEvents }),
  ).catch((error: unknown) => {
    cluster = undefined;
    throw error;
  });
  return cluster;
}

/**
 * Loads upstream's key-provider base class, once. Its module imports the connector itself, which
 * (3.0.10) loads the main entry and so needs `express` and `body-parser` installed, as the
 * connector does anyway.
 */
export function loadUpstreamKeyBase(): Promise<UpstreamKeyBase> {
  key ??= load(
    async () => {
      // The connector first: its module and the base class's import each other (through upstream's
      // own key provider), and loaded from the base class's side the cycle reaches `extends
      // AbstractKeyProvider` before the class exists ("Cannot access … before initialization").
      await import('@dapperduckling/keycloak-connector-server/dist/keycloak-connector.js');
      return import('@dapperduckling/keycloak-connector-server/dist/crypto/abstract-key-provider.js');
    },
    (main) => ({ AbstractKeyProvider: main.AbstractKeyProvider }),
  ).catch((error: unknown) => {
    key = undefined;
    throw error;
  });
  return key;
}

async function load<T>(direct: () => Promise<T>, fromMain: (main: MainModule) => T): Promise<T> {
  try {
    return await direct();
  } catch (directError) {
    try {
      return fromMain(await import('@dapperduckling/keycloak-connector-server'));
    } catch (mainError) {
      throw new KccConfigError(
        'the keycloak-connector adapter',
        [`could not load ${UPSTREAM_PACKAGE} (a peer dependency; npm install ${UPSTREAM_PACKAGE}, and for its 3.0.x also express and body-parser): ${firstLine(directError)}`],
        { cause: mainError },
      );
    }
  }
}

function firstLine(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}
