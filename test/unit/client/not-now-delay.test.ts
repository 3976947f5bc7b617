/**
 * A server-load review: a command refused with LOADING (a server still loading its dataset after a
 * restart) was retried every 100 ms for up to connectTimeoutMs, by every pending command of every
 * instance, in step. The waits now double up to a second, each drawn between half and all of it;
 * redirections while a slot moves stay at 100 ms (they end within moments).
 */
import { describe, expect, it } from 'vitest';
import { notNowDelay } from '../../../client/src/connection.js';

describe('the wait before a command refused for now is sent again', () => {
  it('LOADING: doubles from 100 ms up to 1 s, between half and all of each step', () => {
    const lowest = [1, 2, 3, 4, 5, 8, 40].map((tries) => notNowDelay('LOADING', tries, () => 0));
    const highest = [1, 2, 3, 4, 5, 8, 40].map((tries) => notNowDelay('LOADING', tries, () => 1));
    expect(highest).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(lowest).toEqual([50, 100, 200, 400, 500, 500, 500]);
  });

  it('LOADING: two instances drawing differently do not retry in step', () => {
    expect(notNowDelay('LOADING', 5, () => 0.1)).not.toBe(notNowDelay('LOADING', 5, () => 0.9));
  });

  it('a slot moving: every 100 ms, whatever the count', () => {
    expect([1, 5, 40].map((tries) => notNowDelay('SLOT_MOVING', tries, () => 0.5))).toEqual([100, 100, 100]);
  });
});
