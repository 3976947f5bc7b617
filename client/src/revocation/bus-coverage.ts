import type { LogHead } from '../event-log.js';
import { RecentIds } from '../recent-ids.js';

/** Ids counted per check at most: past that, the check reads the log instead of counting. */
const MAX_HEARD = 100_000;
/** Ids already accounted for (heard before a check, or read from the log): a late copy is not counted again. */
const ACCOUNTED_IDS = 10_000;

/** The messages heard before one check of the log's head began. */
export interface CoverageWindow {
  readonly heard: ReadonlySet<string>;
  readonly complete: boolean;
  readonly epoch: number;
}

/**
 * Tells, from the log's head alone, whether every entry appended since the log was last read also
 * arrived on the bus. Every writer appends one entry and publishes it in one script, so when the log
 * counts exactly as many entries appended since then as distinct messages were heard, none is missing
 * and the poll need not read them (one `XINFO STREAM` instead of every entry, on every instance).
 *
 * Any doubt reads the log: a message lost (fewer heard), a forged or repeated one (more heard), a
 * server that does not count appends (before Redis 7.0), a subscriber that reconnected. Only a writer
 * with the app's Redis credentials can make the counts agree while an entry is missing (a forged message
 * beside an unpublished entry); the same writer can delete that entry outright (security model).
 */
export class BusCoverage {
  private heard = new Set<string>();
  private complete = true;
  /** `entries-added` at the position the log is known up to; undefined until a read sets it, and after a reconnect. */
  private added: number | undefined;
  private epoch = 0;
  /** `last-generated-id` at that position. */
  private lastId: string | undefined;
  private readonly accounted = new RecentIds(ACCOUNTED_IDS);
  /** Ids accounted for since the last settle: past the ring's capacity, a late copy could be counted again. */
  private accountedSinceSettle = 0;

  /** A message heard on the bus, by its envelope id. */
  hear(id: string): void {
    if (this.accounted.has(id)) return; // a late copy of an entry already accounted for
    if (this.heard.size < MAX_HEARD) this.heard.add(id);
    else this.complete = false;
  }

  /** Messages may have been lost (the subscriber reconnected): the next check reads the log. */
  invalidate(): void {
    this.added = undefined;
    this.epoch++;
  }

  /** Starts a check: what was heard so far is judged against the head about to be read; later messages count towards the next one. */
  begin(): CoverageWindow {
    const window = { heard: this.heard, complete: this.complete, epoch: this.epoch };
    this.heard = new Set();
    this.complete = true;
    return window;
  }

  /** Whether `head` shows no entry appended since the last position that the window did not hear. */
  covers(window: CoverageWindow, head: LogHead): boolean {
    const counted =
      window.complete &&
      window.epoch === this.epoch &&
      this.added !== undefined &&
      head.entriesAdded !== undefined &&
      head.entriesAdded - this.added === window.heard.size;
    if (!counted) return false;
    // Equal counts can still hide a missing entry behind a message counted in error (a count that went
    // back, a late copy): the newest entry, at least, must be one heard in this window.
    if (window.heard.size === 0) return head.lastId === this.lastId;
    if (head.newest === undefined) return true;
    return head.newest !== null && head.newest.id === head.lastId && head.newest.envelopeId !== undefined && window.heard.has(head.newest.envelopeId);
  }

  /** An entry read from the log during a check (by envelope id): a copy of it heard now or later is not counted. */
  read(id: string): void {
    this.account(id);
  }

  /** The log is known up to `head`: covered by the window, or read up to it. */
  settle(window: CoverageWindow, head: LogHead): void {
    for (const id of window.heard) this.account(id);
    // More ids accounted for in one check than the ring keeps: a late copy of a forgotten one would
    // count as heard, so the next check reads.
    if (this.accountedSinceSettle > ACCOUNTED_IDS) this.complete = false;
    this.accountedSinceSettle = 0;
    // A reconnect during the check: its count stays unknown until the next read.
    if (window.epoch === this.epoch) {
      this.added = head.entriesAdded;
      this.lastId = head.lastId;
    }
  }

  private account(id: string): void {
    if (this.accounted.add(id)) this.accountedSinceSettle++;
    this.heard.delete(id);
  }
}
