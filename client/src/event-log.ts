import type { Redis } from 'ioredis';
import type { KccRedis, RedisClient } from './connection.js';
import { KccClosedError } from './errors.js';
import type { KccLogger } from './logger.js';
import { type DropCounts, type DropReason, type Envelope, decodeEnvelope, emptyDropCounts, encodeEnvelope, MAX_MESSAGE_BYTES } from './envelope.js';
import { isWrongTypeReply, readReplacingWrongType, replaceWrongType } from './lua-key-repair.js';
import { checkNumberArgument } from './option-checks.js';
import { RecentIds } from './recent-ids.js';
import { MAX_BLOCKING_READ_MS } from './redis-client.js';
import { withRetries } from './time-limit.js';
import type { CompareAndSetOptions } from './store.js';

export interface EventLogOptions<T> {
  /** Stream name inside the namespace. @default 'events' */
  readonly name?: string;
  /** Entries older than this are trimmed on every append (and by {@link EventLog.trim}). */
  readonly maxAgeMs: number;
  /** Checks the `data` of entries read; entries that fail are skipped and counted. */
  readonly validate?: (data: unknown) => data is T;
  /** Called for every entry dropped while reading (after counting). Must not throw. */
  readonly onDrop?: (reason: DropReason) => void;
}

export interface TailOptions {
  /**
   * Where to start: `'$'` = only entries appended from now on, `'0'` = every retained entry, or
   * the id of the last entry already applied (resume).
   * @default '$'
   */
  readonly from?: string;
  /** How long one blocking read waits before it is reissued: 1 to 5000 (`MAX_BLOCKING_READ_MS`). @default 5000 */
  readonly blockMs?: number;
  /** Entries fetched per read. @default 100 */
  readonly count?: number;
  /**
   * Called when entries after the last applied one may have been trimmed before this tail read
   * them (it was away longer than maxAgeMs), or lost (after a reconnect the log is empty,
   * `firstRetainedId` undefined: the server restarted without its data, or {@link EventLog.trim}
   * emptied it): reload compacted state. Must not throw.
   */
  readonly onGap?: (lastAppliedId: string, firstRetainedId: string | undefined) => void;
}

export type EventHandler<T> = (event: Envelope<T>, id: string) => void | Promise<void>;

/** A running tail; `lastId` is the id of the last entry handled. */
export interface EventLogTail {
  readonly lastId: string;
  /** Stops reading and closes the tail's connection. */
  stop(): Promise<void>;
}

/** Options of {@link EventLog.readAfter}. */
export interface ReadAfterOptions {
  /** Entries fetched per round trip. @default 1000 */
  readonly pageSize?: number;
  /**
   * Called with the envelope id of every entry read; entries it returns true for are skipped
   * unparsed (already applied from elsewhere).
   */
  readonly skip?: (envelopeId: string) => boolean;
  /** The id of the last entry to read (inclusive), e.g. a {@link LogHead}'s `lastId`. @default '+' (the newest) */
  readonly until?: string;
}

/** Where a log stands: read with {@link EventLog.head} in one command. */
export interface LogHead {
  /** The id of the newest entry ever appended (also if it was deleted since), `'0-0'` when the log does not exist. */
  readonly lastId: string;
  /**
   * How many entries were ever appended to the log (trimmed and deleted ones included; 0 when it does
   * not exist). Undefined on servers before Redis 7.0, which do not count them.
   */
  readonly entriesAdded: number | undefined;
  /**
   * The newest retained entry (XINFO's `last-entry`): its stream id and envelope id. Undefined when
   * the reply did not say (the fallback without XINFO); null when the log holds no entry.
   */
  readonly newest?: { readonly id: string; readonly envelopeId: string | undefined } | null;
}

/** What {@link EventLog.readAfter} read. */
export interface ReadAfterResult {
  /** The id of the last entry read (the `afterId` given when there was none): pass it to the next call. */
  readonly lastId: string;
  /**
   * True when entries after `afterId` may have been trimmed before they were read (the reader was
   * away longer than `maxAgeMs`): reload compacted state, then go on from `lastId`.
   */
  readonly gap: boolean;
}

const FIELD = 'e';
const ID_FIELD = 'i';
const REMEMBERED_IDS = 10_000;
/** A failed gap check is tried again this many times (about 20 s in all, see withRetries). */
const GAP_CHECK_RETRIES = 8;

/**
 * A durable log of security events on a Redis stream, trimmed by age. Appends survive a reader's
 * absence: a tail resumes from the last id it applied, after any reconnect, so nothing is skipped,
 * and it applies each event (by envelope id) once even if an append was retried. A read or an append
 * that meets a key of another type than a stream replaces it (logged; see lua-key-repair.ts) and
 * goes on, as on a log that was deleted.
 *
 * @example
 * const log = new EventLog(redis, { maxAgeMs: 36_000_000 });
 * const tail = await log.tail((event) => apply(event.data), { from: savedId });
 * await log.append('session-revoked', { sid });
 */
