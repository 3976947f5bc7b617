import type { Redis } from 'ioredis';
import type { KccRedis, RedisClient } from './connection.js';
import { KccClosedError } from './errors.js';
import type { KccLogger } from './logger.js';
import { type DropCounts, type DropReason, type Envelope, decodeEnvelope, emptyDropCounts, encodeEnvelope, MAX_MESSAGE_BYTES } from './envelope.js';
import { isWrongTypeReply, readReplacingWrongType, replaceWrongType } from './lua-key-repair.js';
import { checkNumberArgument } from './option-checks.js';
import { RecentIds } from './recent-ids.js';
import { runReadScript } from './read-script.js';
import { MAX_BLOCKING_READ_MS } from './redis-client.js';
import { withRetries } from './time-limit.js';
import { stopRace } from './stop-race.js';
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
   * The newest retained entry (XINFO's `last-entry`): its stream id and envelope id (undefined when
   * it has none of at most 256 bytes). Undefined when the read could not say (the fallback without
   * XINFO, or the newest entry was removed by the read as larger than any writer writes:
   * {@link MAX_ENTRY_BYTES}); null when the log holds no entry.
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
 * The largest log entry a read hands to the client: its field names and values together, in bytes.
 * A writer's entry is its envelope id and its message (`i`, `e`; the store's events add `version`),
 * and no reader accepts a message over {@link MAX_MESSAGE_BYTES}; 1 KiB more covers the rest.
 */
export const MAX_ENTRY_BYTES = MAX_MESSAGE_BYTES + 1_024;
/** The most field names and values an entry a read hands over may have (a writer's has 4 or 6). */
export const MAX_ENTRY_FIELDS = 64;
/** The longest envelope id (`i` field) {@link EventLog.head} hands over; a writer's is 36 bytes. */
const MAX_ENVELOPE_ID_BYTES = 256;
/**
 * Bytes of entries one page of {@link EventLog.readAfter} hands over, past which the page ends early
 * (it holds at least one entry): 1,000 entries of up to {@link MAX_ENTRY_BYTES} would be a gigabyte.
 */
const PAGE_BYTES = 8 * 1_048_576;

/**
 * Lua, shared by the reads of the log KEYS[1] (ARGV[1]: 'w' or 'r', see {@link runReadScript};
 * ARGV[2]: {@link MAX_ENTRY_BYTES}, ARGV[3]: {@link MAX_ENTRY_FIELDS}). `oversized(entry)`: whether a
 * stream entry ({id, {name, value, ...}}, as XRANGE gives it in Lua) is larger than any writer makes;
 * if so it is deleted (XDEL) and counted in `removed` (neither when read-only), and true.
 *
 * Why a read deletes: XINFO STREAM, XRANGE and XREVRANGE hand over whole entries, and an entry is as
 * large as a writer with the app's credentials makes it (up to 512 MB, `proto-max-bulk-len`). Handed
 * to the client, one such entry broke every read (ioredis: "Cannot create a string longer than
 * 0x1fffffe8 characters"): a running instance stayed stale until the entry was trimmed by age, and no
 * instance could start (found by an attack review); a smaller one was pulled whole by every poll of
 * every instance (the log's first and last entries come with every XINFO). So the reads run here and
 * hand over only what the client uses, each value bounded. Inside the script the entry is still
 * copied once by the command that reads it; deleted, it is not copied again by the next poll. Nothing
 * is lost: no reader accepts a message over {@link MAX_MESSAGE_BYTES}, so such an entry is never a
 * revocation or any other event, only a writer with the app's credentials (or a bug) makes one, and it
 * could delete entries anyway. XDEL changes neither the log's last id nor its count of entries ever
 * appended, which the polls compare.
 */
export const LUA_LOG_READ = `local key, may_write, max_bytes, max_fields = KEYS[1], ARGV[1] == 'w', tonumber(ARGV[2]), tonumber(ARGV[3])
local removed = 0
local function oversized(entry)
  local fields = entry[2]
  local size = 0
  if type(fields) ~= 'table' or #fields > max_fields then
    size = max_bytes + 1
  else
    for i = 1, #fields do size = size + #fields[i] end
  end
  if size <= max_bytes then return false end
  if may_write then
    redis.call('XDEL', key, entry[1])
    removed = removed + 1
  end
  return true
end
`;

