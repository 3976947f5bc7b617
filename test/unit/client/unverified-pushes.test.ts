import { describe, expect, it } from 'vitest';
import { MAX_UNVERIFIED_PUSHES, UnverifiedPushes, isNewer } from '../../../client/src/revocation/unverified-pushes.js';

describe('UnverifiedPushes', () => {
  it('a verified push ends the raises that claim to be no newer, and keeps those that claim to be newer', () => {
    const pushes = new UnverifiedPushes();
    pushes.add('older', { expiration: 100, notBefore: 50 });
    pushes.add('same-second-lower', { expiration: 200, notBefore: 10 });
    pushes.add('newer', { expiration: 300, notBefore: 40 });
    expect(pushes.highest()).toBe(50);
    expect(pushes.settle({ expiration: 200, notBefore: 20 })).toBe(true);
    expect(pushes.actions()).toEqual(['newer']);
    expect(pushes.highest()).toBe(40);
    expect(pushes.settle({ expiration: 200, notBefore: 20 })).toBe(false);
    expect(pushes.end('newer')).toBe(true);
    expect(pushes.end('newer')).toBe(false);
    expect(pushes.highest()).toBe(0);
  });

  it(`past ${MAX_UNVERIFIED_PUSHES} actions the rest is kept as one: its highest not-before holds until a verified push newer than its newest claim`, () => {
    const pushes = new UnverifiedPushes();
    for (let i = 0; i < MAX_UNVERIFIED_PUSHES; i++) pushes.add(`kept-${i}`, { expiration: 100, notBefore: 1 });
    pushes.add('flood-high', { expiration: 150, notBefore: 90 });
    pushes.add('flood-new', { expiration: 400, notBefore: 5 });
    expect(pushes.actions()).toHaveLength(MAX_UNVERIFIED_PUSHES);
    expect(pushes.highest()).toBe(90);
    // Newer than every kept one and than 'flood-high', not than 'flood-new': the rest holds, as one.
    expect(pushes.settle({ expiration: 300, notBefore: 0 })).toBe(true);
    expect(pushes.actions()).toHaveLength(0);
    expect(pushes.highest()).toBe(90);
    expect(pushes.end('flood-high')).toBe(false); // not kept one by one: a refusal of it takes nothing back
    expect(pushes.settle({ expiration: 400, notBefore: 6 })).toBe(true);
    expect(pushes.highest()).toBe(0);
  });

  it('an action already kept is updated in place, also when full', () => {
    const pushes = new UnverifiedPushes();
    for (let i = 0; i < MAX_UNVERIFIED_PUSHES; i++) pushes.add(`kept-${i}`, { expiration: 100, notBefore: 1 });
    pushes.add('kept-0', { expiration: 100, notBefore: 7 });
    expect(pushes.highest()).toBe(7);
    expect(pushes.end('kept-0')).toBe(true);
    expect(pushes.highest()).toBe(1);
  });

  it('orders by expiration, then the higher not-before', () => {
    expect(isNewer({ expiration: 2, notBefore: 0 }, { expiration: 1, notBefore: 9 })).toBe(true);
    expect(isNewer({ expiration: 1, notBefore: 9 }, { expiration: 1, notBefore: 8 })).toBe(true);
    expect(isNewer({ expiration: 1, notBefore: 8 }, { expiration: 1, notBefore: 8 })).toBe(false);
    expect(isNewer({ expiration: 0, notBefore: 0 }, undefined)).toBe(true);
  });
});
