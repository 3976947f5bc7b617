import type { LogHead } from '../event-log.js';
import { RecentIds } from '../recent-ids.js';

/** Envelope ids kept (heard or read): a copy or a replay of one of them is neither counted nor applied. */
const KNOWN_IDS = 10_000;
/** The tag of an id that counts in no window: read from the log, or written by this instance. */
const NOT_COUNTED = -1;

/** The messages counted in one window: those heard before one check of the log's head began. */
export interface CoverageWindow {
  readonly number: number;
  readonly heard: number;
  readonly complete: boolean;
  readonly epoch: number;
}

/**
 * Tells, from the log's head alone, whether every entry appended since the log was last read also
 * arrived on the bus. Every writer appends one entry and publishes it in one script, so when the log
 * counts exactly as many entries appended since then as distinct messages were heard, and the newest
 * entry is one of them, none is missing and the poll need not read them (one `XINFO STREAM` instead
 * of every entry, on every instance). On the same server only: after a failover to a replica that
 * never got an entry whose message was heard, an entry whose message was lost would make the counts
 * agree again, so the poll trusts them only when the server that counted is the one that answered
 * the last poll (Revocations.readLog, KccRedis.watchServer).
 *
 * Any doubt reads the log: a message lost (fewer heard), a forged one (more heard), a server that
 * does not count appends (before Redis 7.0), a subscriber that reconnected, the first poll. A copy or
 * a replay of a message heard or an entry read before is not counted. Otherwise only a writer with
 * the app's Redis credentials can make the counts agree while an entry is missing (a forged message
 * beside an unpublished entry, a count set back); the same writer can delete that entry outright
 * (security model).
 *
 * It also keeps the envelope ids heard and read, which the poll uses to skip the log's copies unparsed.
 */
export class BusCoverage {
  /** Envelope ids heard or read, tagged with the number of the window that counted them (or NOT_COUNTED). */
  private readonly known = new RecentIds(KNOWN_IDS);
  /** The window now counting, and what it counted. */
  private number = 0;
  private heard = 0;
  private complete = true;
  /** `entries-added` and `last-generated-id` where the log is known up to; `added` undefined until a read sets it, and after a reconnect. */
  private added: number | undefined;
  private lastId: string | undefined;
  private epoch = 0;
  /** Ids kept since the last settle: past the capacity, one kept before could be forgotten and a late copy of it counted. */
  private keptSinceSettle = 0;

  /** Whether a message or entry with this envelope id was heard or read (or written here) already. */
  knows(id: string): boolean {
    return this.known.has(id);
  }

  /** A message heard on the bus. False for a copy or a replay of one heard or read before: not counted, nothing to apply. */
  hear(id: string): boolean {
    if (this.known.has(id)) return false;
    this.keep(id, this.number);
    this.heard++;
    return true;
  }

  /** An envelope id this instance wrote and applied itself (its copies are not applied again). */
  wrote(id: string): void {
    if (!this.known.has(id)) this.keep(id, NOT_COUNTED);
  }

  /**
   * An entry of the log, read during a check. A message for it heard after the check began was
   * counted in the window now counting, but its entry is at or before the head being read: it no
   * longer counts there.
   */
  read(id: string): void {
    const tag = this.known.tag(id);
    if (tag === this.number) this.heard--;
    if (tag === undefined || tag === this.number) this.keep(id, NOT_COUNTED);
  }

  /** Messages may have been lost (the subscriber reconnected): the next check reads the log. */
  invalidate(): void {
    this.added = undefined;
    this.epoch++;
  }

  /** Starts a check: what was heard so far is judged against the head about to be read; later messages count towards the next one. */
  begin(): CoverageWindow {
    // More ids kept since the last settle than are kept at least: a replay of a forgotten one would have counted.
    const complete = this.complete && this.keptSinceSettle <= KNOWN_IDS;
    const window = { number: this.number, heard: this.heard, complete, epoch: this.epoch };
    this.number++;
    this.heard = 0;
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
      head.entriesAdded - this.added === window.heard;
    if (!counted) return false;
    // Equal counts can still hide a missing entry behind a message counted in error (a count that went
    // back): the newest entry, at least, must be one heard in this window.
    if (window.heard === 0) return head.lastId === this.lastId;
    const newest = head.newest;
    return !!newest && newest.id === head.lastId && newest.envelopeId !== undefined && this.known.tag(newest.envelopeId) === window.number;
  }

  /** The log is known up to `head`: covered by the window, or read up to it. */
  settle(window: CoverageWindow, head: LogHead): void {
    if (this.keptSinceSettle > KNOWN_IDS) this.complete = false;
    this.keptSinceSettle = 0;
    // A reconnect during the check: its count stays unknown until the next read.
    if (window.epoch === this.epoch) {
      this.added = head.entriesAdded;
      this.lastId = head.lastId;
    }
  }

  private keep(id: string, tag: number): void {
    this.known.set(id, tag);
    this.keptSinceSettle++;
  }
}
