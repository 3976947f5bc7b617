import { describe, expect, it } from 'vitest';
import { announceRetryDelayMs } from '../../../client/src/keycloak-connector/key-provider.js';

// From a review of 7052b88: a failed connector update was retried after exactly 2, 4, 8, … s. When
// Keycloak is down as the key switches, every instance's connector fails at once, and the fleet's
// retries then reached the recovering Keycloak in lockstep.
describe('kccKeyProvider: the wait before telling the connector again after a failed update', () => {
  it('doubles from 2 s up to a minute, with up to half of each step taken off at random', () => {
    const none = () => 0;
    const most = () => 0.999_999;
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((failures) => announceRetryDelayMs(failures, none))).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect([0, 1, 5, 40].map((failures) => announceRetryDelayMs(failures, most))).toEqual([1_000, 2_000, 30_000, 30_000]);
    expect(announceRetryDelayMs(2, () => 0.5)).toBe(6_000);
  });

  it('with the default random source, instances that failed together wait apart', () => {
    const waits = new Set(Array.from({ length: 50 }, () => announceRetryDelayMs(3)));
    expect(waits.size).toBeGreaterThan(1);
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(8_000);
      expect(wait).toBeLessThanOrEqual(16_000);
    }
  });
});
