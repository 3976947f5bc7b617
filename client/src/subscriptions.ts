import { Cluster, Redis } from 'ioredis';
import { BridgeCopies, type PubSubPath } from './bridge-copies.js';
import type { RedisClient, RenewDedicated } from './redis-client.js';
import type { KccLogger } from './logger.js';
import { type PubSubMode, shardChannel } from './pubsub-mode.js';
import { pause, withTimeout } from './time-limit.js';

/** How long one confirmation SSUBSCRIBE may take before it is retried (a connection that is down holds it). */
const CONFIRM_TIMEOUT_MS = 5_000;

/** Receives a message as published on a channel. */
export type MessageListener = (message: string) => void;

/** What {@link Subscriptions} needs from its connection. */
export interface SubscriptionsContext {
  /** Opens the dedicated subscriber connection; `onRenew` moves the subscriptions to a successor. */
  readonly openConnection: (onRenew: RenewDedicated) => Promise<RedisClient>;
  /** Classic, sharded or both (decided once by the connection). */
  readonly mode: () => Promise<PubSubMode>;
  readonly keyPrefix: string;
  readonly logger: KccLogger;
  /** Called each time every channel is subscribed again after a reconnect. */
  readonly onResubscribed: () => void;
  /**
   * How often an idle subscriber connection is sent a `PING` (the connection's `socketTimeoutMs`): a
   * subscriber only listens, so without it nothing would wait for a reply there, and one whose node
   * vanished would go unnoticed until TCP gives up.
   */
  readonly pingIntervalMs: number;
}

/**
 * Every channel one {@link KccRedis} listens to, on its one dedicated subscriber connection: each
 * channel is subscribed once, however many listeners it has, and unsubscribed with its last one.
 * Listeners name classic channels (`redis.channel()`); in sharded mode (cluster mode) each is
 * subscribed as its sharded twin ({@link shardChannel}) with SSUBSCRIBE, on the shard that owns the
 * namespace's slot, and in bridge mode both ways, each message delivered once. After a reconnect
 * every channel is subscribed again before `onResubscribed` is called, so a caller that catches up
 * from durable state then misses nothing. Delivery is synchronous; a listener that throws is logged
 * and never reaches Redis or the other listeners.
 */
export class Subscriptions {
  private readonly channels = new Map<string, Set<MessageListener>>();
  /** Sharded channel name → the classic name listeners use. */
  private readonly shardedNames = new Map<string, string>();
  private client: Promise<RedisClient> | undefined;
  private connected: RedisClient | undefined;
  private mode: PubSubMode = 'classic';
  private copies: BridgeCopies | undefined;
  /** While an old and a new subscriber overlap (a renewal), the messages already delivered, so each is delivered once. */
  private overlap: Set<string> | undefined;
  private confirming = false;
  private confirmAgain = false;
  private closed = false;
  private pinger: NodeJS.Timeout | undefined;

