import type { ReplayGuard } from '../../client/src/revocation/replay-guard.js';
import type { RevocationSink } from '../../client/src/revocation/revocation-sink.js';

type SinkMethod = 'revokeSession' | 'revokeSubject' | 'revokeAllBefore' | 'firstUse';

/** A RevocationSink and ReplayGuard that records every call, remembers ids in memory and fails on demand. */
export class RecordingSink implements RevocationSink, ReplayGuard {
  readonly sessions: string[] = [];
  readonly subjects: { sub: string; notBefore: number }[] = [];
  readonly clientWide: number[] = [];
  readonly jtis: { jti: string; ttlMs: number }[] = [];
  /** Methods that reject (as with Redis down) until removed. */
  readonly failing = new Set<SinkMethod>();
  private readonly seen = new Set<string>();

  /** Revocations recorded, all kinds. */
  get revocations(): number {
    return this.sessions.length + this.subjects.length + this.clientWide.length;
  }

  private check(method: SinkMethod): void {
    if (this.failing.has(method)) throw new Error(`connection lost (${method})`);
  }

  async revokeSession(sid: string): Promise<void> {
    this.check('revokeSession');
    this.sessions.push(sid);
  }

  async revokeSubject(sub: string, notBefore: number): Promise<void> {
    this.check('revokeSubject');
    this.subjects.push({ sub, notBefore });
  }

  async revokeAllBefore(notBefore: number): Promise<void> {
    this.check('revokeAllBefore');
    this.clientWide.push(notBefore);
  }

  async firstUse(jti: string, ttlMs: number): Promise<boolean> {
    this.check('firstUse');
    if (this.seen.has(jti)) return false;
    this.seen.add(jti);
    this.jtis.push({ jti, ttlMs });
    return true;
  }
}
