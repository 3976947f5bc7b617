import type { KeyEncryptionKeys } from '../keyring/key-encryption-keys.js';
import { type KeyEncryptionKey, sealedKekFingerprint } from '../keyring/key-encryption.js';

/**
 * What the connector stores and publishes through the cluster provider, sealed under the app-env's
 * key-encryption key: upstream takes a cached token set's claims as they are (a refresh cookie's
 * `jti` names the cache entry, its signature is not checked) and the result of a token refresh
 * from a message, so a writer of Redis without that key (the app's credentials, a Redis
 * administrator) could otherwise log in as anyone with any role. Each value is bound to its key or
 * channel; one sealed under an earlier key-encryption key still opens (the keys held keep 12). Key
 * and channel names are hidden too ({@link names}): upstream's carry a refresh token's jti, which its
 * unchecked cookie takes as enough to use the session cached under it.
 */
export class ConnectorSeal {
  constructor(private readonly keks: KeyEncryptionKeys) {}

  /**
   * The hidden names of `name` (a key or channel) to use: under the current key-encryption key, then
   * under the one before it, for what was written or is listened to by an instance that has not read
   * a rotation yet (the connector's values live minutes, not a whole rotation).
   */
  names(name: string): string[] {
    const previous = this.keks.fingerprints[1];
    const earlier = previous === undefined ? undefined : this.keks.find(previous);
    return [this.keks.current.hiddenName(name), ...(earlier ? [earlier.hiddenName(name)] : [])];
  }

  /**
   * `text` sealed for `context` under each of the first `count` keys held (current first), with the
   * hidden `name` under that key: what goes under an earlier key's name is sealed under that key, so
   * that an instance that holds only it (it has not read a rotation yet) opens it.
   */
  sealedCopies(name: string, context: string, text: string, count = Number.POSITIVE_INFINITY): { readonly name: string; readonly sealed: string }[] {
    return this.held()
      .slice(0, count)
      .map((kek) => ({ name: kek.hiddenName(name), sealed: kek.seal(context, text) }));
  }

  private held(): KeyEncryptionKey[] {
    return this.keks.fingerprints.map((fingerprint) => this.keks.find(fingerprint)!);
  }

  /** Re-reads the key-encryption keys from their source (single-flight, rate-limited); true when they changed. */
  refresh(): Promise<boolean> {
    return this.keks.refresh();
  }

  /** The sealed text, or undefined when `value` is not sealed, for another context, or altered. */
  async unseal(context: string, value: string): Promise<string | undefined> {
    const fingerprint = sealedKekFingerprint(value);
    if (fingerprint === undefined) return undefined;
    // A key-encryption key rotated since this instance read the keys: read them again (rate-limited).
    if (this.keks.find(fingerprint) === undefined) await this.keks.refreshForUnknownKey();
    try {
      return this.keks.find(fingerprint)?.unseal(context, value);
    } catch {
      return undefined;
    }
  }
}
