import type { AbstractKeyProvider, ConnectorKeys, KeyProviderConfig } from '@dapperduckling/keycloak-connector-server';
import { type JWK, importJWK } from 'jose';
import { KccConfigError, KccKeyRingError } from '../errors.js';
import type { SigningKey } from '../keyring/client-assertion.js';
import { KeyRing, RING_LOGGER, type KeyRingEvents } from '../keyring/key-ring.js';
import type { KeyRingOptions } from '../keyring/key-ring-options.js';
import { MAX_KEYS } from '../keyring/ring-data.js';
import { requireOptionsObject } from '../option-checks.js';
import { waitAtMost } from '../time-limit.js';
import { closeWithProvider, isKccClusterProvider } from './cluster-provider.js';
import { type UpstreamKeyBase, loadUpstreamKeyBase } from './upstream.js';

/** Upstream's key provider, implemented on a {@link KeyRing}. */
export type KccKeyProvider = AbstractKeyProvider & {
  /** The ring the keys come from. */
  readonly ring: KeyRing;
  /**
   * Stops following the ring: the connector is no longer told of key changes, and a scheduled
   * retry is cancelled. The keys the connector reads are still served. Idempotent.
   */
  close(): void;
};

/**
 * What {@link kccKeyProvider} returns: upstream's `KeyProvider` (pass it as the connector's
 * `keyProvider`), typed with the providers it makes ({@link KccKeyProvider}), with `close()`.
 */