  constructor(private readonly context: SubscriptionsContext) {}

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
        await this.subscribe(client, [channel]);
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
    clearInterval(this.pinger);
    this.channels.clear();
  }

  private async remove(channel: string, listener: MessageListener): Promise<void> {
    const listeners = this.channels.get(channel);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.channels.delete(channel);
    // Best effort, not awaited: a subscriber connection that is down would hold the reply forever
    // (subscribers retry without limit), and messages of a channel without listeners are ignored anyway.
    const client = this.connected;
    if (client?.status !== 'ready') return;
    if (this.mode !== 'sharded') client.unsubscribe(channel).catch(() => undefined);
    if (this.mode !== 'classic') {
      const sharded = shardChannel(this.context.keyPrefix, channel);
      this.shardedNames.delete(sharded);
      (client as Cluster).sunsubscribe(sharded).catch(() => undefined);
    }
  }

  private connection(): Promise<RedisClient> {
    this.client ??= Promise.all([this.context.mode(), this.context.openConnection((next) => this.moveTo(next))]).then(
      ([mode, client]) => {
        this.mode = mode;
        if (mode === 'bridge') this.copies = new BridgeCopies();
        this.listen(client);
        this.connected = client;
        this.keepAnswering();
        return client;
      },
      (error: unknown) => {
        this.client = undefined;
        throw error;
      },
    );
    return this.client;
  }

  /**
   * PINGs the subscriber connection now and then, so that the connection's socket timeout has a
   * reply to wait for. Not in cluster mode: ioredis keeps a cluster's subscriber connections to
   * itself (a PING through the cluster goes to another connection); there a vanished node's
   * subscriber is found by TCP keepalive, and logout sync reads the log meanwhile.
   */
  private keepAnswering(): void {
    if (this.closed || this.pinger || !(this.connected instanceof Redis)) return;
    this.pinger = setInterval(() => {
      const client = this.connected;
      if (client instanceof Redis && client.status === 'ready') client.ping().catch(() => undefined);
    }, this.context.pingIntervalMs);
    this.pinger.unref();
  }

  /** Subscribes `channels` on `client` the ways the mode says; resolves once messages flow. */
  private async subscribe(client: RedisClient, channels: readonly string[]): Promise<void> {
    if (channels.length === 0) return;
    const pending: Promise<unknown>[] = [];
    if (this.mode !== 'sharded') pending.push(client.subscribe(...channels));
    if (this.mode !== 'classic') {
      const sharded = channels.map((channel) => shardChannel(this.context.keyPrefix, channel));
      sharded.forEach((name, i) => this.shardedNames.set(name, channels[i]!));
      // All of a namespace's sharded channels hash to its one slot: one SSUBSCRIBE, one shard.
      pending.push((client as Cluster).ssubscribe(...sharded));
    }
    await Promise.all(pending);
  }

  private listen(client: RedisClient): void {
    client.on('message', (channel: string, message: string) => this.deliver(channel, message, 'classic'));
    // After a reconnect the channels are subscribed again here, awaiting the reply, which tells when
    // messages flow again. ioredis' own re-subscription is turned off on this connection (it reads
    // the option when the connection is ready again): it does not handle its reply, so a connection
    // closed before the reply came would leave an unhandled rejection, which ends a Node process by
    // default. (A cluster's subscriber connections are replaced, not reconnected: nothing to turn off.)
    if (client instanceof Redis) client.options.autoResubscribe = false;
    if (this.mode !== 'sharded') client.on('ready', () => void this.resubscribe(client));
    if (this.mode !== 'classic' && client instanceof Cluster) {
      client.on('smessage', (sharded: string, message: string) => {
        const channel = this.shardedNames.get(sharded);
        if (channel !== undefined) this.deliver(channel, message, 'sharded');
      });
      // The cluster's sharded subscriber group re-subscribes by itself (a dropped connection, a slot
      // that moved to another primary: the server's SUNSUBSCRIBE or a MOVED reply), then says so.
      client.on('subscribersReady', () => void this.confirmSharded(client));
    }
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
    await this.subscribe(next, [...this.channels.keys()]);
    this.connected = next;
    this.client = Promise.resolve(next);
    const endOverlap = () => {
      this.overlap = undefined;
    };
    if (old) old.once('end', endOverlap);
    else endOverlap();
  }

  /**
   * ioredis' group re-subscribes without waiting for the answer or retrying it: a MOVED answer (a
   * primary that has not heard of a moved slot yet) would leave the channels unsubscribed until the
   * next topology change. So subscribe again through the cluster, retrying with a bounded backoff
   * until it holds, and only then report that messages flow. SSUBSCRIBE is idempotent.
   */
  private async confirmSharded(client: Cluster): Promise<void> {
    if (this.confirming) {
      this.confirmAgain = true;
      return;
    }
    this.confirming = true;
    try {
      for (let attempt = 0; !this.closed && client === this.connected && client.status !== 'end'; attempt++) {
        this.confirmAgain = false;
        const sharded = [...this.shardedNames.keys()];
        try {
          if (sharded.length > 0) await withTimeout(client.ssubscribe(...sharded), CONFIRM_TIMEOUT_MS);
          if (this.confirmAgain) continue;
          this.context.onResubscribed();
          return;
        } catch {
          await pause(Math.min(100 * 2 ** attempt, 2_000));
        }
      }
    } finally {
      this.confirming = false;
    }
  }

  private async resubscribe(client: RedisClient): Promise<void> {
    if (this.closed || client !== this.connected) return;
    try {
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await client.subscribe(...channels);
      // In bridge mode the sharded group reports its own re-subscription; this reports the classic one.
      this.context.onResubscribed();
    } catch (error) {
      // The connection dropped again; the next 'ready' retries.
      this.context.logger.warn('re-subscribing after a reconnect failed; will retry on the next reconnect', { error: String(error) });
    }
  }

  private deliver(channel: string, message: string, path: PubSubPath): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    if (this.copies?.isTwin(path, channel, message)) return;
    if (this.overlap) {
      const key = `${channel}\n${message}`;
      if (this.overlap.has(key)) return;
      this.overlap.add(key);
    }
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.context.logger.warn('a message listener threw; the message was still delivered to the others', { channel, error: String(error) });
      }
    }
  }
}
