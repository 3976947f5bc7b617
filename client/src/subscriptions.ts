import { Cluster, Redis } from 'ioredis';
import { PairedCopies } from './paired-copies.js';
import type { RedisClient, RenewDedicated } from './redis-client.js';
import type { KccLogger } from './logger.js';
import { pacedWarner } from './paced-warning.js';
import { type PubSubMode, type PubSubPath, shardChannel } from './pubsub-mode.js';
import { type ClusterSubscriberConnection, clusterSubscriberConnection } from './cluster-subscriber-connection.js';
import { refusedForNow } from './refused-for-now.js';
import { pause, withTimeout } from './time-limit.js';

/** How long one confirmation SUBSCRIBE or SSUBSCRIBE may take before it is retried (a connection that is down holds it). */
const CONFIRM_TIMEOUT_MS = 5_000;

/**
 * The wait after failed re-subscription `attempt` (from 0): doubling from 100 ms, up to 2 s while the
 * server does not answer, up to 30 s once it refuses (NOPERM after an ACL change does not pass by
 * itself, and every instance of a fleet would fill the ACL log and the authorization alarm every
 * 2 s; the log polls deliver meanwhile), each wait drawn between half and all of it so that a
 * fleet's retries spread out (a server-load review).
 * @internal
 */
export function resubscribeDelay(attempt: number, refused: boolean, random: () => number = Math.random): number {
  const ceiling = Math.min(100 * 2 ** Math.min(attempt, 20), refused ? 30_000 : 2_000);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}


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
  /** A listening connection to `node` (`host:port`) left a PING unanswered for `pingIntervalMs` and was closed. */
  readonly onPingUnanswered: (node: string) => void;
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
  /** While an old and a new subscriber overlap (a renewal): what each delivered, so a message both are sent is delivered once. */
  private overlap: PairedCopies<RedisClient> | undefined;
  /** The connection a renewal is subscribing ({@link moveTo}), until it takes over or is given up. */
  private successor: RedisClient | undefined;
  /** Per connection and path, whether a {@link confirm} loop runs, and whether it must go round once more. */
  private readonly confirming = new WeakMap<RedisClient, Record<PubSubPath, { running: boolean; again: boolean }>>();
  private closed = false;
  private pinger: NodeJS.Timeout | undefined;
  /** Connections with a PING in flight: a stalled one is not sent another. */
  private readonly pinging = new WeakSet<Redis>();
  /** When a classic cluster subscriber was first seen connected but not ready (its ready check unanswered). */
  private readonly unreadySince = new WeakMap<Redis, number>();
  /** Classic cluster subscriber connections whose end is watched ({@link watchClassic}). */
  private readonly watched = new WeakSet<Redis>();
  private unknownInternalsReported = false;
  /**
   * A listener that throws is warned about at most once a minute per channel, the next warning
   * counting those not logged: one that throws on every message of a kind, fed by a writer of Redis,
   * logged a line per message (a live fuzz: 101 messages, 101 lines).
   */
  private readonly warnThrown: ReturnType<typeof pacedWarner>;

  constructor(private readonly context: SubscriptionsContext) {
    this.warnThrown = pacedWarner(context.logger);
  }

  /** Whether the subscriber connection is up. */
  get ready(): boolean {
    return this.connected?.status === 'ready';
  }

  /** Adds `listener` to `channel`, subscribing on first use; resolves once messages flow. Returns the function that removes it. */
  async add(channel: string, listener: MessageListener): Promise<() => Promise<void>> {
    let client = await this.connection();
    let listeners = this.channels.get(channel);
    const first = listeners === undefined;
    listeners ??= new Set();
    this.channels.set(channel, listeners);
    listeners.add(listener);
    if (first) {
      try {
        await this.subscribe(client, [channel]);
        // A renewal that switched connections meanwhile may have checked its successor's channels
        // before this one was added: the successor takes it here.
        for (let current = this.connected; current !== undefined && current !== client; current = this.connected) {
          client = current;
          await this.subscribe(client, [channel]);
        }
        this.watchClassic();
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
    const sharded = shardChannel(this.context.keyPrefix, channel);
    if (this.mode !== 'classic') this.shardedNames.delete(sharded);
    // Best effort, not awaited: a subscriber connection that is down holds the reply until it is back
    // (subscribers retry without limit), and messages of a channel without listeners are ignored anyway.
    // A cluster is told even while it is down: once back, it subscribes its new subscriber connections
    // to what the old ones had, this channel too unless its UNSUBSCRIBE waits in the queue. (A single
    // node's connection comes back subscribed only to what confirm() asks for.)
    for (const client of new Set([this.connected, this.successor])) {
      if (!client || (client.status !== 'ready' && !(client instanceof Cluster))) continue;
      if (this.mode !== 'sharded') client.unsubscribe(channel).catch(() => undefined);
      if (this.mode !== 'classic') (client as Cluster).sunsubscribe(sharded).catch(() => undefined);
    }
  }

  private connection(): Promise<RedisClient> {
    this.client ??= Promise.all([this.context.mode(), this.context.openConnection((next) => this.moveTo(next))]).then(
      ([mode, client]) => {
        this.mode = mode;
        this.listen(client);
        this.connected = client;
        this.watchClassic();
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
   * PINGs the listening connection now and then, so that one whose peer vanished (no reset reached
   * us) is closed and replaced within about two intervals instead of when TCP gives up. A standalone
   * subscriber is closed by its socket timeout. In a cluster, ioredis PINGs its sharded subscribers
   * itself (the connection's `shardedSubscriberHealthCheckInterval`); its classic subscriber has no
   * socket timeout, so an unanswered PING closes it here, and ioredis picks another node and
   * subscribes there again. That connection is found in ioredis' internals
   * ({@link clusterSubscriberConnection}); a later ioredis that moved it is reported once, and the log
   * polls still bring every revocation meanwhile.
   */
  private keepAnswering(): void {
    if (this.closed || this.pinger) return;
    this.pinger = setInterval(() => {
      for (const connection of this.listeningConnections()) this.ping(connection);
    }, this.context.pingIntervalMs);
    this.pinger.unref();
  }

  private listeningConnections(): readonly Redis[] {
    const client = this.connected;
    if (client instanceof Redis) return [client];
    // Classic pub/sub only: ioredis PINGs its sharded subscribers itself.
    if (!(client instanceof Cluster) || this.mode === 'sharded') return [];
    const { known, connection } = this.watchClassic();
    if (!known && !this.unknownInternalsReported) {
      this.unknownInternalsReported = true;
      this.context.logger.warn(
        "cannot reach ioredis' classic cluster subscriber connection to PING it (this ioredis keeps it elsewhere): one whose node vanished without a reset is noticed only when TCP gives up; revocations still arrive by the log polls meanwhile",
      );
    }
    return connection ? [connection] : [];
  }

  private ping(connection: Redis): void {
    if ((connection.options.socketTimeout ?? 0) === 0) {
      this.pingWithDeadline(connection);
      return;
    }
    // Its own socket timeout closes it when the PING goes unanswered.
    if (connection.status !== 'ready' || this.pinging.has(connection)) return;
    this.pinging.add(connection);
    const done = () => void this.pinging.delete(connection);
    connection.ping().then(done, done);
  }

  /**
   * ioredis' classic cluster subscriber has no socket timeout, and its ready check (`INFO`, once
   * connected) no time limit either: one that leaves a PING unanswered for an interval, or is still
   * not ready an interval after it connected, is closed here.
   */
  private pingWithDeadline(connection: Redis): void {
    if (connection.status === 'connect') {
      const since = this.unreadySince.get(connection);
      if (since === undefined) this.unreadySince.set(connection, performance.now());
      else if (performance.now() - since >= this.context.pingIntervalMs) this.drop(connection);
      return;
    }
    if (connection.status !== 'ready' || this.pinging.has(connection)) return;
    this.pinging.add(connection);
    const unanswered = new Error('PING unanswered');
    withTimeout(connection.ping(), this.context.pingIntervalMs, () => unanswered).then(
      () => void this.pinging.delete(connection),
      (error: unknown) => {
        this.pinging.delete(connection);
        if (error === unanswered && connection.status === 'ready') this.drop(connection);
      },
    );
  }

  /** Closes a silent classic cluster subscriber, says so, and confirms its successor's subscriptions. */
  private drop(connection: Redis): void {
    const client = this.connected;
    // Not one that is being closed anyway (ioredis moved on, a renewal, close()).
    if (this.closed || !(client instanceof Cluster) || !this.listeningConnections().includes(connection)) return;
    connection.disconnect();
    // disconnect() ends the stream and destroys it only after ioredis' disconnectTimeout (2 s); a
    // peer that vanished never answers the end, and meanwhile the connection would still count as
    // ready (PINGed and reported again): close it now.
    connection.stream?.destroy();
    this.context.onPingUnanswered(`${connection.options.host ?? '?'}:${connection.options.port ?? '?'}`);
    // Its end (watched) confirms the successor's subscriptions.
  }

  /**
   * Watches the end of ioredis' classic cluster subscriber connection (classic and bridge mode).
   * However it ends (closed here for an unanswered PING, reset by its node, its node gone from the
   * topology), ioredis picks another node at once and subscribes there by itself, but tells nobody,
   * and does not retry a SUBSCRIBE that fails: so on each end the client watches the successor and
   * confirms the channels through the cluster ({@link confirm}), which reports `resubscribed`.
   */
  private watchClassic(): ClusterSubscriberConnection {
    const client = this.connected;
    if (!(client instanceof Cluster) || this.mode === 'sharded') return { known: true, connection: undefined };
    const found = clusterSubscriberConnection(client);
    const { connection } = found;
    if (connection && !this.watched.has(connection)) {
      this.watched.add(connection);
      // ioredis' own 'end' listener, added when it made the connection, runs first: the successor exists by now.
      connection.once('end', () => {
        if (this.closed || client !== this.connected) return;
        this.watchClassic();
        // A cluster that is not ready: the loop sends nothing, and the cluster's 'ready' confirms.
        void this.confirm(client, 'classic');
      });
    }
    return found;
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

  /** Delivers what `client` hears and confirms its subscriptions when it comes back; returns what stops that. */
  private listen(client: RedisClient): () => void {
    const handlers: [string, (...args: string[]) => void][] = [];
    const on = (event: string, handler: (...args: string[]) => void) => {
      client.on(event, handler);
      handlers.push([event, handler]);
    };
    // Per connection: during a renewal's overlap, a copy the new subscriber heard one way must not
    // cancel the old one's twin heard the other way (the overlap matches the two connections' copies).
    const copies = this.mode === 'bridge' ? new PairedCopies<PubSubPath>('classic', 'sharded') : undefined;
    on('message', (channel, message) => this.deliver(client, copies, channel!, message!, 'classic'));
    // After a reconnect the channels are subscribed again here, awaiting the reply, which tells when
    // messages flow again. ioredis' own re-subscription is turned off on this connection (it reads
    // the option when the connection is ready again): it does not handle its reply, so a connection
    // closed before the reply came would leave an unhandled rejection, which ends a Node process by
    // default. (A cluster's subscriber connections are replaced, not reconnected: nothing to turn off.)
    if (client instanceof Redis) client.options.autoResubscribe = false;
    if (this.mode !== 'sharded') {
      on('ready', () => {
        if (client !== this.connected) return;
        // A whole cluster that reconnected has a new classic subscriber: watched from now.
        this.watchClassic();
        void this.confirm(client, 'classic');
      });
    }
    if (this.mode !== 'classic' && client instanceof Cluster) {
      on('smessage', (sharded, message) => {
        const channel = this.shardedNames.get(sharded!);
        if (channel !== undefined) this.deliver(client, copies, channel, message!, 'sharded');
      });
      // The cluster's sharded subscriber group re-subscribes by itself (a dropped connection, a slot
      // that moved to another primary: the server's SUNSUBSCRIBE or a MOVED reply), then says so.
      on('subscribersReady', () => {
        if (client === this.connected) void this.confirm(client, 'sharded');
      });
    }
    return () => {
      for (const [event, handler] of handlers) client.off(event, handler);
    };
  }

  /**
   * A renewal (IAM connections live at most 12 hours): `next` subscribes to every channel before the
   * old subscriber closes, and the old one delivers what it was sent before that, so nothing
   * published meanwhile is missed; messages both receive are delivered once. If subscribing `next`
   * fails, `old` stays and `next` (closed by the caller) delivers nothing more.
   */
  private async moveTo(next: RedisClient): Promise<void> {
    const old = this.connected;
    const overlap = old && new PairedCopies<RedisClient>(old, next);
    this.overlap = overlap;
    this.successor = next;
    const stopListening = this.listen(next);
    const onNext = new Set<string>();
    // Channels added meanwhile went to `old` (the connection callers still get): `next` takes them too.
    const lacking = () => [...this.channels.keys()].filter((channel) => !onNext.has(channel));
    const subscribeNext = async () => {
      for (let missing = lacking(); missing.length > 0; missing = lacking()) {
        await this.subscribe(next, missing);
        for (const channel of missing) onNext.add(channel);
      }
    };
    try {
      await subscribeNext();
      const channels = [...onNext];
      // A message the server sent `old` before `next` was subscribed can still be on its way when
      // `next`'s reply is here (another socket: nothing orders the two), and a cluster closes its
      // subscriber connections at once, unread (a standalone connection's QUIT is answered after it).
      // Subscribing `old` again (idempotent) is a round trip on each of its listening connections,
      // answered after every such message; one that does not answer in time is left behind.
      if (old instanceof Cluster) await withTimeout(this.subscribe(old, channels), CONFIRM_TIMEOUT_MS).catch(() => undefined);
      await subscribeNext(); // a channel added after its last check is add()'s to move (it looks once subscribed)
    } catch (error) {
      // `old` still has every channel (add() subscribes there first): what `next` still reads is a copy.
      stopListening();
      if (this.overlap === overlap) this.overlap = undefined;
      throw error;
    } finally {
      if (this.successor === next) this.successor = undefined;
    }
    this.connected = next;
    this.client = Promise.resolve(next);
    this.watchClassic();
    const endOverlap = () => {
      if (this.overlap === overlap) this.overlap = undefined;
    };
    if (old && old.status !== 'end') old.once('end', endOverlap);
    else endOverlap();
  }

  /**
   * Subscribes again on `path` (in cluster mode through the cluster), retrying with a bounded backoff
   * until it holds, and only then reports that messages flow (SUBSCRIBE and SSUBSCRIBE are idempotent):
   * - classic, after a reconnect (the connection's 'ready'), and in cluster mode after ioredis'
   *   classic subscriber ended ({@link watchClassic}: closed here by {@link drop}, or by its node),
   *   when ioredis picks another node and subscribes there by itself but tells nobody: a SUBSCRIBE
   *   refused (NOPERM while an ACL change takes the channels away) is tried again instead of leaving
   *   the channels unsubscribed, and callers hear when to catch up on what the gap lost. In cluster
   *   mode the SUBSCRIBE goes to the new connection (ioredis sends one the old connection rejected
   *   while closing again itself, or the loop does). Only while the connection is ready: one that
   *   reconnects confirms again on its 'ready';
   * - sharded: ioredis' group re-subscribes without waiting for the answer or retrying it, and a
   *   MOVED answer (a primary that has not heard of a moved slot yet) would leave the channels
   *   unsubscribed until the next topology change.
   * One loop per connection and path at a time; a call while it runs makes it go round once more.
   */
  private async confirm(client: RedisClient, path: PubSubPath): Promise<void> {
    let states = this.confirming.get(client);
    if (!states) {
      states = { classic: { running: false, again: false }, sharded: { running: false, again: false } };
      this.confirming.set(client, states);
    }
    const state = states[path];
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    try {
      let warned = false;
      const serving = () => (path === 'classic' ? client.status === 'ready' : client.status !== 'end');
      for (let attempt = 0; !this.closed && client === this.connected && serving(); attempt++) {
        state.again = false;
        try {
          if (path === 'sharded') {
            const sharded = [...this.shardedNames.keys()];
            if (sharded.length > 0) await withTimeout((client as Cluster).ssubscribe(...sharded), CONFIRM_TIMEOUT_MS);
          } else {
            const channels = [...this.channels.keys()];
            if (channels.length > 0) await withTimeout(client.subscribe(...channels), CONFIRM_TIMEOUT_MS);
          }
          if (state.again) continue;
          if (this.closed || client !== this.connected) return;
          this.context.onResubscribed();
          return;
        } catch (error) {
          if (!warned && refusal(error)) {
            warned = true;
            this.context.logger.warn(`subscribing the channels again (${path} pub/sub) after the subscriber connection changed was refused; retrying until it holds`, { error: String(error) });
          }
          await pause(resubscribeDelay(attempt, refusal(error)));
        }
      }
    } finally {
      state.running = false;
    }
  }

  /** Delivers a message `from` heard one way (`path`); `copies`, its bridge-mode twins. */
  private deliver(from: RedisClient, copies: PairedCopies<PubSubPath> | undefined, channel: string, message: string, path: PubSubPath): void {
    const listeners = this.channels.get(channel);
    if (!listeners) return;
    if (copies?.isTwin(path, channel, message)) return;
    if (this.overlap?.isTwin(from, channel, message)) return;
    for (const listener of listeners) {
      try {
        listener(message);
      } catch (error) {
        this.warnThrown(`listener threw: ${channel}`, 'a message listener threw; the message was still delivered to the others', { channel, error: String(error) });
      }
    }
  }
}

/**
 * A Redis error reply that is not one of a cluster's passing states ({@link refusedForNow}: a slot
 * moving, a node loading): a refusal, e.g. NOPERM after an ACL change, worth a warning.
 */
function refusal(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && refusedForNow(error) === undefined && !error.message.startsWith('MASTERDOWN');
}
