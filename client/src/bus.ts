import type { Redis } from 'ioredis';
import type { KccRedis, RedisClient } from './connection.js';
import { type DropCounts, type DropReason, type Envelope, decodeEnvelope, emptyDropCounts, encodeEnvelope } from './envelope.js';

export interface BusOptions<T> {
  /** Channel name inside the namespace. @default 'bus' */
  readonly channel?: string;
  /** Checks the `data` of incoming messages; messages that fail are dropped and counted. */
  readonly validate?: (data: unknown) => data is T;
  /** Also deliver this instance's own messages. @default false */
  readonly receiveOwn?: boolean;
  /** Called for every dropped message (after counting); for metrics or logs. Must not throw. */
  readonly onDrop?: (reason: DropReason) => void;
}

export type BusHandler<T> = (message: Envelope<T>) => void;

/**
 * Fire-and-forget messages between the instances of one app-env over Redis pub/sub, each carrying
 * its sender's instance id so an instance skips its own. At most once: a message published while a
 * subscriber reconnects is lost; durable events go through the EventLog. Incoming payloads are
 * size-limited and validated; bad ones are dropped and counted, never thrown into the app.
 *
 * @example
 * const bus = new Bus<{ sid: string }>(redis, { channel: 'hints', validate: isHint });
 * await bus.subscribe((message) => console.log(message.sender, message.data.sid));
 * await bus.publish('hint', { sid: 'abc' });
 */
export class Bus<T = unknown> {
  readonly channel: string;
  readonly dropped: DropCounts = emptyDropCounts();
  private readonly handlers = new Set<BusHandler<T>>();
  private subscriber: Promise<RedisClient> | undefined;

  constructor(
    private readonly redis: KccRedis,
    private readonly options: BusOptions<T> = {},
  ) {
    this.channel = redis.channel(options.channel ?? 'bus');
  }

  /** Publishes a message; resolves with the number of connections that received it. */
  async publish(type: string, data: T): Promise<number> {
    const { json } = encodeEnvelope(this.redis.instanceId, type, data, this.redis.config.maxMessageBytes);
    return this.redis.run((r) => r.publish(this.channel, json));
  }

  /** Subscribes `handler`; resolves once the subscription is active. Returns an unsubscribe function. */
  async subscribe(handler: BusHandler<T>): Promise<() => void> {
    this.handlers.add(handler);
    this.subscriber ??= this.openSubscriber();
    try {
      await this.subscriber;
    } catch (error) {
      this.handlers.delete(handler);
      this.subscriber = undefined;
      throw error;
    }
    return () => this.handlers.delete(handler);
  }

  private async openSubscriber(): Promise<RedisClient> {
    const listen = async (client: RedisClient) => {
      (client as Redis).on('message', (channel: string, message: string) => {
        if (channel === this.channel) this.receive(message);
      });
      // ioredis resubscribes after every reconnect (autoResubscribe).
      await client.subscribe(this.channel);
    };
    // Renewed (IAM): the new connection subscribes before the old one closes; a message heard on both is delivered twice.
    const client = await this.redis.dedicated('subscriber', async (next) => {
      await listen(next);
      this.subscriber = Promise.resolve(next);
    });
    await listen(client);
    return client;
  }

  private receive(raw: string): void {
    const decoded = decodeEnvelope(raw, this.redis.config.maxMessageBytes, this.options.validate);
    if (!decoded.ok) {
      this.dropped[decoded.reason]++;
      this.options.onDrop?.(decoded.reason);
      return;
    }
    if (decoded.envelope.sender === this.redis.instanceId && !this.options.receiveOwn) return;
    for (const handler of this.handlers) {
      try {
        handler(decoded.envelope);
      } catch (error) {
        this.redis.config.logger.warn('a bus handler threw; the message was still delivered to the others', {
          channel: this.channel,
          type: decoded.envelope.type,
          error: String(error),
        });
      }
    }
  }
}
