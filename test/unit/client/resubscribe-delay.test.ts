/**
 * A server-load review: a re-subscription the server refused (NOPERM after an ACL change) was tried
 * again every 2 s for ever, by every instance in step: 250 NOPERM a second in the ACL log and the
 * ChannelAuthorizationFailures alarm for a fleet of 500. A refusal now backs off to 30 s; a server
 * that does not answer keeps the 2 s ceiling; every wait is drawn between half and all of its step.
 */
import { describe, expect, it } from 'vitest';
import { resubscribeDelay } from '../../../client/src/subscriptions.js';

describe('the wait before subscribing the channels again', () => {
  it('refused: doubling from 100 ms up to 30 s', () => {
    expect([0, 1, 4, 8, 9, 50].map((attempt) => resubscribeDelay(attempt, true, () => 1))).toEqual([100, 200, 1_600, 25_600, 30_000, 30_000]);
  });

  it('not answered: up to 2 s', () => {
    expect([0, 4, 5, 50].map((attempt) => resubscribeDelay(attempt, false, () => 1))).toEqual([100, 1_600, 2_000, 2_000]);
  });

  it('each wait between half and all of its step: a fleet does not retry in step', () => {
    expect(resubscribeDelay(9, true, () => 0)).toBe(15_000);
    expect(resubscribeDelay(9, true, () => 0.2)).not.toBe(resubscribeDelay(9, true, () => 0.8));
  });
});
