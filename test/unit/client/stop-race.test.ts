/**
 * stopRace (client/src/stop-race.ts): many waits raced against one stop promise leave nothing behind on it.
 * `Promise.race([work, stop])`, which `status --watch` did per refresh, kept every refresh's results
 * reachable from the stop promise until the watch ended (found by a review: ~218 KiB a refresh).
 */
import { describe, expect, it } from 'vitest';
import { stopRace } from '../../../client/src/stop-race.js';
import { collectGarbage } from '../../support/gc.js';

/** Runs 30 waits through `race`, each resolving with a fresh object, and counts those still reachable after gc. */
async function reachableAfter(race: <T>(work: Promise<T>) => Promise<unknown>): Promise<number> {
  const traced: WeakRef<object>[] = [];
  for (let i = 0; i < 30; i++) {
    const value = { refresh: i, results: new Array(1_000).fill(i) };
    traced.push(new WeakRef(value));
    await race(Promise.resolve(value));
  }
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  return traced.filter((ref) => ref.deref() !== undefined).length;
}

describe('stopRace', () => {
  it('keeps none of the waits it raced (Promise.race against the same stop keeps every one)', async () => {
    const never = new Promise<'stopped'>(() => undefined);
    expect(await reachableAfter(stopRace(never))).toBeLessThanOrEqual(1);
    // The premise: racing each wait against the one promise keeps them all, on Node.js 20 to 24 (the
    // lines users run up to 24, and CI). Node.js 26's V8 no longer does: there the bare race keeps one.
    const viaRace = await reachableAfter((work) => Promise.race([work, never]));
    if (Number(process.versions.node.split('.')[0]) < 26) expect(viaRace).toBe(30);
  });

  it('answers the stop to the wait under way and to every later one, and the work when it comes first', async () => {
    let stop!: (value: 'stopped') => void;
    const race = stopRace(new Promise<'stopped'>((resolve) => (stop = resolve)));
    expect(await race(Promise.resolve(1))).toBe(1);
    const pending = race(new Promise<number>(() => undefined));
    stop('stopped');
    expect(await pending).toBe('stopped');
    expect(await race(new Promise<number>(() => undefined))).toBe('stopped');
    await expect(race(Promise.reject(new Error('late')))).resolves.toBe('stopped');
  });

  it('passes a rejection of the work on while not stopped', async () => {
    const race = stopRace(new Promise<'stopped'>(() => undefined));
    await expect(race(Promise.reject(new Error('read failed')))).rejects.toThrow('read failed');
  });
});
