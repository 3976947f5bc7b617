import type { KccLogger } from './logger.js';
import type { RedisClient } from './redis-client.js';

/** How long a measured offset is used before it is measured again (in the background). */
export const SERVER_CLOCK_REFRESH_MS = 60_000;
/**
 * A measurement whose round trip took longer is not kept for {@link ServerClock.now} (the previous
 * offset stays): the server read its clock somewhere within it, so the estimate could be off by half
 * of it, and a command can wait in ioredis's offline queue or behind retries for many seconds.
 */
export const MAX_MEASURE_ROUND_TRIP_MS = 2_000;

/** What the clock needs of a connection. */
export interface ServerClockConnection {
  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
}

/**
 * The Redis server's clock, as this instance estimates it: this host's clock corrected by an offset
 * measured with `TIME` (a command of its own, never inside a script) and measured again every minute.
 *
 * Scripts are given the time as an argument rather than calling `TIME` themselves: ElastiCache
 * Serverless answers a script that calls `TIME` with "ERR This Redis command is not allowed from
 * script" (reported in symfony/symfony#54252 and otovo/redis-rate-limiters#11; AWS lists `TIME` as a
 * supported command, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/SupportedCommands.html,
 * and says nothing of it in scripts). A server that refuses `TIME` altogether (an access string
 * without it) leaves this host's clock uncorrected; it is not asked again.
 */
export class ServerClock {
  /** The server's clock minus this host's (ms), as last measured. */
  private offsetMs: number | undefined;
  /** When the last measurement that did not fail began (monotonic ms): the next is due a minute later. */
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private measuring: Promise<Measurement | undefined> | undefined;
  private refused = false;
  /** The server's time as the last kept measurement read it, and when that was on the monotonic clock. */
  private lastServerTime: { readonly serverMs: number; readonly atMonotonicMs: number } | undefined;

  constructor(
    private readonly redis: ServerClockConnection,
    private readonly logger: KccLogger,
  ) {}

  /** Whether the server refused `TIME`: times are then this host's own. */
  get uncorrected(): boolean {
    return this.refused;
  }

  /**
   * This host's clock minus the server's (ms), measured now, however long the round trip took (off
   * by half of it at most: a check with a wide allowance, as the key ring's, still holds); undefined
   * when the server refuses `TIME`. Any other failure is thrown.
   */
  async skew(): Promise<number | undefined> {
    const measured = await this.measure();
    return measured === undefined ? undefined : -measured.offsetMs;
  }

  /**
   * The server's time (whole ms since the epoch) from a measurement taken now (or under way), for a decision that
   * must not rest on this host's clock (removing data from Redis): undefined when there is none to
   * be had — the server refuses `TIME`, the measurement failed, or its round trip took longer than
   * {@link MAX_MEASURE_ROUND_TRIP_MS}. Never throws. Unlike {@link now}, never an offset measured
   * before: a host clock stepped since (a VM resumed, NTP's first step) would make that one wrong.
   */
  async measuredNow(): Promise<number | undefined> {
    try {
      const measured = await this.measure();
      if (measured === undefined || measured.roundTripMs > MAX_MEASURE_ROUND_TRIP_MS) return undefined;
      return Date.now() + measured.offsetMs;
    } catch {
      return undefined;
    }
  }

  /**
   * The server's time (whole ms since the epoch), estimated from the last offset, which is measured
   * again in the background once a minute; while there is none, measured first. Without one (the
   * server refuses TIME, or measuring failed or was too slow), this host's clock.
   */
  async now(): Promise<number> {
    if (!this.refused && (this.offsetMs === undefined || performance.now() - this.attemptedAt >= SERVER_CLOCK_REFRESH_MS)) {
      const measuring = this.measure().catch(() => undefined);
      if (this.offsetMs === undefined) await measuring;
    }
    return Date.now() + (this.offsetMs ?? 0);
  }

  /**
   * The server's time (ms) without asking: the last kept measurement, carried forward on the monotonic
   * clock. Undefined before the first measurement, where the server refuses `TIME`, or once the last is
   * more than two minutes old. For a judgement that cannot wait for a round trip (a message being
   * applied); a running instance measures about every minute (its heartbeat).
   */
  estimate(): number | undefined {
    const last = this.lastServerTime;
    if (last === undefined) return undefined;
    // Carried forward on the monotonic clock, not this host's wall clock: a wall clock stepped since
    // the measurement (NTP correcting a host that ran behind) would otherwise count the step twice
    // (a review of 24fed0f). Unused once two refresh periods old: nothing is measuring any more.
    const elapsed = performance.now() - last.atMonotonicMs;
    return elapsed <= 2 * SERVER_CLOCK_REFRESH_MS ? last.serverMs + elapsed : undefined;
  }

  /** Measures again at the next {@link now} (in the background): something suggested the offset is off. */
  measureSoon(): void {
    if (!this.refused) this.attemptedAt = Number.NEGATIVE_INFINITY;
  }

  private measure(): Promise<Measurement | undefined> {
    this.measuring ??= this.measureOnce().finally(() => {
      this.measuring = undefined;
    });
    return this.measuring;
  }

  private async measureOnce(): Promise<Measurement | undefined> {
    if (this.refused) return undefined;
    this.attemptedAt = performance.now();
    const sentAt = Date.now();
    const started = performance.now();
    let reply: (string | number)[];
    try {
      reply = await this.redis.run((r) => r.time());
    } catch (error) {
      if (!(error instanceof Error && /NOPERM|unknown command|not supported/i.test(error.message))) {
        this.attemptedAt = Number.NEGATIVE_INFINITY; // asked again next time
        throw error;
      }
      this.refused = true;
      this.logger.warn(
        'the Redis server refuses TIME: this host\'s clock is used as it is (key ring writes go ahead without comparing it with the server\'s; revocation bounds, heartbeats and the keycloak-connector provider\'s sealed times use it uncorrected: hosts more than a minute apart drop each other\'s connector messages)',
        { error: error.message },
      );
      return undefined;
    }
    const receivedAt = Date.now();
    const serverMs = Number(reply[0]) * 1000 + Number(reply[1]) / 1000;
    if (!Number.isFinite(serverMs)) throw new Error(`TIME answered ${JSON.stringify(reply).slice(0, 80)}, not seconds and microseconds`);
    // The server read its clock somewhere in the round trip: its middle is the best guess.
    const offsetMs = Math.round(serverMs - (sentAt + receivedAt) / 2);
    const ended = performance.now();
    const roundTripMs = ended - started;
    if (roundTripMs <= MAX_MEASURE_ROUND_TRIP_MS) {
      this.offsetMs = offsetMs;
      this.lastServerTime = { serverMs, atMonotonicMs: (started + ended) / 2 };
    }
    return { offsetMs, roundTripMs };
  }
}

/** One `TIME` measurement: the server's clock minus this host's, and how long the round trip took (monotonic ms). */
interface Measurement {
  readonly offsetMs: number;
  readonly roundTripMs: number;
}
