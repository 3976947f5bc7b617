import { describe, expect, it } from 'vitest';
import { ConnectionRenewal } from '../../../client/src/iam/connection-renewal.js';
import { until } from '../../support/events.js';
import { HOUR, MINUTE, fakeClock } from '../../support/fake-clock.js';

const quiet = { warn: () => {}, info: () => {} };

describe('connection renewal before the age limit', () => {
  it('renews each connection once, at a staggered point between 75 % and 90 % of 12 hours', async () => {
    const clock = fakeClock();
    const randoms = [0, 0.5, 1];
    const renewed: string[] = [];
    const renewal = new ConnectionRenewal<{ name: string }>({ maxAgeMs: 12 * HOUR, now: clock.now, checkIntervalMs: 2, logger: quiet, random: () => randoms.shift()! }, async (c) => {
      renewed.push(c.name);
      return true;
    });
    for (const name of ['a', 'b', 'c']) renewal.track({ name });
    clock.advance(9 * HOUR - 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(renewed).toEqual([]);
    clock.advance(1); // 9 h = 75 %
    await until(() => renewed.length === 1, 'the first renewal');
    clock.advance(0.9 * HOUR); // 9.9 h = 82.5 %
    await until(() => renewed.length === 2, 'the second renewal');
    clock.advance(0.9 * HOUR); // 10.8 h = 90 %
    await until(() => renewed.length === 3, 'the third renewal');
    expect(renewed).toEqual(['a', 'b', 'c']);
    expect(renewal.renewed).toBe(3);
    clock.advance(24 * HOUR);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(renewed).toHaveLength(3); // a renewed connection is forgotten; its successor is tracked by the owner
    renewal.stop();
  });

  it('retries a failed renewal with a growing delay, and drops a connection that needs none', async () => {
    const clock = fakeClock();
    let attempts = 0;
    const renewal = new ConnectionRenewal<object>({ maxAgeMs: 12 * HOUR, now: clock.now, checkIntervalMs: 2, logger: quiet, random: () => 0 }, async () => {
      attempts++;
      if (attempts < 3) throw new Error('policy not attached yet');
      return true;
    });
    renewal.track({});
    clock.advance(9 * HOUR);
    await until(() => attempts === 1 && renewal.failed === 1, 'the first attempt');
    clock.advance(3.6 * MINUTE - 1); // retry after 1/200 of 12 hours
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempts).toBe(1);
    clock.advance(1);
    await until(() => attempts === 2, 'the second attempt');
    clock.advance(7.2 * MINUTE); // then twice that
    await until(() => attempts === 3 && renewal.renewed === 1, 'the third attempt');

    let asked = 0;
    const idle = new ConnectionRenewal<object>({ maxAgeMs: HOUR, now: clock.now, checkIntervalMs: 2, logger: quiet }, async () => {
      asked++;
      return false;
    });
    idle.track({});
    clock.advance(HOUR);
    await until(() => asked === 1, 'the check');
    clock.advance(HOUR);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked).toBe(1);
    expect(idle.renewed).toBe(0);
    renewal.stop();
    idle.stop();
  });
  it("asks again at the next check, with no failure counted or logged, while the owner answers 'later'", async () => {
    const clock = fakeClock();
    const warnings: string[] = [];
    const outcomes: ('later' | boolean)[] = ['later', 'later', true];
    let asked = 0;
    const renewal = new ConnectionRenewal<object>({ maxAgeMs: 12 * HOUR, now: clock.now, checkIntervalMs: 2, logger: { ...quiet, warn: (m: string) => void warnings.push(m) }, random: () => 0 }, async () => {
      asked++;
      return outcomes.shift()!;
    });
    renewal.track({});
    clock.advance(9 * HOUR); // the clock stands still from here: only the checks move
    await until(() => renewal.renewed === 1, 'renewed at the third ask');
    expect(asked).toBe(3);
    expect(renewal.failed).toBe(0);
    expect(warnings).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked).toBe(3); // renewed: forgotten
    renewal.stop();
  });
});