export class EventLog<T = unknown> {
  readonly key: string;
  private readonly drops: DropCounts = emptyDropCounts();
  /** The server refused `XINFO STREAM` once: {@link head} reads the newest id alone from then on. */
  private xinfoRefused = false;

  constructor(
    private readonly redis: KccRedis,
    private readonly options: EventLogOptions<T>,
  ) {
    this.key = redis.key(options.name ?? 'events');
  }

  /** Appends an event (trimming entries older than maxAgeMs); resolves with its stream id. */
  async append(type: string, data: T): Promise<string> {
    const encoded = encodeEnvelope(this.redis.instanceId, type, data, this.redis.config.maxMessageBytes);
    const { envelope, json } = encoded;
    const id = await this.owningKey(() => this.redis.run((r) => r.xadd(this.key, 'MINID', '~', this.minId(), '*', ID_FIELD, envelope.id, FIELD, json)));
    return id!;
  }

  /**
   * The event to pass to `Store.compareAndSet` so that a versioned write and its event are one
   * atomic step (both keys share the namespace's hash tag).
   */
  eventFor(type: string, data: T): NonNullable<CompareAndSetOptions['event']> {
    const { envelope, json } = encodeEnvelope(this.redis.instanceId, type, data, this.redis.config.maxMessageBytes);
    return { log: this.key.slice(this.redis.key('').length), fields: [ID_FIELD, envelope.id, FIELD, json], maxAgeMs: this.options.maxAgeMs };
  }

  /** Removes entries older than maxAgeMs; resolves with how many were removed. */
  trim(): Promise<number> {
    return this.owningKey(() => this.redis.run((r) => r.xtrim(this.key, 'MINID', this.minId())));
  }

  /** The id of the newest entry, or `'0-0'` when the log is empty. */
  async lastId(): Promise<string> {
    const newest = await this.owningKey(() => this.redis.run((r) => r.xrevrange(this.key, '+', '-', 'COUNT', 1)));
    return newest[0]?.[0] ?? '0-0';
  }

  /**
   * The newest id and the count of entries ever appended, read together (`XINFO STREAM`): a reader
   * that knows how many entries arrived by other means since it last read can tell whether any are
   * missing without reading them.
   */
  head(): Promise<LogHead> {
    return this.owningKey(() => this.readHead());
  }

