/**
 * An event-log tail keeps none of its earlier reads (real redis-server). Found by a leak review
 * (2026-12-07): RunningTail.loop() (client/src/event-log.ts) raced each XREAD, and each retry
 * backoff, against one stop promise made with the tail that settled only at stop(); every race left
 * a reaction on it holding the race's promise and so the read's reply, until the tail stopped. A
 * KeyRing's tail (blockMs 5 s) reads at least every 5 s when idle: 17,280 reads a day, about 310
 * bytes each with a null reply (Node 20), ~5 MB a day, ~37 MB a week per instance, plus each ring
 * event's reply. Now each wait has a stop promise of its own (untilStopped).
 *
 * Each read's reply is traced here with a WeakRef (the reader's XREAD wrapped: a null reply, an idle
 * read, is handed on as an empty array, which the tail reads the same); after garbage collection, the
 * replies still reachable must not grow with the reads. With the shared stop promise: all of them
 * are (5 of 5, then 30 of 30).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { EventLog, type EventLogTail } from '../../../client/src/event-log.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { collectGarbage } from '../../support/gc.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'leaktail-prod';
const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const server = useTestRedis({ appEnvs: [{ app: 'leaktail', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

/** Wraps the XREAD of `tail`'s reader connection: each reply is traced (a WeakRef), a null one handed on as `[]`. */
function traceReads(tail: EventLogTail): { readonly reads: () => number; readonly reachable: () => Promise<number> } {
  const reader = (tail as unknown as { reader: Redis }).reader;
  const xread = reader.xread.bind(reader) as (...args: unknown[]) => Promise<unknown>;
  const traced: WeakRef<object>[] = [];
  (reader as unknown as { xread: unknown }).xread = (...args: unknown[]) =>
    xread(...args).then((reply) => {
      const value = (reply ?? []) as object;
      traced.push(new WeakRef(value));
      return value;
    });
  return {
    reads: () => traced.length,
    reachable: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      return traced.filter((ref) => ref.deref() !== undefined).length;
    },
  };
}

describe('an event-log tail that runs for weeks', () => {
  it('keeps none of its earlier reads: 5 reads, then 25 more', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER)));
    const log = new EventLog<number>(redis, { name: 'leak-tail', maxAgeMs: 3_600_000 });
    const tail = await log.tail(() => undefined, { blockMs: 50 });
    closeLater({ close: () => tail.stop() });
    const trace = traceReads(tail);
    let appended = 0;
    /** Appends until the tail has made `reads` reads (each append ends a blocked read at once). */
    const readUntil = async (reads: number) => {
      while (trace.reads() < reads) {
        await log.append('n', appended++);
        await until(() => trace.reads() >= Math.min(reads, appended), 'the tail reading the entry');
      }
    };
    await readUntil(5);
    const afterFirst = await trace.reachable();
    await readUntil(30);
    const afterMore = await trace.reachable();
    // Only the last read or two are reachable (the loop's own variable, a race settling): not one more per read.
    expect({ reads: trace.reads(), afterFirst, afterMore }).toEqual({ reads: trace.reads(), afterFirst: Math.min(afterFirst, 3), afterMore: Math.min(afterMore, 3) });
  });

  it("a KeyRing's tail keeps none of its reads: 5 rotations, then 25 more", async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['reader']));
    const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', activationDelayMs: 0, retireGraceMs: 0 }));
    const trace = traceReads((ring as unknown as { tail: EventLogTail }).tail);
    const rotate = async (times: number) => {
      for (let i = 0; i < times; i++) {
        const reads = trace.reads();
        await ring.rotate({ immediate: true });
        await until(() => trace.reads() > reads, 'the tail reading the rotation');
      }
    };
    await rotate(5);
    const afterFirst = await trace.reachable();
    await rotate(25);
    const afterMore = await trace.reachable();
    // Only the last read or two are reachable (the loop's own variable, a race settling): not one more per read.
    expect({ reads: trace.reads(), afterFirst, afterMore }).toEqual({ reads: trace.reads(), afterFirst: Math.min(afterFirst, 3), afterMore: Math.min(afterMore, 3) });
  });
});