export type KccKeyProviderFactory = ((config: KeyProviderConfig) => Promise<KccKeyProvider>) & {
  /**
   * Stops every provider this made, and any it makes later ({@link KccKeyProvider.close}). Upstream's
   * connector has no close of its own: on a ring you own that outlives the connector, call it when
   * the connector goes (e.g. in Fastify's `onClose`), or the ring keeps a listener for it and goes on
   * telling a dead connector of key changes. With `kccClusterProvider` as the connector's
   * `clusterProvider`, calling its `disconnect()` does this for you (the connector never calls it:
   * the app does, when it closes).
   */
  close(): void;
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
 * The provider stops following the ring when the app calls `disconnect()` on the connector's
 * `kccClusterProvider` (the connector never does), when the ring closes, or at
 * {@link KccKeyProviderFactory.close}.
 *
 * @example
 * const clusterProvider = await kccClusterProvider();
 * await fastify.register(keycloakConnectorFastify(), {
 *   ...config,
 *   clusterProvider,
 *   keyProvider: kccKeyProvider({ keyEncryptionKeySecretId: process.env.KCC_KEYRING_KEK_SECRET_ID }),
 * });
 */
export function kccKeyProvider(source: KeyRing | KeyRingOptions = {}): KccKeyProviderFactory {
  if (!(source instanceof KeyRing)) requireOptionsObject(source, 'kccKeyProvider options', "kccKeyProvider({ keyEncryptionKeySecretId: '…' }), or kccKeyProvider(ring) with a started KeyRing");
  // Each provider made and not stopped yet, with what lets its cluster provider forget it.
  const made = new Map<KccKeyProvider, () => void>();
  let closed = false;
  /** Stops `provider` with the factory and with the connector's kccClusterProvider, if it is one. */
  const follow = (provider: KccKeyProvider, config: KeyProviderConfig): KccKeyProvider => {
    if (closed) {
      provider.close();
      (config.pinoLogger ?? provider.ring[RING_LOGGER]).warn('kccKeyProvider: a key provider was made after close() on its factory: it serves the ring\'s keys but does not tell the connector of key changes (make a new one with kccKeyProvider())');
      return provider;
    }
    const unregister = isKccClusterProvider(config.clusterProvider)
      ? closeWithProvider(config.clusterProvider, {
          close: async () => {
            provider.close();
            made.delete(provider); // nothing left to stop: the factory no longer holds it (nor its connector)
          },
        })
      : () => undefined;
    made.set(provider, unregister);
    return provider;
  };
  const factory = async (config: KeyProviderConfig): Promise<KccKeyProvider> => {
    definedProvider ??= loadUpstreamKeyBase().then(defineProvider, (error: unknown) => {
      definedProvider = undefined;
      throw error;
    });
    const Provider = await definedProvider;
    if (source instanceof KeyRing) return follow(new Provider(config, source), config);
    const cluster = config.clusterProvider;
    if (!isKccClusterProvider(cluster)) {
      throw new KccConfigError('kccKeyProvider', [
        'kccKeyProvider(options) starts its key ring on the connection of kccClusterProvider(): set clusterProvider: await kccClusterProvider(), or pass a started KeyRing: kccKeyProvider(ring)',
      ]);
    }
    const ring = await KeyRing.start(cluster.redis, source);
    closeWithProvider(cluster, ring);
    return follow(new Provider(config, ring), config);
  };
  return Object.assign(factory, {
    close(): void {
      closed = true;
      for (const [provider, unregister] of made) {
        provider.close();
        unregister(); // the cluster provider, which may run on, no longer holds it either
      }
      made.clear();
    },
  });
}

let definedProvider: Promise<ReturnType<typeof defineProvider>> | undefined;

/**
 * A connector update that failed is tried again after about 2 s, then 4, 8, … at most a minute
 * apart, until the connector holds the active key (or the provider stops): the previous key leaves
 * the JWKS `retireGraceMs` after the switch, and upstream's own refresh runs once,
 * `refreshConfigMins` after start.
 */
const ANNOUNCE_RETRY_FIRST_MS = 2_000;
/** The longest {@link KccKeyProvider}'s getPublicKeys waits for the connector to take the ring's active key (a discovery fetch from Keycloak). */
const ANNOUNCE_WAIT_MS = 2_000;
/** The longest getPublicKeys takes, the ring's catch-up included: below the 5 s Keycloak's HTTP client waits for a JWKS. */
const PUBLIC_KEYS_WAIT_MS = 4_000;
const ANNOUNCE_RETRY_MAX_MS = 60_000;

/**
 * The wait before the retry after `failures` failed updates in a row (0 for the first retry):
 * 2 s doubled per failure, at most a minute, of which a random part (`random()` in [0, 1)) is
 * taken off, down to half. Every instance's connector fails together when Keycloak is down as the
 * key switches; without the jitter the fleet's retries would reach a recovering Keycloak in lockstep.
 */
export function announceRetryDelayMs(failures: number, random: () => number = Math.random): number {
  const step = Math.min(ANNOUNCE_RETRY_FIRST_MS * 2 ** Math.min(failures, 30), ANNOUNCE_RETRY_MAX_MS);
  return Math.round(step * (1 - random() / 2));
}

function defineProvider({ AbstractKeyProvider: Base }: UpstreamKeyBase) {
  return class KccKeyRingProvider extends Base {
    /** Connector keys by kid, for the keys the ring still publishes. */
    private readonly keys = new Map<string, Promise<ConnectorKeys>>();
    /**
     * The kid the connector is known to hold: the one it read at init (before it registered its
     * callbacks), then the one active when an `onActiveKeyUpdate` began that resolved other than
     * `false`. Upstream's update reads the active keys before its discovery fetch and, when that
     * fetch fails, returns `false` and keeps its old client authentication: a key read is not a
     * key held. While the active kid differs, the connector is told again (with backoff).
     */
    private handedOut: string | undefined;
    /**
     * The kid the connector held when it registered its callbacks: the key of its init, which
     * upstream's token cache (3.0.10) signs refresh-token grants with for as long as the process runs.
     */
    private startKid: string | undefined;
    /** Keeps the start key in the JWKS while this provider runs ({@link KeyRing.keepPublished}). */
    private releaseStartKey: (() => void) | undefined;
    /** Whether the start key was said to have left the JWKS. */
    private startKeyGoneReported = false;
    private callbacksRegistered = false;
    /** The announce under way, if any; `again` asks it to run once more when it ends. */
    private announcing: Promise<void> | undefined;
    private again = false;
    /** Failed announces in a row, and the retry they scheduled. */
    private failures = 0;
    private retryTimer: NodeJS.Timeout | undefined;
    /** Set by close(): the connector is no longer told anything. */
    private stopped = false;

    constructor(
      config: KeyProviderConfig,
      readonly ring: KeyRing,
    ) {
      super(config);
      ring.on('change', this.onRingChange);
    }

    /** The ring's active key (after a catch-up with Redis when the ring's periodic read is overdue, as after a freeze). */
    protected override async generateKeys(): Promise<ConnectorKeys> {
      return this.connectorKeysFor(await this.ring.currentSigningKey());
    }

    /** The ring's active key, for the connector's client assertions (openid-client `PrivateKeyJwt`) and state JWTs. */
    override async getActiveKeys(): Promise<ConnectorKeys> {
      const keys = await this.generateKeys();
      this.connectorKeys = keys;
      // Upstream's init reads the keys for its first discovery, then registers its callbacks (an
      // init whose discovery fails throws: there is no connector). Later reads (every login's state
      // JWT, an update whose fetch may still fail) say nothing about the key the connector holds.
      if (!this.callbacksRegistered) this.handedOut = keys.kid;
      return keys;
    }

    /**
     * The ring's JWKS (caught up as {@link generateKeys}): what the connector serves at its public-keys
     * route and verifies its state JWTs against. Upstream reads it in a login's callback right before
     * the code exchange, which signs with the key its OpenID configuration holds: when the ring's
     * active key is one the connector does not hold yet (a catch-up just found a rotation made during
     * a freeze), the connector is told first and this waits for that, up to 2 s
     * ({@link ANNOUNCE_WAIT_MS}) and within {@link PUBLIC_KEYS_WAIT_MS} with the catch-up: upstream
     * also serves this as the client's JWKS, which Keycloak waits 5 s for. Not while announces are
     * failing (their retry is scheduled).
     */
    override async getPublicKeys(): Promise<JWK[]> {
      const asked = performance.now();
      const jwks = await this.ring.currentJwks();
      if (this.failures === 0 && this.handedOut !== undefined && this.needsAnnounce()) {
        if (!this.announcing) this.announce(); // one may be under way already: the ring's change event starts it
        const left = Math.min(ANNOUNCE_WAIT_MS, PUBLIC_KEYS_WAIT_MS - (performance.now() - asked));
        if (this.announcing && left > 0) await waitAtMost(this.announcing, left);
      }
      return jwks.keys.map((key) => ({ ...key }));
    }

    /**
     * Upstream calls this after a login failed because the identity provider could not load the
     * client's public key. The ring keeps itself current (event log, periodic re-read): there is
     * nothing to fetch. If the connector does not hold the active key (never told, or its last
     * update failed), it is told again now, without waiting for a scheduled retry.
     */
    override triggerKeySync(): void {
      if (this.needsAnnounce()) this.announce();
    }

    close(): void {
      if (this.stopped) return;
      this.stopped = true;
      this.releaseStartKey?.();
      this.ring.off('change', this.onRingChange);
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }

    /** Stores the connector's callbacks; a key that became active before they were registered is announced at once. */
    override registerCallbacks(...callbacks: Parameters<AbstractKeyProvider['registerCallbacks']>): void {
      super.registerCallbacks(...callbacks);
      this.callbacksRegistered = true;
      if (this.startKid === undefined && this.handedOut !== undefined && !this.stopped) {
        this.startKid = this.handedOut;
        this.releaseStartKey = this.ring.keepPublished(this.startKid);
      }
      if (this.handedOut !== undefined && this.needsAnnounce()) this.announce();
    }

    private readonly onRingChange = ({ activeKid, publishedKids }: KeyRingEvents['change'][0]): void => {
      for (const kid of this.keys.keys()) if (!publishedKids.includes(kid)) this.keys.delete(kid);
      if (activeKid !== undefined && this.handedOut !== undefined && this.needsAnnounce()) this.announce();
      if (!this.stopped) this.reportStartKey(publishedKids);
    };

    /**
     * Says once when the key of the connector's start has left the JWKS although this provider keeps it
     * published ({@link KeyRing.keepPublished}): an emergency rotation, a ring full of later keys, or no
     * instance could keep it in time.
     * Upstream's token cache still signs refresh-token grants with it (docs/migration-keycloak-connector.md),
     * which Keycloak then refuses; nothing here can reach that cache, a restart of the instance moves it
     * to the active key.
     */
    private reportStartKey(publishedKids: readonly string[]): void {
      const kid = this.startKid;
      if (kid === undefined || this.startKeyGoneReported || publishedKids.includes(kid)) return;
      this.startKeyGoneReported = true;
      this.logger.warn(
        `kccKeyProvider: kid ${kid} left the JWKS (an emergency rotation, retireGraceMs 0, the ring's ${MAX_KEYS} keys, or no instance could keep it in time: Redis out of reach, processes frozen; if it is still stored, it is published again once one can), and upstream's token cache (keycloak-connector-server 3.0.10) signs refresh-token grants with the key of the connector's start for as long as the process runs: Keycloak refuses this instance's token refreshes and their users sign in again, until the instance restarts (docs/migration-keycloak-connector.md)`,
      );
    }

    /** Upstream's pino logger when the connector was given one, else the ring's connection's (a warning is never dropped). */
    private get logger(): { warn(message: string): void } {
      return this.keyProviderConfig.pinoLogger ?? this.ring[RING_LOGGER];
    }

    /** Whether the connector can be told of an active key it does not hold. */
    private needsAnnounce(): boolean {
      const active = this.ring.health();
      return !this.stopped && this.onActiveKeyUpdate !== null && active.status !== 'closed' && active.activeKid !== undefined && active.activeKid !== this.handedOut;
    }

    /** Tells the connector now (or once the announce under way ends), in place of a scheduled retry. */
    private announce(): void {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      if (this.announcing) {
        this.again = true;
        return;
      }
      this.announcing = this.announceUntilCurrent().finally(() => (this.announcing = undefined));
    }

    private async announceUntilCurrent(): Promise<void> {
      do {
        this.again = false;
        if (!this.needsAnnounce()) return;
        const kid = this.ring.health().activeKid;
        if (await this.announceOnce()) {
          this.failures = 0;
          // The update read the active keys after it began: this kid, or a newer one whose change
          // event set `again` (the next pass then finds the connector behind and tells it again).
          this.handedOut = kid;
        } else if (!this.again) {
          // The ring may have closed (or the provider stopped) while the update was in flight: then
          // there is no one left to tell.
          if (this.needsAnnounce()) this.scheduleRetry();
          else this.failures = 0;
          return;
        }
      } while (this.again);
    }

    /** Whether the connector's update succeeded: upstream's `updateOpenIdConfig` resolves `false` when it kept its old configuration. */
    private async announceOnce(): Promise<boolean> {
      try {
        // The connector re-reads its OpenID configuration, building its client authentication with getActiveKeys().
        return (await this.onActiveKeyUpdate?.()) !== (false as unknown);
      } catch (error) {
        this.logger.warn(`the connector's update after a signing-key change failed: ${String(error)}`);
        return false;
      }
    }

    private scheduleRetry(): void {
      const delay = announceRetryDelayMs(this.failures);
      this.failures++;
      this.logger.warn(
        `the connector did not take the new signing key (its OpenID configuration update failed, ${this.failures} in a row); it still signs with the previous key, told again in ${Math.round(delay / 1000)} s`,
      );
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.needsAnnounce()) this.announce();
        else this.failures = 0;
      }, delay);
      this.retryTimer.unref();
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
