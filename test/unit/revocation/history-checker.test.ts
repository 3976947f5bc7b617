/**
 * The history checker (test/support/history.ts) on hand-written histories: each kind of violation
 * is flagged, and the legal histories beside it are accepted, so that the randomized runs' green
 * means something.
 */
import { describe, expect, it } from 'vitest';
import { type CheckAnswer, History, type HistoryEvent, type Revocation, type TokenClaims, checkHistory, covers, describeViolations } from '../../support/history.js';

const MAX_STALENESS_MS = 3_000;
const T0 = 1_800_000_000; // epoch s
const alice: TokenClaims = { sid: 's-alice', sub: 'alice', iat: T0 - 10 };
const bob: TokenClaims = { sid: 's-bob', sub: 'bob', iat: T0 - 10 };
const bobOffline: TokenClaims = { sid: 's-bob', sub: 'bob', iat: T0 + 20, scope: 'openid offline_access' };

/** A history written by hand: each call appends one event at the time given (ms). */
function script() {
  const events: HistoryEvent[] = [];
  let op = 0;
  const api = {
    events,
    instances: (...ids: number[]) => {
      for (const instance of ids) events.push({ type: 'instance', at: 0, instance });
      return api;
    },
    tokens: (...tokens: TokenClaims[]) => {
      for (const token of tokens) events.push({ type: 'token', at: 0, token });
      return api;
    },
    /** Invokes at `at` on `instance`; returns the op number for ok/fail. */
    invoke: (at: number, instance: number, revocation: Revocation) => {
      events.push({ type: 'invoke', at, op, instance, revocation });
      return op++;
    },
    ok: (at: number, op: number) => void events.push({ type: 'ok', at, op }),
    fail: (at: number, op: number) => void events.push({ type: 'fail', at, op, error: 'connection lost' }),
    check: (at: number, instance: number, token: TokenClaims, answer: CheckAnswer) => void events.push({ type: 'check', at, instance, token, answer }),
    loss: (from: number, at: number) => void events.push({ type: 'loss', from, at }),
    final: (at: number) => void events.push({ type: 'final', at }),
  };
  return api;
}

const kinds = (events: readonly HistoryEvent[]) => checkHistory(events, { maxStalenessMs: MAX_STALENESS_MS }).violations.map((v) => v.kind);