/**
 * Where the log stands, as {@link parseStreamInfo} reads it: `XINFO STREAM`'s `last-generated-id`,
 * `entries-added` and `last-entry` (its id and its `i` field only: `{id, {'i', envelope id}}`,
 * `{id, {}}` without one), then `removed` and the count. The first and the last entry, which XINFO
 * copies, are checked (`oversized`): a removed last entry leaves `last-entry` out (not known). No
 * log: `last-generated-id` 0-0, nothing appended, no entry. Where XINFO is refused (an access
 * string without it), the newest entry's id alone stands for the last id, and the count is left out.
 * A key of another type raises WRONGTYPE (the caller replaces it).
 */
export const LOG_HEAD = `${LUA_LOG_READ}
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', key)
if not ok then
  local message = type(info) == 'table' and info.err or tostring(info)
  if string.find(message, 'no such key', 1, true) then return {'last-generated-id', '0-0', 'entries-added', 0, 'last-entry', false, 'removed', 0} end
  if string.find(message, 'WRONGTYPE', 1, true) then error(type(info) == 'table' and info or redis.error_reply(message)) end
  local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
  if not newest then return {'last-generated-id', '0-0', 'last-entry', false, 'removed', 0} end
  oversized(newest)
  return {'last-generated-id', newest[1], 'removed', removed}
end
local reply = {}
local first, last = false, false
for i = 1, #info - 1, 2 do
  local name, value = info[i], info[i + 1]
  if name == 'last-generated-id' or (name == 'entries-added' and type(value) == 'number' and value >= 0 and value <= 9007199254740991) then
    reply[#reply + 1] = name
    reply[#reply + 1] = value
  elseif name == 'first-entry' then first = value
  elseif name == 'last-entry' then last = value end
end
local first_removed = first and oversized(first)
local last_removed = false
if last and first and first[1] == last[1] then last_removed = first_removed elseif last then last_removed = oversized(last) end
if not last then
  reply[#reply + 1] = 'last-entry'
  reply[#reply + 1] = false
elseif not last_removed then
  local fields = last[2]
  local kept = {}
  if fields[1] == '${ID_FIELD}' and type(fields[2]) == 'string' and #fields[2] <= ${MAX_ENVELOPE_ID_BYTES} then kept = {'${ID_FIELD}', fields[2]} end
  reply[#reply + 1] = 'last-entry'
  reply[#reply + 1] = {last[1], kept}
end
reply[#reply + 1] = 'removed'
reply[#reply + 1] = removed
return reply
`;

/**
 * The id of the log's newest entry (ARGV[4] '-') or oldest (ARGV[4] '+'), and `removed`: `{id, removed}`,
 * `{false, 0}` when the log holds none. An entry removed as `oversized` still gives its id: it was
 * retained until this read, and nothing that could be read was lost with it (a gap check would
 * otherwise see one, and reload the state, for an entry that was never a revocation).
 */
const LOG_END = `${LUA_LOG_READ}
local entry
if ARGV[4] == '-' then entry = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1] else entry = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1] end
if not entry then return {false, 0} end
oversized(entry)
return {entry[1], removed}
`;

/** The most entries {@link LOG_PAGE} reads from the log at once, inside the script. */
const LOG_READ_BATCH = 16;

/**
 * Up to ARGV[6] entries after the id ARGV[4] (exclusive) up to ARGV[5] (inclusive, '+' = the newest):
 * `{entries, more}`, the entries as XRANGE gives them, each `oversized` one (removed, unless
 * read-only) in its place as `{id, false}` (so that the reader's position passes it). Once the
 * entries handed over pass ARGV[7] bytes, the page ends there with `more` 1 (0 when its last read
 * showed that none follows); the entries after it are left for the next page, unchecked.
 *
 * The entries are read in batches of at most {@link LOG_READ_BATCH}, each no larger than the entries
 * seen so far say the budget still holds (the first: one entry), so that the entries read past the
 * page's end are few: one `XRANGE … COUNT ARGV[6]` copied up to 1,000 entries into the script before
 * the budget cut the page (8 of 1 MiB), and the next page copied everything after them again, so
 * that N entries of 1 MiB cost N²/16 MiB of copies, in one instance's load (an attack review: 300 of
 * them, each within {@link MAX_ENTRY_BYTES}, took 25.8 s of the server's time and 678 MB of Lua memory).
 * Now a page copies its own entries and a few more.
 */
