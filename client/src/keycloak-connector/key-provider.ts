import type { AbstractKeyProvider, ConnectorKeys, KeyProvider, KeyProviderConfig } from '@dapperduckling/keycloak-connector-server';
import { type JWK, importJWK } from 'jose';
import { KccConfigError, KccKeyRingError } from '../errors.js';
import type { SigningKey } from '../keyring/client-assertion.js';
import { KeyRing, type KeyRingEvents } from '../keyring/key-ring.js';
import type { KeyRingOptions } from '../keyring/key-ring-options.js';
import { closeWithProvider, isKccClusterProvider } from './cluster-provider.js';
import { type UpstreamKeyBase, loadUpstreamKeyBase } from './upstream.js';

/** Upstream's key provider, implemented on a {@link KeyRing}. */
export type KccKeyProvider = AbstractKeyProvider & {
  /** The ring the keys come from. */
  readonly ring: KeyRing;
};

/**
 * A key provider for `@dapperduckling/keycloak-connector-server` on the client's shared, encrypted
 * signing-key ring: every instance signs its client assertions and state JWTs with the ring's
 * active key and serves the ring's JWKS (active, next, and previous keys until their grace ends);
 * private keys are stored only encrypted and rotate on schedule. When the active key changes, the
 * connector is told (`onActiveKeyUpdate`), so it re-reads its OpenID configuration with the new key.
 *
 * Pass a started ring, or ring options (then the ring is started on the connection of
 * {@link kccClusterProvider}, which must be the connector's `clusterProvider`, and closed with it).
 *
 * @example
 * const clusterProvider = await kccClusterProvider();
 * await fastify.register(keycloakConnectorFastify(), {
 *   ...config,
 *   clusterProvider,
 *   keyProvider: kccKeyProvider({ keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID }),
 * });
 */
export function kccKeyProvider(source: KeyRing | KeyRingOptions = {}): KeyProvider {
  return async (config: KeyProviderConfig): Promise<KccKeyProvider> => {
    definedProvider ??= loadUpstreamKeyBase().then(defineProvider, (error: unknown) => {
      definedProvider = undefined;
      throw error;
    });
    const Provider = await definedProvider;
    if (source instanceof KeyRing) return new Provider(config, source);
    const cluster = config.clusterProvider;
    if (!isKccClusterProvider(cluster)) {
      throw new KccConfigError('kccKeyProvider', [
        'kccKeyProvider(options) starts its key ring on the connection of kccClusterProvider(): set clusterProvider: await kccClusterProvider(), or pass a started KeyRing: kccKeyProvider(ring)',
      ]);
    }
    const ring = await KeyRing.start(cluster.redis, source);
    closeWithProvider(cluster, ring);
    return new Provider(config, ring);
  };
}

let definedProvider: Promise<ReturnType<typeof defineProvider>> | undefined;

function defineProvider({ AbstractKeyProvider: Base }: UpstreamKeyBase) {
  return class KccKeyRingProvider extends Base {
    /** Connector keys by kid, for the keys the ring still publishes. */
    private readonly keys = new Map<string, Promise<ConnectorKeys>>();
    /** The kid the connector was last given; a different active kid is announced. */
    private handedOut: string | undefined;

    constructor(
      config: KeyProviderConfig,
      readonly ring: KeyRing,
    ) {
      super(config);
      ring.on('change', this.onRingChange);
    }

    /** The ring's active key. */
    protected override generateKeys(): Promise<ConnectorKeys> {
      return this.connectorKeysFor(this.ring.signingKey());
    }

    /** The ring's active key, for the connector's client assertions (openid-client `PrivateKeyJwt`) and state JWTs. */
    override async getActiveKeys(): Promise<ConnectorKeys> {
      const keys = await this.generateKeys();
      this.connectorKeys = keys;
      this.handedOut = keys.kid;
      return keys;
    }

    /** The ring's JWKS: what the connector serves at its public-keys route and verifies its state JWTs against. */
    override async getPublicKeys(): Promise<JWK[]> {
      return this.ring.jwks().keys.map((key) => ({ ...key }));
    }

    /**
     * Upstream calls this after a login failed because the identity provider could not load the
     * client's public key. The ring keeps itself current (event log, periodic re-read): there is
     * nothing to fetch. If the connector still holds an older active key, it is told again.
     */
    override triggerKeySync(): void {
      const active = this.ring.health().activeKid;
      if (active !== undefined && active !== this.handedOut) void this.announce();
    }

    /** Stores the connector's callbacks; a key that became active before they were registered is announced at once. */
    override registerCallbacks(...callbacks: Parameters<AbstractKeyProvider['registerCallbacks']>): void {
      super.registerCallbacks(...callbacks);
      if (this.handedOut !== undefined && this.ring.health().activeKid !== this.handedOut) void this.announce();
    }

    private readonly onRingChange = ({ activeKid, publishedKids }: KeyRingEvents['change'][0]): void => {
      for (const kid of this.keys.keys()) if (!publishedKids.includes(kid)) this.keys.delete(kid);
      if (activeKid !== undefined && this.handedOut !== undefined && activeKid !== this.handedOut) void this.announce();
    };

    private async announce(): Promise<void> {
      try {
        // The connector re-reads its OpenID configuration, building its client authentication with getActiveKeys().
        await this.onActiveKeyUpdate?.();
      } catch (error) {
        this.keyProviderConfig.pinoLogger?.warn(`the connector's update after a signing-key change failed: ${String(error)}`);
      }
    }

    private connectorKeysFor({ kid, alg, key }: SigningKey): Promise<ConnectorKeys> {
      let keys = this.keys.get(kid);
      if (!keys) {
        const publicJwk = this.ring.jwks().keys.find((k) => k.kid === kid);
        if (!publicJwk) throw new KccKeyRingError(`the active key "${kid}" is not in the ring's JWKS`);
        keys = importJWK(publicJwk, alg).then((publicKey) => {
          if (publicKey instanceof Uint8Array) throw new KccKeyRingError(`the key "${kid}" is not an asymmetric key`);
          // The private key stays a non-extractable CryptoKey: `privateJwk` holds the public members only.
          return Object.freeze({ kid, alg, publicKey, privateKey: key, publicJwk: { ...publicJwk }, privateJwk: { ...publicJwk } });
        });
        keys.catch(() => this.keys.delete(kid));
        this.keys.set(kid, keys);
      }
      return keys;
    }
  };
}