  private async readHead(): Promise<LogHead> {
    if (!this.xinfoRefused) {
      let reply: unknown;
      try {
        reply = await this.redis.run((r) => r.xinfo('STREAM', this.key));
      } catch (error) {
        if (!(error instanceof Error) || error.name !== 'ReplyError') throw error;
        // The log does not exist (yet, or any more): nothing was appended to this one.
        if (/^ERR no such key/.test(error.message)) return { lastId: '0-0', entriesAdded: 0, newest: null };
        // Not a log: replaced by head(), which reads again; XINFO itself works.
        if (/^WRONGTYPE\b/.test(error.message)) throw error;
        // A server or an access string without XINFO: the newest id alone, the count unknown, from
        // now on. An error reply that passes (a restart, a busy script, a failover) only for this poll.
        if (!/^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY)\b/.test(error.message)) this.xinfoRefused = true;
        reply = undefined;
      }
      if (reply !== undefined) {
        const head = Array.isArray(reply) ? parseStreamInfo(reply) : undefined;
        // A reply without the count (before Redis 7.0) or of another shape (a proxy, a look-alike
        // server) is of no use to later polls either: the newest id alone from now on.
        if (head?.entriesAdded === undefined) this.xinfoRefused = true;
        if (head) return head;
      }
    }
    return { lastId: await this.lastId(), entriesAdded: undefined };
  }

  /** The id of the oldest retained entry, or undefined when the log is empty. */
  async oldestId(): Promise<string | undefined> {
    const oldest = await this.owningKey(() => this.redis.run((r) => r.xrange(this.key, '-', '+', 'COUNT', 1)));
    return oldest[0]?.[0];
  }

  /** Entries dropped while reading (tails and {@link readAfter}), by reason. */
  get dropped(): Readonly<DropCounts> {
    return { ...this.drops };
  }

  /**
   * Reads every retained entry after `afterId` (`'0-0'` = from the start), in pages, and hands each
   * well-formed event to `handler` in log order; bad entries are dropped and counted. For readers that
   * poll in batches instead of holding a blocking tail.
   *
   * @example
   * let position = await log.lastId();
   * setInterval(async () => {
   *   const { lastId, gap } = await log.readAfter(position, (event) => apply(event.data));
   *   if (gap) await reloadState();
   *   position = lastId;
   * }, 5_000);
   */
  async readAfter(afterId: string, handler: (event: Envelope<T>, id: string) => void, options: ReadAfterOptions = {}): Promise<ReadAfterResult> {
    const oldest = await this.oldestId();
    const gap = oldest !== undefined && afterId !== '0-0' && compareStreamIds(oldest, afterId) > 0;
    const pageSize = options.pageSize ?? 1_000;
    let lastId = afterId;
    for (;;) {
      const entries = await this.owningKey(() => this.redis.run((r) => r.xrange(this.key, `(${lastId}`, options.until ?? '+', 'COUNT', pageSize)));
      for (const [id, fields] of entries) {
        lastId = id;
        if (fields[0] === ID_FIELD && fields[1] !== undefined && options.skip?.(fields[1])) continue;
        const event = this.decodeEntry(fields);
        if (event) handler(event, id);
      }
      if (entries.length < pageSize) return { lastId, gap };
    }
  }

  /** Starts a tail on its own connection; resolves once it is reading. */
  async tail(handler: EventHandler<T>, options: TailOptions = {}): Promise<EventLogTail> {
    if (options.blockMs !== undefined) checkNumberArgument('blockMs', options.blockMs, { min: 1, max: MAX_BLOCKING_READ_MS, unit: 'ms' });
    const from = options.from ?? '$';
    // XREAD with '$' would miss entries appended between two reads: pin it to an id once.
    const start = from === '$' ? await this.lastId() : from === '0' ? '0-0' : from;
    let tail: RunningTail<T> | undefined;
    // Renewed (IAM): the next read goes to the new connection; the read in flight finishes on the old one.
    const reader = await this.redis.dedicated('reader', async (next) => tail?.useReader(next));
    const source: TailSource<T> = {
      key: this.key,
      logger: this.redis.config.logger,
      decode: (fields) => this.decodeEntry(fields),
      oldestId: () => this.oldestId(),
      replaceWrongType: () => replaceWrongType(this.redis, this.key, 'stream'),
    };
    tail = new RunningTail(source, reader, handler, start, options);
    return tail;
  }

  /** The envelope of a stream entry's fields, or undefined after counting why it was dropped. */
  private decodeEntry(fields: readonly string[]): Envelope<T> | undefined {
    const index = fields.indexOf(FIELD);
    // Field names sit at even positions: a value that happens to read 'e' is not the field.
    const raw = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
    const decoded = raw === undefined ? ({ ok: false, reason: 'malformed' } as const) : decodeEnvelope(raw, MAX_MESSAGE_BYTES, this.options.validate);
    if (decoded.ok) return decoded.envelope;
    this.drops[decoded.reason]++;
    this.options.onDrop?.(decoded.reason);
    return undefined;
  }

  private minId(): string {
    return `${Date.now() - this.options.maxAgeMs}-0`;
  }

  /** Runs a command on the log; one that meets a key of another type replaces it and runs again. */
  private owningKey<R>(command: () => Promise<R>): Promise<R> {
    return readReplacingWrongType(this.redis, this.key, 'stream', command);
  }
}

/** What a tail needs from its log. */
interface TailSource<T> {
  readonly key: string;
  readonly logger: KccLogger;
  decode(fields: readonly string[]): Envelope<T> | undefined;
  oldestId(): Promise<string | undefined>;
  /** Replaces the log's key if it is not a stream (a read met WRONGTYPE). */
  replaceWrongType(): Promise<boolean>;
}

class RunningTail<T> implements EventLogTail {
  private last: string;
  private stopped = false;
  private readonly seen = new RecentIds(REMEMBERED_IDS);
  private readonly done: Promise<void>;
  private signalStop!: () => void;
  private readonly stopSignal = new Promise<'stopped'>((resolve) => {
    this.signalStop = () => resolve('stopped');
  });

  constructor(
    private readonly source: TailSource<T>,
    private reader: RedisClient,
    private readonly handler: EventHandler<T>,
    start: string,
    private readonly options: TailOptions,
  ) {
    this.last = start;
    this.watch(reader);
    this.done = this.loop();
  }

  get lastId(): string {
    return this.last;
  }

  /** Reads from `next` from the next read on (connection renewal). */
  useReader(next: RedisClient): void {
    if (this.stopped) throw new KccClosedError('the event-log tail was stopped');
    this.watch(next);
    this.reader = next;
  }

