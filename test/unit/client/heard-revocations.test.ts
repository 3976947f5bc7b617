import { describe, expect, it } from 'vitest';
import { HeardRevocations } from '../../../client/src/revocation/heard-revocations.js';
import { MAX_RECENT_WRITES, RECENT_WRITES_WINDOW_MS } from '../../../client/src/revocation/recent-writes.js';

const T = 1_800_000_000_000;
const session = (sid: string, exp = T + 3_600_000) => ({ kind: 'session', sid, exp }) as const;

describe('HeardRevocations: the sessions other instances revoked, heard in the last 10 minutes', () => {
  it('keeps the latest MAX_RECENT_WRITES, oldest first', () => {
    const heard = new HeardRevocations();
    for (let i = 0; i <= MAX_RECENT_WRITES; i++) heard.add(session(`s${i}`), T);
    const recent = heard.recent(T);
    expect(recent).toHaveLength(MAX_RECENT_WRITES);
    expect(recent[0]!.sid).toBe('s1');
    expect(recent.at(-1)!.sid).toBe(`s${MAX_RECENT_WRITES}`);
  });

  it('leaves out those heard before the window and those already expired; prune forgets the old ones', () => {
    const heard = new HeardRevocations();
    heard.add(session('old'), T);
    heard.add(session('expired', T + 1_000), T + 500);
    heard.add(session('up-to', T + 3_600_000), T + RECENT_WRITES_WINDOW_MS - 1);
    const at = T + RECENT_WRITES_WINDOW_MS;
    expect(heard.recent(at).map((e) => e.sid)).toEqual(['up-to']);
    heard.prune(at);
    expect(heard.recent(T + 1).map((e) => e.sid)).toEqual(['expired', 'up-to']); // 'old' is gone for good
  });
});