const LOG_PAGE = `${LUA_LOG_READ}
local last, upto, count, budget = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local bytes, largest, page = 0, 0, {}
while #page < count do
  local batch = math.min(${LOG_READ_BATCH}, count - #page)
  if largest == 0 then batch = 1 else batch = math.min(batch, math.floor((budget - bytes) / largest) + 1) end
  local entries = redis.call('XRANGE', key, '(' .. last, upto, 'COUNT', batch)
  for i = 1, #entries do
    local entry = entries[i]
    if oversized(entry) then
      entry[2] = false
    else
      local fields, size = entry[2], 0
      for j = 1, #fields do size = size + #fields[j] end
      bytes = bytes + size
      if size > largest then largest = size end
    end
    page[#page + 1] = entry
    last = entry[1]
    if bytes > budget and #page < count then return {page, (i < #entries or #entries == batch) and 1 or 0} end
  end
  if #entries < batch then break end
end
return {page, 0}
`;

/**
 * Logs that a read of the log `key` dropped `count` entries unread as larger than any writer writes
 * ({@link LUA_LOG_READ}'s `oversized`), and removed them unless the user may not write the log.
 * @internal
 */
export function warnOversizedEntries(redis: KccRedis, key: string, count: number): void {
  redis.config.logger.warn(
    `${count} ${count === 1 ? 'entry' : 'entries'} of the event log ${key} larger than any kcc-redis client writes (over ${MAX_ENTRY_BYTES} bytes, or over ${MAX_ENTRY_FIELDS} fields) dropped unread and removed from the log (unless this user may not write it): ` +
      'no reader accepts one, so nothing was lost (a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
  );
}

/** The most oversized entry ids an {@link EventLog} remembers as counted. */
const MAX_OVERSIZED_IDS = 256;

/** A failure of ioredis to turn a reply into strings: what one entry larger than V8's longest string makes of every read that hands it over. */
const OVERSIZED_REPLY = /Cannot create a string longer than|Invalid string length|Invalid array length/;

/**
 * A durable log of security events on a Redis stream, trimmed by age. Appends survive a reader's
 * absence: a tail resumes from the last id it applied, after any reconnect, so nothing is skipped,
 * and it applies each event (by envelope id) once even if an append was retried. A read or an append
 * that meets a key of another type than a stream replaces it (logged; see lua-key-repair.ts) and
 * goes on, as on a log that was deleted. Reads hand over no entry larger than any writer writes
 * ({@link MAX_ENTRY_BYTES}): they remove it (logged, counted as `oversized`) and go on.
 *
 * @example
 * const log = new EventLog(redis, { maxAgeMs: 36_000_000 });
 * const tail = await log.tail((event) => apply(event.data), { from: savedId });
 * await log.append('session-revoked', { sid });
 */
