import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RedisClient } from '../../../client/src/redis-client.js';
import { MAX_MEASURE_ROUND_TRIP_MS, SERVER_CLOCK_REFRESH_MS, ServerClock } from '../../../client/src/server-clock.js';

/** A connection whose server clock runs `aheadMs` ahead of this process's, answering TIME as Redis does (seconds, microseconds). */
function connection(aheadMs: number, fail?: Error, delays: number[] = []) {
  const calls = { time: 0 };
  const warnings: string[] = [];
  const conn = {
    calls,
    run: async <T>(operation: (client: RedisClient) => Promise<T>): Promise<T> =>
      operation({
        time: async () => {
          calls.time++;
          if (fail) throw fail;
          const delay = delays[calls.time - 1] ?? 0;
          if (delay > 0) vi.advanceTimersByTime(delay); // the reply waited (offline queue, retries)
          const us = (Date.now() + aheadMs) * 1000;
          return [String(Math.floor(us / 1_000_000)), String(us % 1_000_000)];
        },
      } as unknown as RedisClient),
  };
  return { conn, calls, warnings, clock: new ServerClock(conn, { warn: (m) => warnings.push(m), info: () => undefined }) };
}

afterEach(() => vi.useRealTimers());

describe('ServerClock', () => {
  it('estimates the server\'s time from one TIME, then reuses the offset for a minute and measures again in the background', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    const { clock, calls } = connection(-7_250);
    expect(await clock.now()).toBe(1_800_000_000_000 - 7_250);
    expect(await clock.skew()).toBe(7_250); // this host is ahead
    expect(calls.time).toBe(2); // skew() always measures
    vi.advanceTimersByTime(SERVER_CLOCK_REFRESH_MS - 1);
    expect(await clock.now()).toBe(1_800_000_000_000 + SERVER_CLOCK_REFRESH_MS - 1 - 7_250);
    expect(calls.time).toBe(2);
    vi.advanceTimersByTime(1);
    await clock.now();
    expect(calls.time).toBe(3);
  });

  it('estimate(): the server\'s time without a round trip, carried on the monotonic clock, so a step of this host\'s clock is not counted twice (a review of 24fed0f)', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    const { clock } = connection(120_000); // this host runs 120 s behind the server
    expect(clock.estimate()).toBeUndefined(); // nothing measured yet
    await clock.now();
    expect(clock.estimate()).toBe(1_800_000_120_000);
    vi.advanceTimersByTime(1_000);
    expect(clock.estimate()).toBe(1_800_000_121_000);
    // NTP steps this host's wall clock forward by the 120 s it was behind; the monotonic clock does not jump.
    vi.setSystemTime(Date.now() + 120_000);
    expect(clock.estimate()).toBe(1_800_000_121_000);
    vi.advanceTimersByTime(2 * SERVER_CLOCK_REFRESH_MS);
    expect(clock.estimate()).toBeUndefined(); // nothing measured for two minutes: not used
  });

  it('measureSoon(): the next now() measures again, before the minute is up (a writer that replaced a log dated ahead suspects its estimate)', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    const { clock, calls } = connection(0);
    await clock.now();
    await clock.now();
    expect(calls.time).toBe(1);
    clock.measureSoon();
    await clock.now();
    expect(calls.time).toBe(2);
  });

  it('a measurement whose round trip took too long is not kept for now(); skew() reports it all the same (found by reviews)', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    // The server answers at the end of a 20 s wait: the round trip's middle is 10 s off.
    const { clock } = connection(-7_250, undefined, [20_000, 0, 3_000]);
    expect(await clock.skew()).toBe(7_250 - 10_000); // fresh, and off by half the round trip at most
    expect(await clock.now()).toBe(Date.now() - 7_250); // not kept: measured again, quickly
    expect(3_000).toBeGreaterThan(MAX_MEASURE_ROUND_TRIP_MS);
    expect(await clock.skew()).toBe(7_250 - 1_500);
    expect(await clock.now()).toBe(Date.now() - 7_250); // the slow one changed nothing
  });

  it('a server that refuses TIME leaves this host\'s clock, says so once and is not asked again', async () => {
    const { clock, calls, warnings } = connection(0, new Error("NOPERM User notime-prod has no permissions to run the 'time' command"));
    const before = Date.now();
    expect(await clock.now()).toBeGreaterThanOrEqual(before);
    expect(await clock.skew()).toBeUndefined();
    expect(clock.uncorrected).toBe(true);
    await clock.now();
    expect(calls.time).toBe(1);
    expect(warnings).toHaveLength(1);
  });

  it('another failure (the connection down) is thrown by skew() and leaves now() on this host\'s clock, asking again next time', async () => {
    const { clock, calls } = connection(0, new Error('Connection is closed.'));
    await expect(clock.skew()).rejects.toThrow('Connection is closed.');
    const before = Date.now();
    expect(await clock.now()).toBeGreaterThanOrEqual(before);
    expect(calls.time).toBe(2);
    expect(clock.uncorrected).toBe(false);
  });
});

describe('ServerClock.measuredNow(): the server\'s time for a decision that removes data', () => {
  it('measures now, also while an offset is held: a host clock stepped since the last measurement is not trusted', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    // The server's clock runs on; this host's steps 120 s back (a VM resumed) after the first measurement.
    let hostBehindMs = 0;
    let calls = 0;
    const conn = {
      run: async <T>(operation: (client: RedisClient) => Promise<T>): Promise<T> =>
        operation({
          time: async () => {
            calls++;
            const us = (Date.now() + hostBehindMs) * 1000;
            return [String(Math.floor(us / 1_000_000)), String(us % 1_000_000)];
          },
        } as unknown as RedisClient),
    };
    const clock = new ServerClock(conn, { warn: () => undefined, info: () => undefined });
    expect(await clock.now()).toBe(1_800_000_000_000);
    hostBehindMs = 120_000;
    vi.setSystemTime(Date.now() - hostBehindMs);
    expect(await clock.now()).toBe(1_800_000_000_000 - 120_000); // the offset held, measured before the step
    expect(await clock.measuredNow()).toBe(1_800_000_000_000);
    expect(calls).toBe(2);
    expect(await clock.now()).toBe(1_800_000_000_000); // the new offset is kept
  });

  it('undefined, never thrown, when there is no measurement to be had: TIME refused, failing, or answered after more than MAX_MEASURE_ROUND_TRIP_MS', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: 1_800_000_000_000 });
    expect(await connection(0, new Error("NOPERM User notime-prod has no permissions to run the 'time' command")).clock.measuredNow()).toBeUndefined();
    expect(await connection(0, new Error('Connection is closed.')).clock.measuredNow()).toBeUndefined();
    const slow = connection(5_000, undefined, [MAX_MEASURE_ROUND_TRIP_MS + 1, MAX_MEASURE_ROUND_TRIP_MS]);
    expect(await slow.clock.measuredNow()).toBeUndefined();
    // The server answers at the end of the round trip: off by half of it, at most 1 s.
    expect(await slow.clock.measuredNow()).toBe(Date.now() + 5_000 + MAX_MEASURE_ROUND_TRIP_MS / 2);
  });
});
