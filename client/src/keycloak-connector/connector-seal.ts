import type { KeyEncryptionKeys } from '../keyring/key-encryption-keys.js';
import { type KeyEncryptionKey, sealedKekFingerprint } from '../keyring/key-encryption.js';

/**
 * What goes inside the seal, version 1: a value with the server time it expires at (`x`, ms; null
 * without an expiry), a message with the server time it was sent (`t`, ms) and its id (`i`). Inside,
 * so that a writer of Redis without the key-encryption key can neither put an expired value back (or
 * take its expiry away) nor send an old message again as new.
 */
const PAYLOAD_VERSION = 1;

/** How far past its expiry a value still opens: the writer's and the reader's estimates of the server's time may differ by this much. */
export const VALUE_EXPIRY_SLACK_MS = 5_000;
/**
 * How long after it was sent a message is still delivered (a listener hears each id once within
 * this time): long enough for a publish that waited out a failover (the connection retries a command
 * through reconnects) to be heard, as it was before messages carried their time; a message sent
 * again within it reaches only a listener that subscribed after the first, and is what was sent.
 */
export const MESSAGE_MAX_AGE_MS = 5 * 60_000;
/** How far ahead of this instance's estimate of the server's time a message's time may be (the sender's estimate, off by as much). */
export const MESSAGE_AHEAD_SLACK_MS = 60_000;

/** Why a sealed message was not taken: it did not open, it is past its time, or it is dated ahead of it. */
export type Refusal = 'unopened' | 'expired' | 'ahead';
/** Why a sealed value was not taken (a value carries an expiry, not a sending time: never dated ahead). */
export type ValueRefusal = Exclude<Refusal, 'ahead'>;

interface ValuePayload {
  readonly v: typeof PAYLOAD_VERSION;
  readonly x: number | null;
  readonly d: string;
}

interface MessagePayload {
  readonly v: typeof PAYLOAD_VERSION;
  readonly t: number;
  readonly i: string;
  readonly d: string;
}

/**
 * What the connector stores and publishes through the cluster provider, sealed under the app-env's
 * key-encryption key: upstream takes a cached token set's claims as they are (a refresh cookie's
 * `jti` names the cache entry, its signature is not checked) and the result of a token refresh
 * from a message, so a writer of Redis without that key (the app's credentials, a Redis
 * administrator) could otherwise log in as anyone with any role. Each value is bound to its key or
 * channel and carries its expiry, each message its time and id; one sealed under an earlier
 * key-encryption key still opens (the keys held keep 12). Key and channel names are hidden too
 * ({@link names}): upstream's carry a refresh token's jti, which its unchecked cookie takes as
 * enough to use the session cached under it.
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
   * Value `text`, expiring at server time `expiresAt` (ms; null: never), sealed for `context` under
   * each of the first `count` keys held (current first), with the hidden `name` under that key: what
   * goes under an earlier key's name is sealed under that key, so that an instance that holds only it
   * (it has not read a rotation yet) opens it.
   */
  valueCopies(name: string, context: string, text: string, expiresAt: number | null, count: number): { readonly name: string; readonly sealed: string }[] {
    const payload: ValuePayload = { v: PAYLOAD_VERSION, x: expiresAt, d: text };
    return this.copies(name, context, JSON.stringify(payload), count);
  }

  /** Message `text` with its id, sent at server time `sentAt` (ms), sealed under every key held, each with the hidden `name` under that key. */
  messageCopies(name: string, context: string, text: string, id: string, sentAt: number): { readonly name: string; readonly sealed: string }[] {
    const payload: MessagePayload = { v: PAYLOAD_VERSION, t: sentAt, i: id, d: text };
    return this.copies(name, context, JSON.stringify(payload), Number.POSITIVE_INFINITY);
  }

  /** The value sealed for `context`, or why not: it did not open (not sealed, for another context, altered) or is past its expiry at server time `now`. */
  async openValue(context: string, stored: string, now: number): Promise<{ readonly text: string } | { readonly refused: ValueRefusal }> {
    const payload = await this.open(context, stored);
    if (!isValuePayload(payload)) return { refused: 'unopened' };
    if (payload.x !== null && now > payload.x + VALUE_EXPIRY_SLACK_MS) return { refused: 'expired' };
    return { text: payload.d };
  }

  /**
   * The message sealed for `context` with its id and time, or why not: it did not open, was sent more
   * than {@link MESSAGE_MAX_AGE_MS} before server time `now`, or is dated more than
   * {@link MESSAGE_AHEAD_SLACK_MS} after it.
   */
  async openMessage(context: string, sealed: string, now: number): Promise<{ readonly text: string; readonly id: string; readonly sentAt: number } | { readonly refused: Refusal }> {
    const payload = await this.open(context, sealed);
    if (!isMessagePayload(payload)) return { refused: 'unopened' };
    if (now - payload.t > MESSAGE_MAX_AGE_MS) return { refused: 'expired' };
    if (payload.t - now > MESSAGE_AHEAD_SLACK_MS) return { refused: 'ahead' };
    return { text: payload.d, id: payload.i, sentAt: payload.t };
  }

  /** Re-reads the key-encryption keys from their source (single-flight, rate-limited); true when they changed. */
  refresh(): Promise<boolean> {
    return this.keks.refresh();
  }

  private copies(name: string, context: string, text: string, count: number): { readonly name: string; readonly sealed: string }[] {
    return this.held()
      .slice(0, count)
      .map((kek) => ({ name: kek.hiddenName(name), sealed: kek.seal(context, text) }));
  }

  private held(): KeyEncryptionKey[] {
    return this.keks.fingerprints.map((fingerprint) => this.keks.find(fingerprint)!);
  }

  /** The parsed payload sealed for `context`, or undefined when `value` is not sealed, for another context, or altered. */
  private async open(context: string, value: string): Promise<unknown> {
    const fingerprint = sealedKekFingerprint(value);
    if (fingerprint === undefined) return undefined;
    // A key-encryption key rotated since this instance read the keys: read them again (rate-limited).
    if (this.keks.find(fingerprint) === undefined) await this.keks.refreshForUnknownKey();
    try {
      const text = this.keks.find(fingerprint)?.unseal(context, value);
      return text === undefined ? undefined : (JSON.parse(text) as unknown);
    } catch {
      return undefined;
    }
  }
}

function isPayload(value: unknown): value is { v: unknown; d: unknown } & Record<string, unknown> {
  return typeof value === 'object' && value !== null && (value as { v?: unknown }).v === PAYLOAD_VERSION && typeof (value as { d?: unknown }).d === 'string';
}

function isValuePayload(value: unknown): value is ValuePayload {
  return isPayload(value) && (value.x === null || Number.isFinite(value.x)) && !('t' in value);
}

function isMessagePayload(value: unknown): value is MessagePayload {
  return isPayload(value) && Number.isFinite(value.t) && typeof value.i === 'string' && !('x' in value);
}
