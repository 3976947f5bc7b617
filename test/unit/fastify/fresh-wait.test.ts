/**
 * requireNotRevoked's shared wait for `fresh` (FreshWait): a request whose own bound ran out leaves
 * nothing behind while Redis stays out of reach (a review of fd3c234: each stayed reachable, about
 * 625 bytes a request, until `fresh`), and `fresh` releases those still waiting.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FreshWait } from '../../../client/src/fastify/require-not-revoked.js';
import { PAUSE_MS } from '../../../client/src/pause-watch.js';
import { stallProcess } from '../../support/stall.js';
import { collectGarbage } from '../../support/gc.js';

describe('FreshWait', () => {
  it('keeps nothing of the requests its bound answered, though fresh never comes', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    const waits: WeakRef<Promise<void>>[] = [];
    const settled: Promise<void>[] = [];
    // All arrive before the first bound runs out (after it, the next ones do not wait at all, until
    // fresh or a pause of the process).
    for (let i = 0; i < 1_000; i++) {
      const waiting = wait.wait(1_000)!;
      waits.push(new WeakRef(waiting));
      settled.push(waiting);
    }
    await Promise.all(settled.splice(0));
    expect(wait.wait(1_000)).toBeUndefined(); // given up
    collectGarbage();
    expect(waits.filter((ref) => ref.deref() !== undefined).length).toBeLessThanOrEqual(10);
    expect(revocations.listenerCount('fresh')).toBe(1); // the one listener that ends the giving up
  });

  it('fresh releases every request still waiting, and a stale request afterwards waits again', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    const outcomes = Array.from({ length: 3 }, () => wait.wait(60_000)!.then(() => 'released'));
    expect(revocations.listenerCount('fresh')).toBe(1);
    revocations.emit('fresh');
    expect(await Promise.all(outcomes)).toEqual(['released', 'released', 'released']);
    expect(revocations.listenerCount('fresh')).toBe(0);
    expect(wait.wait(60_000)).toBeInstanceOf(Promise);
    revocations.emit('fresh');
  });

  it('a giving up holds while stale requests keep coming less than a bound apart, each answered at once (an outage does not hold a share of them)', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    await wait.wait(2_000);
    // 3 s in all, longer than the bound, each request less than it after the one before.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(wait.wait(2_000), `request ${i}`).toBeUndefined();
    }
  });

  it('a giving up holds through a quiet period while the process runs (no request for 3 s): an outage does not make each request of a quiet service wait', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    await wait.wait(200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(wait.wait(200)).toBeUndefined();
    expect(wait.wait(60_000)).toBeUndefined();
  });

  it('after a pause of the process (a freeze right after a 503), a stale request waits again, without fresh', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    await wait.wait(50);
    expect(wait.wait(60_000)).toBeUndefined();
    stallProcess(PAUSE_MS + 500);
    const again = wait.wait(60_000);
    expect(again).toBeInstanceOf(Promise);
    revocations.emit('fresh');
    await again;
  });

  // A review of c100184's follow-ups: the watch began only when a bound ran out, so a pause during a
  // wait (its timer firing at the thaw) went unseen and the request after the thaw was answered at once.
  it('a pause while a request waits: the stale request after it waits again, whether the bound ran out during the pause or after it', async () => {
    for (const [bound, pauseAfter] of [[500, 0], [PAUSE_MS + 1_500, 100]] as const) {
      const revocations = new EventEmitter();
      const wait = new FreshWait(revocations);
      const first = wait.wait(bound)!;
      if (pauseAfter > 0) await new Promise((resolve) => setTimeout(resolve, pauseAfter));
      stallProcess(PAUSE_MS + 500); // frozen with the request waiting
      await first; // its bound ran out (during the pause, or on time after it)
      const next = wait.wait(60_000);
      expect(next, `bound ${bound} ms`).toBeInstanceOf(Promise);
      revocations.emit('fresh');
      await next;
    }
  });
});
