import type { RedisClient } from './connection.js';
import type { KccLogger } from './logger.js';

/** Receives a message as published on a channel. */
export type MessageListener = (message: string) => void;

/**
 * Every channel one {@link KccRedis} listens to, on its one dedicated subscriber connection: each
 * channel is subscribed once, however many listeners it has, and unsubscribed with its last one.
 * After a reconnect every channel is subscribed again before `onResubscribed` is called, so a
 * caller that catches up from durable state then misses nothing. Delivery is synchronous; a listener
 * that throws is logged and never reaches Redis or the other listeners.
 */
export class Subscriptions {
  private readonly channels = new Map<string, Set<MessageListener>>();
  private client: Promise<RedisClient> | undefined;
  private connected: RedisClient | undefined;
  private closed = false;

  constructor(
    private readonly openConnection: () => Promise<RedisClient>,
    private readonly logger: KccLogger,
    private readonly onResubscribed: () => void,
  ) {}

  /** Whether the subscriber connection is up. */
  get ready(): boolean {
    return this.connected?.status === 'ready';
  }

  /** Adds `listener` to `channel`, subscribing on first use; resolves once messages flow. Returns the function that removes it. */
  async add(channel: string, listener: MessageListener): Promise<() => Promise<void>> {
    const client = await this.connection();
    let listeners = this.channels.get(channel);
    const first = listeners === undefined;
    listeners ??= new Set();
    this.channels.set(channel, listeners);
    listeners.add(listener);
    if (first) {
      try {
        await client.subscribe(channel);
      } catch (error) {
        listeners.delete(listener);
        if (listeners.size === 0 && this.channels.get(channel) === listeners) this.channels.delete(channel);
        throw error;
      }
    }
    return () => this.remove(channel, listener);
  }

  /** Opens the subscriber connection (once); resolves when it is ready. */
  async open(): Promise<void> {
    await this.connection();
  }

  /** Closes the subscriber connection (the owning KccRedis closes its socket). */
  close(): void {
    this.closed = true;
    this.channels.clear();
  }

  private async remove(channel: string, listener: MessageListener): Promise<void> {
    const listeners = this.channels.get(channel);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.channels.delete(channel);
    const client = this.connected;
    if (client?.status === 'ready') await client.unsubscribe(channel).catch(() => undefined);
  }

  private connection(): Promise<RedisClient> {
    this.client ??= this.openConnection().then(
      (client) => {
        this.connected = client;
        client.on('message', (channel: string, message: string) => this.deliver(channel, message));
        // ioredis re-subscribes by itself after a reconnect, but only after 'ready'; subscribing again
        // here (idempotent) and awaiting it tells when messages flow again.
        client.on('ready', () => setImmediate(() => void this.resubscribe(client)));
        return client;
      },
      (error: unknown) => {
        this.client = undefined;
        throw error;
      },
    );
    return this.client;
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    if (this.closed) return;
    try {
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await client.subscribe(...channels);
      this.onResubscribed();
    } catch (error) {
      // The connection dropped again; the next 'ready' retries.
      this.logger.warn('re-subscribing after a reconnect failed; will retry on the next reconnect', { error: String(error) });
    }
  }

  private deliver(channel: string, message: string): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.logger.warn('a message listener threw; the message was still delivered to the others', { channel, error: String(error) });
      }
    }
  }
}