export class EventLog<T = unknown> {
  readonly key: string;
  private readonly drops: DropCounts = emptyDropCounts();
  /** The oversized entries a page read counted ({@link droppedOversized}), oldest first. */
  private readonly oversizedIds = new Set<string>();

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
    return (await this.endId('-')) ?? '0-0';
  }

  /**
   * The newest id and the count of entries ever appended, read together (`XINFO STREAM`, in a script
   * that hands over only those and the newest entry's ids: {@link MAX_ENTRY_BYTES}): a reader that
   * knows how many entries arrived by other means since it last read can tell whether any are
   * missing without reading them.
   */
  head(): Promise<LogHead> {
    return this.owningKey(() => this.readHead());
  }

  private async readHead(): Promise<LogHead> {
    const reply = await this.readScript<unknown[]>(LOG_HEAD, []);
    const head = Array.isArray(reply) ? parseStreamInfo(reply) : undefined;
    this.removedOversized(Array.isArray(reply) ? namedCount(reply, 'removed') : 0);
    // A reply of another shape (a proxy, a look-alike server): the newest id alone.
    return head ?? { lastId: await this.lastId(), entriesAdded: undefined };
  }

  /** The id of the oldest retained entry, or undefined when the log is empty. */
  oldestId(): Promise<string | undefined> {
    return this.endId('+');
  }

  /** The id of the newest (`'-'`: read from the end) or the oldest entry (`'+'`), or undefined when the log is empty ({@link LOG_END}). */
  private async endId(end: '-' | '+'): Promise<string | undefined> {
    const [id, removed] = await this.owningKey(() => this.readScript<[string | null, number]>(LOG_END, [end]));
    this.removedOversized(removed);
    return id ?? undefined;
  }

  /** Entries dropped while reading (tails and {@link readAfter}), and entries removed by any read as larger than any writer writes ({@link MAX_ENTRY_BYTES}; `oversized`), by reason. */
  get dropped(): Readonly<DropCounts> {
    return { ...this.drops };
  }

  /**
   * Reads every retained entry after `afterId` (`'0-0'` = from the start), in pages, and hands each
   * well-formed event to `handler` in log order; bad entries are dropped and counted. For readers that
   * poll in batches instead of holding a blocking tail. An entry larger than any writer writes
   * ({@link MAX_ENTRY_BYTES}) is removed from the log unread, counted as `oversized`, and logged.
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
      const [entries, more] = await this.readPage(lastId, options.until ?? '+', pageSize);
      this.droppedOversized(entries);
      for (const [id, fields] of entries) {
        lastId = id;
        // Oversized: removed unread (counted above).
        if (fields === null) continue;
        if (fields[0] === ID_FIELD && fields[1] !== undefined && options.skip?.(fields[1])) continue;
        const event = this.decodeEntry(fields);
        if (event) handler(event, id);
      }
      if (entries.length < pageSize && more === 0) return { lastId, gap };
    }
  }

  /** One page of {@link readAfter} ({@link LOG_PAGE}): up to `count` entries after `afterId`, the oversized ones as `[id, null]`. */
  private readPage(afterId: string, until: string, count: number): Promise<[entries: [string, string[] | null][], more: number]> {
    return this.owningKey(() => this.readScript(LOG_PAGE, [afterId, until, count, PAGE_BYTES]));
  }

  /** Runs one of the log's read scripts, with the bounds of an entry first. */
  private readScript<R>(lua: string, args: readonly (string | number)[]): Promise<R> {
    return runReadScript<R>(this.redis, lua, [this.key], [MAX_ENTRY_BYTES, MAX_ENTRY_FIELDS, ...args]);
  }

  /**
   * Counts and logs the oversized entries of a page read ({@link LOG_PAGE}: in their place as
   * `[id, null]`), each id once: one left in place (a user that may not write the log) is met again
   * by every later read over it (a reload from the start).
   */
  private droppedOversized(entries: readonly [string, string[] | null][]): void {
    let count = 0;
    for (const [id, fields] of entries) {
      if (fields !== null || this.oversizedIds.has(id)) continue;
      count++;
      this.oversizedIds.add(id);
      // Bounded: the oldest id remembered goes first (an id met again past that is counted again).
      if (this.oversizedIds.size > MAX_OVERSIZED_IDS) this.oversizedIds.delete(this.oversizedIds.values().next().value!);
    }
    this.removedOversized(count);
  }

  /** Counts and logs entries a read dropped unread as larger than any writer writes. */
  private removedOversized(count: number): void {
    if (!(count > 0)) return;
    this.drops.oversized += count;
    for (let i = 0; i < count; i++) this.options.onDrop?.('oversized');
    warnOversizedEntries(this.redis, this.key, count);
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
      removeOversized: async (afterId, count) => {
        const [entries] = await this.readPage(afterId, '+', count);
        this.droppedOversized(entries);
      },
      release: (client) => this.redis.releaseDedicated(client),
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
  /** Removes the entries larger than any writer writes among the `count` after `afterId` (a read failed on one). */
  removeOversized(afterId: string, count: number): Promise<void>;
  /** Closes the tail's connection and has the KccRedis forget it. */
  release(reader: RedisClient): void;
}

