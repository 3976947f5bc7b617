/**
 * requireNotRevoked's shared wait for `fresh` (FreshWait): a request whose own bound ran out leaves
 * nothing behind while Redis stays out of reach (a review of fd3c234: each stayed reachable, about
 * 625 bytes a request, until `fresh`), and `fresh` releases those still waiting.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FreshWait } from '../../../client/src/fastify/require-not-revoked.js';
import { collectGarbage } from '../../support/gc.js';

describe('FreshWait', () => {
  it('keeps nothing of the requests its bound answered, though fresh never comes', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    const waits: WeakRef<Promise<void>>[] = [];
    const settled: Promise<void>[] = [];
    // All arrive before the first bound runs out (after it, the next ones do not wait at all, for as
    // long again: a second, so that the check below comes within it on a loaded machine).
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

  it('judges the gap since the last answer without a wait by the shorter of the arriving request\'s bound and the one that ran out (routes with different staleWaitMs)', async () => {
    const revocations = new EventEmitter();
    const longAfterShort = new FreshWait(revocations);
    await longAfterShort.wait(1_000);
    expect(longAfterShort.wait(60_000)).toBeUndefined(); // at once after the 1 s give-up: given up
    const shortAfterLong = new FreshWait(revocations);
    await shortAfterLong.wait(300);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const short = shortAfterLong.wait(100); // 120 ms is longer than its 100 ms: it waits
    expect(short).toBeInstanceOf(Promise);
    revocations.emit('fresh');
    await short;
  });

  it('after a gap as long as the wait that ran out, a stale request waits again, without fresh (a freeze right after a 503)', async () => {
    const revocations = new EventEmitter();
    const wait = new FreshWait(revocations);
    await wait.wait(50);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const again = wait.wait(60_000);
    expect(again).toBeInstanceOf(Promise);
    revocations.emit('fresh');
    await again;
  });
});
