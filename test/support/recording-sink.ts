import type { ReplayGuard } from '../../client/src/revocation/replay-guard.js';
import type { VerifiedKeycloakPush } from '../../client/src/revocation/keycloak-admin-action.js';
import type { KeycloakAdminSink } from '../../client/src/revocation/revocation-sink.js';

type SinkMethod = 'revokeSession' | 'revokeSubject' | 'revokeAllBefore' | 'applyKeycloakPush' | 'firstUse';

/** A KeycloakAdminSink and ReplayGuard that records every call, remembers ids in memory and fails on demand. */
export class RecordingSink implements KeycloakAdminSink, ReplayGuard {
  readonly sessions: string[] = [];
  readonly subjects: { sub: string; notBefore: number }[] = [];
  readonly clientWide: number[] = [];
  /** Keycloak not-before pushes, as verified by the handler. */
  readonly pushes: VerifiedKeycloakPush[] = [];
  /** Methods that reject with this error instead of a connection error (e.g. a KccInputError). */
  failWith: Error | undefined;
  readonly jtis: { jti: string; ttlMs: number }[] = [];
  /** Methods that reject (as with Redis down) until removed. */
  readonly failing = new Set<SinkMethod>();
  private readonly seen = new Set<string>();

  /** Revocations recorded, all kinds. */
  get revocations(): number {
    return this.sessions.length + this.subjects.length + this.clientWide.length + this.pushes.length;
  }

  private check(method: SinkMethod): void {
    if (this.failing.has(method)) throw this.failWith ?? new Error(`connection lost (${method})`);
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

  async applyKeycloakPush(push: VerifiedKeycloakPush): Promise<void> {
    this.check('applyKeycloakPush');
    this.pushes.push(push);
  }

  async firstUse(jti: string, ttlMs: number): Promise<boolean> {
    this.check('firstUse');
    if (this.seen.has(jti)) return false;
    this.seen.add(jti);
    this.jtis.push({ jti, ttlMs });
    return true;
  }
}
