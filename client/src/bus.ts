import type { KccRedis } from './connection.js';
import { type DropCounts, type DropReason, type Envelope, decodeEnvelope, emptyDropCounts, encodeEnvelope, MAX_MESSAGE_BYTES } from './envelope.js';
import { pacedWarner } from './paced-warning.js';
import { RecentIds } from './recent-ids.js';

/**
 * How many message ids a Bus remembers to deliver each message once: a PUBLISH whose reply was lost
 * is sent again on the next connection (ioredis resends what was in flight), and arrives twice.
 */
const REMEMBERED_MESSAGE_IDS = 1_024;

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
 * subscriber reconnects is lost, and one published twice (resent after a lost reply) is delivered
 * once; durable events go through the EventLog. Incoming payloads are
 * size-limited and validated; bad ones are dropped and counted, never thrown into the app. Every
 * Bus of a connection shares its one subscriber connection.
 *
 * @example
 * const bus = new Bus<{ sid: string }>(redis, { channel: 'hints', validate: isHint });
 * const stop = await bus.subscribe((message) => console.log(message.sender, message.data.sid));
 * await bus.publish('hint', { sid: 'abc' });
 * await stop();
 */
export class Bus<T = unknown> {
  /** The full channel name (`<prefix><channel>`). */
  readonly channel: string;
  private readonly drops: DropCounts = emptyDropCounts();
  private readonly handlers = new Set<BusHandler<T>>();
  private readonly delivered = new RecentIds(REMEMBERED_MESSAGE_IDS);
  private listening: Promise<() => Promise<void>> | undefined;
  /**
   * A handler that throws is warned about at most once a minute, the next warning counting those not
   * logged: a handler whose bug every message of a kind reaches, fed by a writer of Redis, logged a
   * line per message (a live fuzz: 101 messages, 101 lines).
   */
  private readonly warnThrown: ReturnType<typeof pacedWarner>;

  constructor(
    private readonly redis: KccRedis,
    private readonly options: BusOptions<T> = {},
  ) {
    this.channel = redis.channel(options.channel ?? 'bus');
    this.warnThrown = pacedWarner(redis.config.logger);
  }

  /** Incoming messages dropped so far, by reason. */
  get dropped(): Readonly<DropCounts> {
    return { ...this.drops };
  }

  /** Publishes a message (classic or sharded pub/sub: `redis.pubSubMode()`); resolves with the number of subscriptions that received it. */
  async publish(type: string, data: T): Promise<number> {
    const { json } = encodeEnvelope(this.redis.instanceId, type, data, this.redis.config.maxMessageBytes);
    return this.redis.publish(this.channel, json);
  }

  /** Subscribes `handler`; resolves once messages flow. Returns the function that unsubscribes it. */
  async subscribe(handler: BusHandler<T>): Promise<() => Promise<void>> {
    this.handlers.add(handler);
    this.listening ??= this.redis.subscribe(this.channel, (raw) => this.receive(raw)).catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    try {
      await this.listening;
    } catch (error) {
      this.handlers.delete(handler);
      throw error;
    }
    return async () => {
      if (!this.handlers.delete(handler) || this.handlers.size > 0 || !this.listening) return;
      const listening = this.listening;
      this.listening = undefined;
      await (await listening)();
    };
  }

  private receive(raw: string): void {
    const envelope = this.decode(raw);
    if (!envelope) return;
    for (const handler of this.handlers) {
      try {
        handler(envelope);
      } catch (error) {
        this.warnThrown('handler threw', 'a bus handler threw; the message was still delivered to the others', { channel: this.channel, type: envelope.type, error: String(error) });
      }
    }
  }

  private decode(raw: string): Envelope<T> | undefined {
    const decoded = decodeEnvelope(raw, MAX_MESSAGE_BYTES, this.options.validate);
    if (!decoded.ok) {
      this.drops[decoded.reason]++;
      this.options.onDrop?.(decoded.reason);
      return undefined;
    }
    if (decoded.envelope.sender === this.redis.instanceId && !this.options.receiveOwn) return undefined;
    if (!this.delivered.add(decoded.envelope.id)) return undefined;
    return decoded.envelope;
  }
}
