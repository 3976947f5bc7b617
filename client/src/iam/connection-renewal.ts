import type { KccLogger } from '../logger.js';

/** Options of {@link ConnectionRenewal}. */
export interface ConnectionRenewalOptions {
  /** The server closes a connection this long after it authenticated (ElastiCache IAM: 12 hours). */
  readonly maxAgeMs: number;
  /** The clock ages are measured on (epoch ms; a wall clock, so a suspended host does not fall behind). */
  readonly now: () => number;
  /** How often to look for connections that are due. */
  readonly checkIntervalMs: number;
  readonly logger: KccLogger;
  /** @default Math.random */
  readonly random?: () => number;
}

/** Renewal falls at a random point of this share of the maximum age: staggered, and well before the limit. */
const EARLIEST = 0.75;
const LATEST = 0.9;
/** A failed renewal is retried after 1/200 of the maximum age (3.6 min for 12 hours), doubling, at most 1/20. */
const RETRY_SHARE = 1 / 200;
const MAX_RETRY_SHARE = 1 / 20;

/**
 * What a renewal attempt came to: `true` replaced, `false` not replaced and needs no renewal (gone,
 * or its owner cannot move), `'later'` cannot be replaced yet (still being handed over to its owner):
 * asked again at the next check, not counted as a failure.
 */
export type RenewalOutcome = boolean | 'later';

interface Due {
  at: number;
  failures: number;
  running: boolean;
}

/**
 * Replaces connections before the server's age limit closes them. Each tracked connection is due at
 * a random point between 75 % and 90 % of `maxAgeMs` after it was tracked (9 to 10.8 hours for
 * ElastiCache's 12), so the connections of one instance, and of instances started together, renew
 * at different times. `renew` opens the successor, hands it over and closes the old one; until it
 * succeeds the old connection keeps serving, and a failure is retried with a growing delay.
 */
export class ConnectionRenewal<T extends object> {
  private readonly due = new Map<T, Due>();
  private readonly timer: NodeJS.Timeout;
  private readonly random: () => number;
  /** Connections replaced so far. */
  renewed = 0;
  /** Renewal attempts that failed (each is retried). */
  failed = 0;

  constructor(
    private readonly options: ConnectionRenewalOptions,
    /** Replaces `connection` ({@link RenewalOutcome}). */
    private readonly renew: (connection: T) => Promise<RenewalOutcome>,
  ) {
    this.random = options.random ?? Math.random;
    this.timer = setInterval(() => this.check(), options.checkIntervalMs);
    this.timer.unref();
  }

  /** Starts counting `connection`'s age now. */
  track(connection: T): void {
    const share = EARLIEST + (LATEST - EARLIEST) * this.random();
    this.due.set(connection, { at: this.options.now() + share * this.options.maxAgeMs, failures: 0, running: false });
  }

  forget(connection: T): void {
    this.due.delete(connection);
  }

  stop(): void {
    clearInterval(this.timer);
    this.due.clear();
  }

  private check(): void {
    const now = this.options.now();
    for (const [connection, due] of this.due) {
      if (due.running || due.at > now) continue;
      due.running = true;
      this.renew(connection).then(
        (outcome) => {
          if (outcome === 'later') {
            due.running = false;
            return;
          }
          this.due.delete(connection);
          if (outcome) this.renewed++;
        },
        (error: unknown) => {
          due.running = false;
          due.failures++;
          this.failed++;
          const retryShare = Math.min(RETRY_SHARE * 2 ** (due.failures - 1), MAX_RETRY_SHARE);
          due.at = this.options.now() + retryShare * this.options.maxAgeMs;
          this.options.logger.warn('renewing a Redis connection before its age limit failed; the current one keeps serving, will retry', {
            failures: due.failures,
            error: String(error),
          });
        },
      );
    }
  }
}
