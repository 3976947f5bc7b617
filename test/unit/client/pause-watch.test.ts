/**
 * PauseWatch: a pause of the process shows on either clock, whether the request reads the watch
 * before its timer runs after the pause or after; a watch nothing holds any more is collected with
 * what its `wanted()` refers to (its timer holds it weakly), not kept alive by its timer.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PAUSE_MS, PauseWatch } from '../../../client/src/pause-watch.js';
import { collectGarbage } from '../../support/gc.js';
import { stallProcess } from '../../support/stall.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PauseWatch', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('sees no pause while the process runs, quiet or not', async () => {
    const watch = new PauseWatch();
    await sleep(PAUSE_MS + 500);
    expect(watch.paused).toBe(false);
    watch.stop();
  });

  it('sees a pause read at once after it, and read after its timer ran (the late tick records it rather than moving on)', async () => {
    const readAtOnce = new PauseWatch();
    const readLater = new PauseWatch();
    stallProcess(PAUSE_MS + 500);
    expect(readAtOnce.paused).toBe(true);
    await sleep(600); // the timer has run since
    expect(readLater.paused).toBe(true);
    readAtOnce.stop();
    readLater.stop();
  });

  it('sees a pause on the wall clock alone (a monotonic clock that stood still across a freeze)', () => {
    const watch = new PauseWatch();
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + PAUSE_MS + 1_000);
    expect(watch.paused).toBe(true);
    watch.stop();
  });

  it('keeps nothing alive once nothing holds it, though never stopped', async () => {
    // As FreshWait holds its watch, and the watch's wanted() refers back to it.
    const make = () => {
      const owner: { watch?: PauseWatch } = {};
      owner.watch = new PauseWatch(() => owner.watch !== undefined);
      return new WeakRef(owner);
    };
    const owned = make();
    await sleep(600);
    collectGarbage();
    await sleep(600);
    collectGarbage();
    expect(owned.deref()).toBeUndefined();
  });
});
