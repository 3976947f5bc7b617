import { describe, expect, it } from 'vitest';
import { type HeardRevocation, HeardRevocations } from '../../../client/src/revocation/heard-revocations.js';
import { MAX_RECENT_WRITES, RECENT_WRITES_WINDOW_MS } from '../../../client/src/revocation/recent-writes.js';

const T = 1_800_000_000_000;
const session = (sid: string, exp = T + 3_600_000) => ({ kind: 'session', sid, exp }) as const;
/** A session's id, or a user's (`user:<sub>`). */
const idOf = (event: HeardRevocation) => (event.kind === 'session' ? event.sid : `user:${event.sub}`);

describe('HeardRevocations: the sessions other instances revoked, heard in the last 10 minutes', () => {
  it('keeps the latest MAX_RECENT_WRITES, oldest first', () => {
    const heard = new HeardRevocations();
    for (let i = 0; i <= MAX_RECENT_WRITES; i++) heard.add(session(`s${i}`), T);
    const recent = heard.recent(T);
    expect(recent).toHaveLength(MAX_RECENT_WRITES);
    expect(idOf(recent[0]!)).toBe('s1');
    expect(idOf(recent.at(-1)!)).toBe(`s${MAX_RECENT_WRITES}`);
  });

  it('leaves out those heard before the window and those already expired; prune forgets the old ones', () => {
    const heard = new HeardRevocations();
    heard.add(session('old'), T);
    heard.add(session('expired', T + 1_000), T + 500);
    heard.add(session('up-to', T + 3_600_000), T + RECENT_WRITES_WINDOW_MS - 1);
    const at = T + RECENT_WRITES_WINDOW_MS;
    expect(heard.recent(at).map(idOf)).toEqual(['up-to']);
    heard.prune(at);
    expect(heard.recent(T + 1).map(idOf)).toEqual(['expired', 'up-to']); // 'old' is gone for good
  });

  it('keeps user-wide not-befores heard too, whatever time they name (a failover loses what was written lately, not what names a recent time)', () => {
    const heard = new HeardRevocations();
    heard.add({ kind: 'subject', sub: 'victim', nbf: Math.floor(T / 1000) - 30 * 86_400 }, T);
    expect(heard.recent(T + 1).map(idOf)).toEqual(['user:victim']);
    expect(heard.recent(T + RECENT_WRITES_WINDOW_MS)).toEqual([]);
  });
});
