import type { KccRedis, RedisClient } from '../connection.js';
import { type DropCounts, type DropReason, decodeEnvelope, emptyDropCounts } from '../envelope.js';
import { KccClosedError } from '../errors.js';

/** Receives the `data` of a message and the instance id of its sender. */
export type EnvelopeListener = (data: unknown, sender: string) => unknown;
/** Receives a message as published (size-limited, not parsed). */
export type RawListener = (message: string) => unknown;

type Subscription = { readonly kind: 'envelope'; readonly listener: EnvelopeListener; readonly ignoreOwn: boolean } | { readonly kind: 'raw'; readonly listener: RawListener };

export interface ChannelSubscriptionsOptions {
  /** Called for every dropped message (after counting). Must not throw. */
  readonly onDrop?: ((reason: DropReason) => void) | undefined;
  /** Called once the subscriber connection is back and subscribed to every channel again. */
  readonly onResubscribed: () => void;
}

/**
 * Every channel of one provider on one dedicated subscriber connection. Messages are the client's
 * envelopes (sender id, size limit, shape check; bad ones dropped and counted), delivered to each
 * listener of the channel, skipping the sender's own messages for listeners that asked for that.
 * A listener's failure is logged and never reaches Redis or the other listeners.
 */
export class ChannelSubscriptions {
  readonly dropped: DropCounts = emptyDropCounts();
  private readonly channels = new Map<string, Map<object, Subscription>>();
  private client: RedisClient | undefined;

  constructor(
    private readonly redis: KccRedis,
    private readonly options: ChannelSubscriptionsOptions,
  ) {}

  /** Opens the subscriber connection (once). */
  async open(): Promise<void> {
    if (this.client) return;
    const client = await this.redis.dedicated('subscriber', (next) => this.moveTo(next));
    this.client = client;
    this.listen(client);
  }

  private listen(client: RedisClient): void {
    client.on('message', (channel: string, message: string) => this.receive(channel, message));
    // ioredis resubscribes by itself after a reconnect, but only once 'ready' has been emitted;
    // subscribing again here (idempotent) and awaiting it tells us when messages flow again.
    client.on('ready', () => setImmediate(() => void this.resubscribe(client)));
  }

  /**
   * Connection renewal (IAM): `next` becomes the subscriber (channels added from now on subscribe
   * there) and subscribes to every channel before the old connection closes; a message heard on
   * both is delivered twice.
   */
  private async moveTo(next: RedisClient): Promise<void> {
    const old = this.client;
    if (!old) throw new KccClosedError('the cluster provider is closed');
    this.listen(next);
    this.client = next;
    try {
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await next.subscribe(...channels);
    } catch (error) {
      // The renewal closes `next`; the old connection serves on, subscribed to every channel again.
      if (this.client === next) this.client = old;
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await old.subscribe(...channels).catch(() => undefined);
      throw error;
    }
  }

  /** True while the subscriber connection is up. */
  get ready(): boolean {
    return this.client?.status === 'ready';
  }

  /** Adds `subscription` to `channel` under `key` (one per key and channel), subscribing on first use. */
  async add(channel: string, key: object, subscription: Subscription): Promise<void> {
    const client = this.requireClient();
    let listeners = this.channels.get(channel);
    const first = !listeners;
    listeners ??= new Map();
    this.channels.set(channel, listeners);
    listeners.set(key, subscription);
    if (!first) return;
    try {
      await client.subscribe(channel);
    } catch (error) {
      if (this.channels.get(channel) === listeners) this.channels.delete(channel);
      throw error;
    }
  }

  /** Removes the subscription under `key`; unsubscribes when it was the channel's last. Resolves false when there was none. */
  async remove(channel: string, key: object): Promise<boolean> {
    const listeners = this.channels.get(channel);
    if (!listeners?.delete(key)) return false;
    if (listeners.size === 0) {
      this.channels.delete(channel);
      await this.requireClient().unsubscribe(channel);
    }
    return true;
  }

  /** Closes the subscriber connection. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.channels.clear();
    if (!client) return;
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }

  private requireClient(): RedisClient {
    if (!this.client) throw new Error('the cluster provider is not connected: call connectOrThrow() first');
    return this.client;
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    if (client !== this.client) return;
    try {
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await client.subscribe(...channels);
      this.options.onResubscribed();
    } catch (error) {
      // The connection dropped again; the next 'ready' retries.
      this.redis.config.logger.warn('re-subscribing the keycloak-connector channels failed; will retry on the next reconnect', { error: String(error) });
    }
  }

  private receive(channel: string, message: string): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    const maxBytes = this.redis.config.maxMessageBytes;
    const subscriptions = [...listeners.values()];
    if (subscriptions.some((s) => s.kind === 'raw')) {
      if (message.length > maxBytes || Buffer.byteLength(message) > maxBytes) return this.drop('oversized');
      for (const s of subscriptions) if (s.kind === 'raw') this.deliver(channel, () => s.listener(message));
    }
    const envelopes = subscriptions.filter((s) => s.kind === 'envelope');
    if (envelopes.length === 0) return;
    const decoded = decodeEnvelope(message, maxBytes);
    if (!decoded.ok) return this.drop(decoded.reason);
    const { sender, data } = decoded.envelope;
    const own = sender === this.redis.instanceId;
    for (const s of envelopes) if (!(own && s.ignoreOwn)) this.deliver(channel, () => s.listener(data, sender));
  }

  private deliver(channel: string, call: () => unknown): void {
    // Never inside the socket's message handler, and a failing listener never reaches the others.
    void Promise.resolve()
      .then(call)
      .catch((error: unknown) => {
        this.redis.config.logger.warn('a keycloak-connector listener failed; the message was still delivered to the others', { channel, error: String(error) });
      });
  }

  private drop(reason: DropReason): void {
    this.dropped[reason]++;
    this.options.onDrop?.(reason);
  }
}