class RunningTail<T> implements EventLogTail {
  private last: string;
  private stopped = false;
  private readonly seen = new RecentIds(REMEMBERED_IDS);
  private readonly done: Promise<void>;
  private signalStop!: () => void;
  /** `work`, or 'stopped' once stop() is called ({@link stopRace}: a wait leaves nothing behind once it ends). */
  private readonly untilStopped = stopRace(
    new Promise<'stopped'>((resolve) => {
      this.signalStop = () => resolve('stopped');
    }),
  );

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
    // Forgotten too: a stopped tail's connection, kept for its renewal, held the tail (and what its handler reaches) until the KccRedis closed.
    this.source.release(this.reader);
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
        const outcome = await this.untilStopped(read);
        if (outcome === 'stopped') return;
        reply = outcome;
        failures = 0;
      } catch (error) {
        // A connection closed for good (its KccRedis was closed) will not come back: stop reading.
        if (this.stopped || this.reader.status === 'end') return;
        // Not a log: replaced, then read on as from a log that was deleted (a failure here is retried with the read).
        if (isWrongTypeReply(error)) await this.untilStopped(this.source.replaceWrongType()).catch(() => false);
        // An entry too large for a string (XREAD hands entries over whole): removed through a read
        // that checks them (LOG_PAGE), or every retry would fetch it again and fail the same way.
        else if (error instanceof Error && OVERSIZED_REPLY.test(error.message)) await this.untilStopped(this.source.removeOversized(this.last, count)).catch(() => undefined);
        failures++;
        // The connection recovers by itself (and re-reads credentials); retry with a bounded backoff
        // that stop() cuts short and that never keeps the process alive on its own.
        let timer: NodeJS.Timeout | undefined;
        const backoff = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.min(50 * 2 ** failures, 2_000));
          timer.unref();
        });
        await this.untilStopped(backoff);
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
 * Redis 7.0 (Valkey too); before, it is absent. `newest` is null for a `last-entry` of nil (no entry),
 * undefined without a `last-entry` (the head script leaves it out when it removed that entry).
 * https://redis.io/docs/latest/commands/xinfo-stream/
 */
export function parseStreamInfo(reply: readonly unknown[]): LogHead | undefined {
  let lastId: string | undefined;
  let entriesAdded: number | undefined;
  let newest: LogHead['newest'];
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const value = reply[i + 1];
    if (reply[i] === 'last-entry') {
      if (value === null) newest = null;
      else if (Array.isArray(value) && typeof value[0] === 'string') {
        const fields: unknown = value[1];
        const envelopeId = Array.isArray(fields) && fields[0] === ID_FIELD && typeof fields[1] === 'string' ? fields[1] : undefined;
        newest = { id: value[0], envelopeId };
      }
    }
    if (reply[i] === 'last-generated-id' && typeof value === 'string') lastId = value;
    else if (reply[i] === 'entries-added' && (typeof value === 'number' || typeof value === 'string')) entriesAdded = Number(value);
  }
  if (lastId === undefined || !STREAM_ID.test(lastId)) return undefined;
  return { lastId, newest, entriesAdded: entriesAdded !== undefined && Number.isSafeInteger(entriesAdded) && entriesAdded >= 0 ? entriesAdded : undefined };
}

const STREAM_ID = /^\d+-\d+$/;

/** The number after `name` in a flat list of names and values (a script's reply), 0 when absent. */
function namedCount(reply: readonly unknown[], name: string): number {
  for (let i = 0; i + 1 < reply.length; i += 2) if (reply[i] === name && typeof reply[i + 1] === 'number') return reply[i + 1] as number;
  return 0;
}

/** Orders two stream ids (`<ms>-<seq>`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split('-').map((part) => BigInt(part));
  const [bMs = 0n, bSeq = 0n] = b.split('-').map((part) => BigInt(part));
  return aMs === bMs ? Number(aSeq - bSeq) : aMs < bMs ? -1 : 1;
}
