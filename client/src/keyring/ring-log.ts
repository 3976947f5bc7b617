import type { KccRedis } from '../connection.js';
import { type EventHandler, EventLog, type EventLogTail, type TailOptions } from '../event-log.js';
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
 * another type is replaced, as {@link EventLog} does, and read as an empty log.
 */
export function readNewestRingLog(redis: KccRedis): Promise<NewestEntries> {
  const key = redis.key(KEY_RING_KEYS.log);
  return readReplacingWrongType(redis, key, 'stream', () => redis.run((r) => r.xrevrange(key, '+', '-', 'COUNT', ENTRIES_CHECKED)));
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
