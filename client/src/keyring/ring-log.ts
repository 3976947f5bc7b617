import type { KccRedis } from '../connection.js';
import { type EventHandler, EventLog, type EventLogTail, LUA_LOG_READ, MAX_ENTRY_BYTES, MAX_ENTRY_FIELDS, type TailOptions, warnOversizedEntries } from '../event-log.js';
import { runReadScript } from '../read-script.js';
import { readReplacingWrongType } from '../lua-key-repair.js';
import { isPlainObject } from '../plain-object.js';
import type { CompareAndSetOptions } from '../store.js';
import type { KeyEncryptionKey } from './key-encryption.js';
import type { KeyEncryptionKeys } from './key-encryption-keys.js';
import { KEY_RING_CHANGED, KEY_RING_CHECK, KEY_RING_KEYS } from './ring-keys.js';

/**
 * Data of the ring's log events. A change carries the generation written, tagged under the
 * key-encryption key that wrote it: a starting instance learns from the log which generation Redis
 * should hold at least, and an attacker without the key-encryption key cannot raise that.
 */
export interface RingEvent {
  readonly generation?: number;
  readonly kek?: string;
  readonly tag?: string;
}

/** The newest log entries, newest first: `[id, fields]`. */
export type NewestEntries = readonly (readonly [string, readonly string[]])[];

/** Log entries a starting instance looks at for the newest generation written. */
const ENTRIES_CHECKED = 32;

/**
 * The longest message (`e` field, bytes) of a ring-log entry a start's read hands over: a ring
 * event's envelope (a generation, a key-encryption key's fingerprint and a tag, or a check request
 * with no data) is a few hundred bytes; 16 KiB leaves room for a long instance id and a later
 * release's fields, and bounds the read to 512 KiB (32 entries). A longer one is read as an entry
 * without a tagged generation (none a writer makes), left in place.
 */
const MAX_RING_EVENT_BYTES = 16_384;

/**
 * Lua: the ring log KEYS[1]'s newest ARGV[5] entries, newest first, each as `{id, {'e', message}}`
 * (its message of at most ARGV[4] bytes, {@link MAX_RING_EVENT_BYTES}) or `{id, {}}` (none such),
 * and how many it removed: `{entries, removed}`. Only what {@link RingLog.newest} uses is handed
 * over: `XREVRANGE` handed over whole entries, as large as a holder of the app's credentials made
 * them (up to 512 MB: one longer than V8's longest string failed every start in ioredis, "Cannot
 * create a string longer than 0x1fffffe8 characters"; an attack review). An entry larger than any
 * writer writes is removed as EventLog's reads remove it ({@link LUA_LOG_READ}: ARGV[1] to ARGV[3]).
 */
const READ_NEWEST = `${LUA_LOG_READ}
local max_event = tonumber(ARGV[4])
local entries = redis.call('XREVRANGE', key, '+', '-', 'COUNT', ARGV[5])
local reply = {}
for i = 1, #entries do
  local fields, kept = entries[i][2], {}
  if not oversized(entries[i]) then
    for j = 1, #fields - 1, 2 do
      if fields[j] == 'e' and #fields[j + 1] <= max_event then kept = {'e', fields[j + 1]} break end
    end
  end
  reply[i] = {entries[i][1], kept}
end
return {reply, removed}
`;

/**
 * The key ring's event log: each write of the ring appends (atomically, through the compare-and-set)
 * a tagged record of its generation; any instance may append a request that every instance re-read
 * the ring now.
 */
export class RingLog {
  private readonly log: EventLog<RingEvent>;

  constructor(
    private readonly redis: KccRedis,
    maxAgeMs: number,
  ) {
    this.log = new EventLog(redis, { name: KEY_RING_KEYS.log, maxAgeMs, validate: (d): d is RingEvent => isPlainObject(d) });
  }

  /** Follows the log; `handler` gets every event (changes and re-read requests). */
  tail(handler: EventHandler<RingEvent>, options: TailOptions): Promise<EventLogTail> {
    return this.log.tail(handler, options);
  }

  /** The event to append with a write of `generation` under `kek` (pass it to the compare-and-set). */
  changed(generation: number, kek: KeyEncryptionKey): NonNullable<CompareAndSetOptions['event']> {
    return this.log.eventFor(KEY_RING_CHANGED, { generation, kek: kek.fingerprint, tag: kek.tag(this.statement(generation)) });
  }

  /** Asks every running instance to re-read the ring now (and write back the newest it holds). */
  async requestCheck(): Promise<void> {
    await this.log.append(KEY_RING_CHECK, {});
  }

  /** The highest generation the recent log shows was written, counting only records tagged under a key-encryption key held. */
  async newestGeneration(keks: KeyEncryptionKeys): Promise<number> {
    return (await this.newest(keks)).generation;
  }

  /**
   * {@link newestGeneration}, and the id of the log's newest entry (`'0-0'` when empty) from the same
   * read: a position to tail from that is consistent with the generation.
   */
  async newest(keks: KeyEncryptionKeys, read: Promise<NewestEntries> = readNewestRingLog(this.redis)): Promise<{ readonly generation: number; readonly position: string }> {
    let newest = 0;
    const entries = await read;
    for (const [, fields] of entries) {
      const data = envelopeData(fields);
      if (!isPlainObject(data) || !Number.isSafeInteger(data.generation) || typeof data.kek !== 'string' || typeof data.tag !== 'string') continue;
      const generation = data.generation as number;
      if (keks.find(data.kek)?.checkTag(this.statement(generation), data.tag)) newest = Math.max(newest, generation);
    }
    return { generation: newest, position: entries[0]?.[0] ?? '0-0' };
  }

  /** What a tag vouches for: this namespace reached this generation. */
  private statement(generation: number): string {
    return `${this.redis.keyPrefix}\n${generation}`;
  }
}

/**
 * The ring log's newest entries, as {@link RingLog.newest} reads them: a read that needs no
 * key-encryption key, so a starting instance begins it before its keys are known. A log key of
 * another type is replaced, as {@link EventLog} does, and read as an empty log. Only each entry's id
 * and its message, bounded, are handed over ({@link READ_NEWEST}); an entry larger than any writer
 * writes is removed, and warned.
 */
export async function readNewestRingLog(redis: KccRedis): Promise<NewestEntries> {
  const key = redis.key(KEY_RING_KEYS.log);
  const [entries, removed] = await readReplacingWrongType(redis, key, 'stream', () =>
    runReadScript<[[string, string[]][], number]>(redis, READ_NEWEST, [key], [MAX_ENTRY_BYTES, MAX_ENTRY_FIELDS, MAX_RING_EVENT_BYTES, ENTRIES_CHECKED]),
  );
  if (removed > 0) warnOversizedEntries(redis, key, removed);
  return entries;
}

function envelopeData(fields: readonly string[]): unknown {
  const at = fields.indexOf('e');
  if (at < 0 || at % 2 !== 0) return undefined;
  try {
    return (JSON.parse(fields[at + 1] ?? '') as { data?: unknown }).data;
  } catch {
    return undefined;
  }
}
