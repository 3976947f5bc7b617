import type { RevocationEvent } from './revocation-event.js';
import { MAX_RECENT_WRITES, RECENT_WRITES_WINDOW_MS } from './recent-writes.js';

type SessionRevocation = Extract<RevocationEvent, { kind: 'session' }>;
type SubjectRevocation = Extract<RevocationEvent, { kind: 'subject' }>;
/** What is kept: a session's or a user-wide revocation, its own fields only. */
export type HeardRevocation = SessionRevocation | SubjectRevocation;

/**
 * The session and user-wide revocations other instances wrote that this one heard (pub/sub or the log) in the last
 * {@link RECENT_WRITES_WINDOW_MS}, as written, at most {@link MAX_RECENT_WRITES} (past it the oldest
 * go). The writer checks its own after a reconnect, but an availability zone lost with the primary
 * may take the writer with it: a write the old primary acknowledged and never replicated was then
 * restored by no one, and an instance started later let the session's tokens in (a failover review).
 * In the index a session is held only as a digest; this keeps the recent ones as written, so that
 * the check after a reconnect can write back those Redis lost. A user-wide not-before is held in the
 * index as written, but not when it was heard: a failover loses what was written in its last seconds,
 * whatever time the not-before names (`revokeSubject(sub, anyPastTime)`), so those heard lately are
 * kept here too, and the check compares them whatever their time (an attack review of 7ebffb4, which
 * had picked them by their time). The client-wide not-before is one value: always checked.
 *
 * A ring of fixed size (it runs for every revocation an instance hears): what it holds is a copy of
 * the revocation's own fields (the caller's), at most 256 characters of id each, so at most a few MB.
 */
export class HeardRevocations {
  private readonly events: (HeardRevocation | undefined)[] = new Array<HeardRevocation | undefined>(MAX_RECENT_WRITES);
  private readonly heardAt = new Float64Array(MAX_RECENT_WRITES);
  private next = 0;

  /** Remembers `event`, heard at `now` (ms). */
  add(event: HeardRevocation, now = Date.now()): void {
    this.events[this.next] = event;
    this.heardAt[this.next] = now;
    this.next = (this.next + 1) % MAX_RECENT_WRITES;
  }

  /** Those heard in the window before `now` that still matter (a session not expired; a not-before the caller judges), oldest first. */
  recent(now = Date.now()): HeardRevocation[] {
    const found: HeardRevocation[] = [];
    for (let i = 0; i < MAX_RECENT_WRITES; i++) {
      const slot = (this.next + i) % MAX_RECENT_WRITES;
      const event = this.events[slot];
      if (event === undefined || now - this.heardAt[slot]! >= RECENT_WRITES_WINDOW_MS || (event.kind === 'session' && event.exp <= now)) continue;
      found.push(event);
    }
    return found;
  }

  /** Forgets those past the window, so that their ids are not held longer than needed. */
  prune(now = Date.now()): void {
    for (let slot = 0; slot < MAX_RECENT_WRITES; slot++) {
      if (this.events[slot] !== undefined && now - this.heardAt[slot]! >= RECENT_WRITES_WINDOW_MS) this.events[slot] = undefined;
    }
  }
}
