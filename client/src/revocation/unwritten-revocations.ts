import type { KccLogger } from '../logger.js';
import type { RevocationEvent } from './revocation-event.js';
import { SingleFlight } from '../single-flight.js';
import { errorLine } from '../redis-error-redaction.js';

/**
 * The most revocations one instance holds unwritten. Far above what an outage brings (a bulk logout
 * of a few thousand sessions); past it the oldest go, counted and logged, so memory stays bounded.
 */
export const MAX_UNWRITTEN_REVOCATIONS = 100_000;

/**
 * Revocations applied on this instance whose write to Redis failed. Nobody else sends them again:
 * Keycloak posts a logout token once and only logs a failed answer (ResourceAdminManager
 * `sendBackChannelLogoutRequestToClientUri`), so this instance writes them again, after a reconnect
 * and on every poll, until Redis takes them. Applying is idempotent, so a write whose reply was lost
 * and that is written again changes nothing.
 */
export class UnwrittenRevocations {
  private events: RevocationEvent[] = [];
  /** One pass at a time; one asked for while one is in flight runs after it, for what failed meanwhile. */
  private readonly passes = new SingleFlight(() => this.writeAll());
  private closed = false;
  /** Taken out of `events` by the pass in flight: still unwritten until it succeeds. */
  private inPass: readonly RevocationEvent[] = [];
  private droppedCount = 0;
  private writtenLateCount = 0;

  constructor(
    private readonly write: (event: RevocationEvent) => Promise<void>,
    private readonly logger: KccLogger,
  ) {}

  /** Revocations waiting to be written, those being written again included. */
  get size(): number {
    return this.events.length + this.inPass.length;
  }

  /** The revocations waiting here, those being written again included. */
  *held(): Generator<RevocationEvent> {
    yield* this.events;
    yield* this.inPass;
  }

  /** Revocations given up because more than {@link MAX_UNWRITTEN_REVOCATIONS} waited: applied here only. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Revocations written after their first write failed. */
  get writtenLate(): number {
    return this.writtenLateCount;
  }

  /** Keeps `event`, whose write just failed with `error`, to write it again. */
  add(event: RevocationEvent, error: unknown): void {
    // Its write was in flight when the close gave up: nothing writes it again now, and the close's
    // warning ("closed with N revocations Redis did not confirm") counted it already.
    if (this.closed) return;
    // Once per outage: not again for each failure while others wait or are being written again.
    if (this.size === 0) {
      this.logger.warn(
        'revocation applied on this instance only: writing it to Redis failed; it is written again after a reconnect and on every poll until Redis takes it (stats.unwritten)',
        { error: errorLine(error) },
      );
    }
    if (this.size >= MAX_UNWRITTEN_REVOCATIONS && this.events.length > 0) {
      this.events.shift();
      this.droppedCount++;
      if (this.droppedCount === 1 || this.droppedCount % 10_000 === 0) {
        this.logger.warn(`${this.droppedCount} revocations that Redis did not take were given up (more than ${MAX_UNWRITTEN_REVOCATIONS} waited): applied on this instance only (stats.unwrittenDropped)`);
      }
    }
    this.events.push(event);
  }

  /**
   * Writes every waiting revocation once more (single-flight); those that fail again keep waiting.
   * Asked while a pass is in flight, it resolves after one more pass, which also covers what failed
   * after that one began.
   */
  retry(): Promise<void> {
    return this.passes.run();
  }

  /** From now on a failed write is only reported: nothing will write it again. */
  close(): void {
    this.closed = true;
  }

  private async writeAll(): Promise<void> {
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.inPass = events;
    // The writer batches what arrives together: one script call per batch, not per revocation.
    const results = await Promise.allSettled(events.map((event) => this.write(event)));
    this.inPass = [];
    const failed = events.filter((_, i) => results[i]!.status === 'rejected');
    this.writtenLateCount += events.length - failed.length;
    // Those kept while this ran came later: the order of first failure stays.
    const waiting = [...failed, ...this.events];
    const over = waiting.length - MAX_UNWRITTEN_REVOCATIONS;
    if (over > 0) this.droppedCount += over;
    this.events = over > 0 ? waiting.slice(over) : waiting;
    if (failed.length === 0 && this.events.length === 0 && events.length > 0) {
      this.logger.info(`${events.length} revocations written to Redis after their first write failed: every instance has them`);
    }
  }
}