  /**
   * Checks for a gap after every reconnect of `reader`. A cluster stays `ready` when one node
   * restarts: ioredis ends that node's connection and opens a new one at the next slot lookup
   * (`+node`), so its `ready` is the reconnect to watch there.
   */
  private watch(reader: RedisClient): void {
    reader.on('ready', () => void this.checkGap());
    reader.on('+node', (node: Redis) => node.once('ready', () => void this.checkGap()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    this.reader.disconnect();
    await this.done;
  }

  private async loop(): Promise<void> {
    const blockMs = this.options.blockMs ?? 5_000;
    const count = this.options.count ?? 100;
    let failures = 0;
    while (!this.stopped) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        const read = (this.reader as Redis).xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.source.key, this.last) as Promise<typeof reply>;
        read.catch(() => undefined); // after stop() nobody awaits it
        // A read queued on a connection that is down may never settle: stop() must not wait for it.
        const outcome = await Promise.race([read, this.stopSignal]);
        if (outcome === 'stopped') return;
        reply = outcome;
        failures = 0;
      } catch (error) {
        // A connection closed for good (its KccRedis was closed) will not come back: stop reading.
        if (this.stopped || this.reader.status === 'end') return;
        // Not a log: replaced, then read on as from a log that was deleted (a failure here is retried with the read).
        if (isWrongTypeReply(error)) await this.source.replaceWrongType().catch(() => false);
        failures++;
        // The connection recovers by itself (and re-reads credentials); retry with a bounded backoff
        // that stop() cuts short and that never keeps the process alive on its own.
        let timer: NodeJS.Timeout | undefined;
        const backoff = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.min(50 * 2 ** failures, 2_000));
          timer.unref();
        });
        await Promise.race([backoff, this.stopSignal]);
        clearTimeout(timer);
        continue;
      }
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, fields] of entries) {
        if (this.stopped) return;
        await this.apply(id, fields);
        this.last = id;
      }
    }
  }

  private async apply(id: string, fields: string[]): Promise<void> {
    // Entries carry the envelope id first ('i'): an event already applied is skipped unparsed.
    if (fields[0] === ID_FIELD && fields[1] !== undefined && this.seen.has(fields[1])) return;
    const event = this.source.decode(fields);
    if (!event || !this.seen.add(event.id)) return;
    try {
      await this.handler(event, id);
    } catch (error) {
      this.source.logger.warn('an event-log handler threw; the entry is skipped', { id, type: event.type, error: String(error) });
    }
  }

  /**
   * After a reconnect: whether the log lost entries after the last one read. A failed check is tried
   * again, backing off, for about 20 s: a cluster node that just restarted answers CLUSTERDOWN until
   * it has heard from the others, and a standalone server LOADING while it reads its data. After
   * that, the next reconnect checks again.
   */
  private async checkGap(): Promise<void> {
    if (this.stopped || this.last === '0-0' || !this.options.onGap) return;
    const onGap = this.options.onGap;
    const read = await withRetries(() => this.source.oldestId(), GAP_CHECK_RETRIES, () => this.stopped);
    if (!read) return;
    const first = read.value;
    // An empty log after entries were read here: lost with the server's data (a restart without
    // persistence; the writes' own trimming always keeps the entry appended) or trimmed away
    // (EventLog.trim): either way, entries after the last one read may be gone.
    if (first === undefined || compareStreamIds(first, this.last) > 0) onGap(this.last, first);
  }
}

/**
 * The fields of an `XINFO STREAM` reply (RESP2: a flat list of names and values) that {@link LogHead}
 * needs, or undefined for a reply without a well-formed newest id. `entries-added` is there from
 * Redis 7.0 (Valkey too); before, it is absent.
 * https://redis.io/docs/latest/commands/xinfo-stream/
 */
export function parseStreamInfo(reply: readonly unknown[]): LogHead | undefined {
  let lastId: string | undefined;
  let entriesAdded: number | undefined;
  let newest: LogHead['newest'] = null;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const value = reply[i + 1];
    if (reply[i] === 'last-entry' && Array.isArray(value) && typeof value[0] === 'string') {
      const fields: unknown = value[1];
      const envelopeId = Array.isArray(fields) && fields[0] === ID_FIELD && typeof fields[1] === 'string' ? fields[1] : undefined;
      newest = { id: value[0], envelopeId };
    }
    if (reply[i] === 'last-generated-id' && typeof value === 'string') lastId = value;
    else if (reply[i] === 'entries-added' && (typeof value === 'number' || typeof value === 'string')) entriesAdded = Number(value);
  }
  if (lastId === undefined || !STREAM_ID.test(lastId)) return undefined;
  return { lastId, newest, entriesAdded: entriesAdded !== undefined && Number.isSafeInteger(entriesAdded) && entriesAdded >= 0 ? entriesAdded : undefined };
}

const STREAM_ID = /^\d+-\d+$/;

/** Orders two stream ids (`<ms>-<seq>`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map((part) => BigInt(part));
  const [bMs = 0n, bSeq = 0n] = b.split('-').map((part) => BigInt(part));
  return aMs === bMs ? Number(aSeq - bSeq) : aMs < bMs ? -1 : 1;
}
