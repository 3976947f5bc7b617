import type { RedisClient, RenewDedicated } from './redis-client.js';
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
  /** While an old and a new subscriber overlap (a renewal), the messages already delivered, so each is delivered once. */
  private overlap: Set<string> | undefined;
  private closed = false;

  constructor(
    private readonly openConnection: (onRenew: RenewDedicated) => Promise<RedisClient>,
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
    // Best effort, not awaited: a subscriber connection that is down would hold the reply forever
    // (subscribers retry without limit), and messages of a channel without listeners are ignored anyway.
    const client = this.connected;
    if (client?.status === 'ready') client.unsubscribe(channel).catch(() => undefined);
  }

  private connection(): Promise<RedisClient> {
    this.client ??= this.openConnection((next) => this.moveTo(next)).then(
      (client) => {
        this.listen(client);
        this.connected = client;
        return client;
      },
      (error: unknown) => {
        this.client = undefined;
        throw error;
      },
    );
    return this.client;
  }

  private listen(client: RedisClient): void {
    client.on('message', (channel: string, message: string) => this.deliver(channel, message));
    // ioredis re-subscribes by itself after a reconnect, but only after 'ready'; subscribing again
    // here (idempotent) and awaiting it tells when messages flow again.
    client.on('ready', () => setImmediate(() => void this.resubscribe(client)));
  }

  /**
   * A renewal (IAM connections live at most 12 hours): `next` subscribes to every channel before the
   * old subscriber closes, so nothing published meanwhile is missed; messages both receive are
   * delivered once.
   */
  private async moveTo(next: RedisClient): Promise<void> {
    const old = this.connected;
    this.overlap = new Set();
    this.listen(next);
    const channels = [...this.channels.keys()];
    if (channels.length > 0) await next.subscribe(...channels);
    this.connected = next;
    this.client = Promise.resolve(next);
    const endOverlap = () => {
      this.overlap = undefined;
    };
    if (old) old.once('end', endOverlap);
    else endOverlap();
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    if (this.closed || client !== this.connected) return;
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
    if (this.overlap) {
      const key = `${channel}\n${message}`;
      if (this.overlap.has(key)) return;
      this.overlap.add(key);
    }
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.logger.warn('a message listener threw; the message was still delivered to the others', { channel, error: String(error) });
      }
    }
  }
}