describe('history checker, property 1: no missed logout after maxStalenessMs', () => {
  it('accepts active up to the bound, stale at any time, revoked after; flags active past the bound', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.ok(100, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.check(150, 1, alice, 'active'); // not heard yet
    h.check(3_100, 1, alice, 'active'); // exactly maxStalenessMs after: still allowed
    h.check(3_100.5, 1, alice, 'stale');
    h.check(3_200, 1, alice, 'revoked');
    expect(kinds(h.events)).toEqual([]);

    const late = script().instances(0, 1).tokens(alice);
    late.ok(100, late.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    late.check(3_102, 1, alice, 'active');
    expect(kinds(late.events)).toEqual(['missed-logout']);
  });

  it('binds nothing on a revocation whose write failed or is still pending, but its own instance refuses it at once', () => {
    const h = script().instances(0, 1).tokens(alice, bob);
    h.fail(200, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.invoke(60, 0, { kind: 'subject', sub: 'bob', notBefore: T0 });
    h.check(20_000, 1, alice, 'active');
    h.check(20_000, 1, bob, 'active');
    h.check(20_001, 0, alice, 'revoked');
    h.check(20_001, 0, bob, 'revoked');
    expect(kinds(h.events)).toEqual([]);
    h.check(20_002, 0, bob, 'stale');
    expect(kinds(h.events)).toEqual(['own-logout-not-refused', 'forgotten']);
  });

  it('flags an instance that forgets: revoked, then active or stale', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.ok(100, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.check(200, 1, alice, 'revoked');
    h.check(300, 1, alice, 'stale');
    expect(kinds(h.events)).toEqual(['forgotten']);
  });

  it('a user-wide not-before binds the tokens issued before it, not those of its second or later', () => {
    const h = script().instances(0, 1);
    const early = { ...alice, iat: T0 - 1 };
    const same = { ...alice, sid: 's-alice-2', iat: T0 };
    h.tokens(early, same);
    h.ok(100, h.invoke(50, 0, { kind: 'subject', sub: 'alice', notBefore: T0 }));
    h.check(5_000, 1, same, 'active');
    expect(kinds(h.events)).toEqual([]);
    h.check(5_000, 1, early, 'active');
    expect(kinds(h.events)).toEqual(['missed-logout']);
  });

  it('after a loss of Redis\' data, revocations acknowledged before it are not bound (the docs bound no write-back); later ones are', () => {
    const h = script().instances(0, 1).tokens(alice, bob);
    h.ok(100, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.check(2_000, 1, alice, 'active');
    h.loss(2_500, 2_700);
    h.ok(2_800, h.invoke(2_750, 0, { kind: 'session', sid: 's-bob' }));
    h.check(9_000, 1, alice, 'active'); // lost with the data
    expect(kinds(h.events)).toEqual([]);
    h.check(9_000, 1, bob, 'active'); // acknowledged after the loss
    expect(kinds(h.events)).toEqual(['missed-logout']);
  });

  it('a check before the loss still binds a revocation acknowledged before it', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.ok(100, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.check(4_000, 1, alice, 'active');
    h.loss(5_000, 5_200);
    expect(kinds(h.events)).toEqual(['missed-logout']);
  });
});

describe('history checker, property 2: no false revoked', () => {
  it('flags revoked with no revocation, or only one invoked after the check', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.check(10, 1, alice, 'revoked');
    h.invoke(20, 0, { kind: 'session', sid: 's-alice' });
    expect(kinds(h.events)).toEqual(['false-revoked']);
  });

  it('accepts revoked as soon as a covering revocation is invoked, whatever its promise does', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.fail(30, h.invoke(10, 0, { kind: 'session', sid: 's-alice' }));
    h.check(11, 1, alice, 'revoked');
    expect(kinds(h.events)).toEqual([]);
  });

  it('flags revoked for a token issued at or after a user-wide not-before, or for another user', () => {
    const h = script().instances(0, 1);
    const after = { ...alice, iat: T0 };
    h.tokens(after, bob);
    h.ok(100, h.invoke(50, 0, { kind: 'subject', sub: 'alice', notBefore: T0 }));
    h.check(200, 1, after, 'revoked');
    h.check(200, 1, bob, 'revoked');
    expect(kinds(h.events)).toEqual(['false-revoked', 'false-revoked']);
  });

  it('a session revoked up to a time: offline tokens issued more than 5 s after it pass, every other token of the sid is refused', () => {
    const upTo: Revocation = { kind: 'session-up-to', sid: 's-bob', upTo: T0 };
    expect(covers(upTo, bob)).toBe(true);
    expect(covers(upTo, { ...bob, iat: T0 + 60 })).toBe(true); // no offline_access: refused whatever its iat
    expect(covers(upTo, { ...bobOffline, iat: T0 + 5 })).toBe(true);
    expect(covers(upTo, { ...bobOffline, iat: T0 + 6 })).toBe(false);
    const h = script().instances(0, 1).tokens(bobOffline);
    h.ok(100, h.invoke(50, 0, upTo));
    h.check(200, 1, bobOffline, 'revoked');
    expect(kinds(h.events)).toEqual(['false-revoked']);
    // A later whole-session revocation covers it.
    h.invoke(300, 0, { kind: 'session', sid: 's-bob' });
    h.check(400, 1, bobOffline, 'revoked');
    expect(kinds(h.events)).toEqual(['false-revoked']);
  });

  it('a client-wide not-before covers every token issued before it, of any user', () => {
    const all: Revocation = { kind: 'all-before', notBefore: T0 - 9 };
    expect(covers(all, alice)).toBe(true);
    expect(covers(all, { ...bob, iat: T0 - 9 })).toBe(false);
  });
});

describe('history checker, property 3: nothing lost after every fault healed', () => {
  const base = () => {
    const h = script().instances(0, 1).tokens(alice, bob);
    h.fail(300, h.invoke(50, 0, { kind: 'session', sid: 's-alice' })); // written again later: due too
    return h;
  };

  it('accepts a final round that checks every token on every instance, each as expected', () => {
    const h = base();
    h.final(10_000);
    for (const instance of [0, 1]) {
      h.check(10_001, instance, alice, 'revoked');
      h.check(10_001, instance, bob, 'active');
    }
    expect(kinds(h.events)).toEqual([]);
  });

  it('an instance closed with revocations unconfirmed: those not acknowledged may be lost; its acknowledged ones are due; it is not checked', () => {
    const h = script().instances(0, 1, 2).tokens(alice, bob);
    h.invoke(50, 0, { kind: 'session', sid: 's-alice' }); // pending when it closed
    h.ok(80, h.invoke(60, 0, { kind: 'session', sid: 's-bob' }));
    h.events.push({ type: 'closed', at: 5_000, instance: 0, unconfirmed: 1 });
    h.final(10_000);
    h.check(10_001, 1, alice, 'active');
    h.check(10_001, 2, alice, 'revoked');
    h.check(10_001, 1, bob, 'revoked');
    h.check(10_001, 2, bob, 'revoked');
    expect(kinds(h.events)).toEqual([]);
    h.check(10_002, 1, bob, 'active');
    expect(kinds(h.events)).toEqual(['forgotten', 'missed-logout', 'lost-after-heal']);
  });

  it('an instance closed with nothing unconfirmed: its revocations whose promise failed were written, and are due', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.fail(300, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    h.events.push({ type: 'closed', at: 5_000, instance: 0, unconfirmed: 0 });
    h.final(10_000);
    h.check(10_001, 1, alice, 'active');
    expect(kinds(h.events)).toEqual(['lost-after-heal']);
  });

  it('flags a covered token not revoked, a free one stale, and a pair left unchecked', () => {
    const h = base();
    h.final(10_000);
    h.check(10_001, 0, alice, 'revoked');
    h.check(10_001, 0, bob, 'stale');
    h.check(10_001, 1, alice, 'active'); // its write failed: still due once healed
    expect(kinds(h.events)).toEqual(['not-fresh-after-heal', 'lost-after-heal', 'unchecked-after-heal']);
  });
});

describe('history checker, property 4: no failed login across rotations', () => {
  it('accepts verifications that pass, and failures on an instance whose ring read was overdue', () => {
    const history = new History(() => 0);
    const op = history.signed(0, { kid: 'k1', generation: 1 });
    history.verified(op, 0, { ok: true, readOverdue: false });
    history.verified(op, 1, { ok: true, readOverdue: false });
    history.verified(op, 2, { ok: false, readOverdue: true, error: 'no applicable key found in the JSON Web Key Set' });
    const report = checkHistory(history.events, { maxStalenessMs: MAX_STALENESS_MS });
    expect(report.violations).toEqual([]);
    expect(report.stats).toMatchObject({ signed: 1, verified: 3, failedWhileOverdue: 1 });
  });

  it('after a loss of Redis\' data, accepts a failure on a verifier whose ring is older than the signer\'s or of its generation (a fork), not newer', () => {
    const history = new History(() => 0);
    const before = history.signed(0, { kid: 'k2', generation: 2 });
    history.verified(before, 1, { ok: false, readOverdue: false, generation: 1 });
    history.loss(0);
    const after = history.signed(0, { kid: 'k2', generation: 2 });
    history.verified(after, 1, { ok: false, readOverdue: false, generation: 1 }); // missed the rotation, Redis rewound
    history.verified(after, 2, { ok: false, readOverdue: false, generation: 2 }); // rotated on the other side of the loss
    history.verified(after, 3, { ok: false, readOverdue: false, generation: 3 });
    const report = checkHistory(history.events, { maxStalenessMs: MAX_STALENESS_MS });
    expect(report.violations.map((v) => [v.kind, v.index])).toEqual([['failed-login', 1], ['failed-login', 6]]);
    expect(report.stats.failedParted).toBe(2);
  });

  it('flags a failed signature, a key missing from its own signer\'s JWKS, one missing elsewhere with a current read, and any failure in the final round', () => {
    const history = new History(() => 0);
    history.signed(1, { error: 'the key ring has no active signing key' });
    const op = history.signed(0, { kid: 'k2', generation: 2 });
    history.verified(op, 0, { ok: false, readOverdue: true });
    history.verified(op, 1, { ok: false, readOverdue: false });
    history.final();
    history.verified(op, 2, { ok: false, readOverdue: true });
    expect(kinds(history.events)).toEqual(['sign-failed', 'own-key-unpublished', 'failed-login', 'failed-login-after-heal']);
  });
});

describe('history recorder and the failure message', () => {
  it('records the time before a check and before an invocation, and each outcome', async () => {
    let clock = 0;
    const history = new History(() => clock++);
    history.instance(0);
    const answer = history.check(0, alice, () => {
      clock += 100; // check() reads the clock after the recorder did
      return 'active';
    });
    expect(answer).toBe('active');
    await history.revoke(0, { kind: 'session', sid: 'a' }, () => Promise.resolve());
    await history.revoke(0, { kind: 'session', sid: 'b' }, () => Promise.reject(new Error('NOPERM')));
    await history.revoke(0, { kind: 'session', sid: 'c' }, () => {
      throw new Error('synchronous');
    });
    expect(history.events.map((e) => [e.type, e.at])).toEqual([
      ['instance', 0], ['check', 1], ['invoke', 102], ['ok', 103], ['invoke', 104], ['fail', 105], ['invoke', 106], ['fail', 107],
    ]);
    expect(history.events.filter((e) => e.type === 'fail').map((e) => (e as { error: string }).error)).toEqual(['NOPERM', 'synchronous']);
  });

  it('names the seed, the violation and the events up to it, and the faults of the run', () => {
    const h = script().instances(0, 1).tokens(alice);
    h.events.push({ type: 'fault', at: 1, what: 'cut instance 1 for 2000 ms' });
    h.ok(100, h.invoke(50, 0, { kind: 'session', sid: 's-alice' }));
    for (let i = 0; i < 40; i++) h.check(200 + i, 1, bob, 'active');
    h.check(3_500, 1, alice, 'active');
    const report = checkHistory(h.events, { maxStalenessMs: MAX_STALENESS_MS });
    const message = describeViolations(h.events, report, { seed: 42, steps: 300, variant: 'persistent' });
    expect(message).toContain('KCC_HISTORY_SEED=42 KCC_HISTORY_STEPS=300');
    expect(message).toContain('missed-logout');
    expect(message).toContain('FAULT cut instance 1 for 2000 ms');
    expect(message).toContain('[1] check sid=s-alice sub=alice');
    expect(message.split('\n').filter((l) => l.includes('check sid=s-bob'))).toHaveLength(29);
  });
});
