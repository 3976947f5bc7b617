import { EventEmitter } from 'node:events';
import { Bus } from '../bus.js';
import type { KccRedis } from '../connection.js';
import { KccClosedError, KccInputError } from '../errors.js';
import { EventLog } from '../event-log.js';
import { OptionProblems } from '../option-checks.js';
import { MAX_REVOCATION_ID_LENGTH, REVOCATION_EVENT, type RevocationBatch, type RevocationEvent, isRevocationBatch, isRevocationEvent } from './revocation-event.js';
import { type RevocationClaims, RevocationIndex } from './revocation-index.js';
import { REVOCATION_KEYS } from './revocation-keys.js';
import type { RevocationSink } from './revocation-sink.js';
import { loadRevocationSnapshot } from './revocation-snapshot.js';
import { RevocationWriter } from './revocation-writer.js';

/**
 * The result of {@link Revocations.check}: `stale` means no revocation is known for these claims but
 * this instance has been cut off from Redis longer than `maxStalenessMs`, so it cannot vouch for
 * them; the app's policy decides ({@link Revocations.rejects}).
 */
export type RevocationCheck = 'revoked' | 'active' | 'stale';

export interface RevocationOptions {
  /** How long a revoked session is remembered: Keycloak's SSO Session Max. @default 36000000 (10 hours) */
  readonly sessionMaxLifetimeMs?: number;
  /** Cut off from Redis longer than this, the instance reports `stale`. @default 30000 */
  readonly maxStalenessMs?: number;
  /** With `true`, {@link Revocations.rejects} lets `stale` checks through. @default false (fail closed) */
  readonly failOpen?: boolean;
}

export const REVOCATION_DEFAULTS = {
  sessionMaxLifetimeMs: 10 * 3_600_000,
  maxStalenessMs: 30_000,
  failOpen: false,
} as const;

export interface RevocationEvents {
  /** Cut off from Redis longer than maxStalenessMs. */
  stale: [];
  /** In contact again, caught up. */
  fresh: [];
  /** A revocation was applied locally (from this instance, the bus, the log or the snapshot). */
  applied: [event: RevocationEvent];
}

/** Counters of one {@link Revocations}, for diagnostics and health. */
export interface RevocationStats {
  /** Revocations applied locally (from this instance, the bus, the log). */
  readonly applied: number;
  /** Batches this instance wrote to Redis. */
  readonly batchesWritten: number;
  /** Revoked sessions held in memory. */
  readonly revokedSessions: number;
  /** Subjects with a not-before held in memory. */
  readonly revokedSubjects: number;
  /** The client-wide not-before (epoch s), 0 when none. */
  readonly clientNotBefore: number;
}

/**
 * Cluster-wide logout: revocations of sessions, of a user's sessions before a time, and of every
 * token before a time. Written durably to Redis (compacted state with expiry + the event log) and
 * published for speed; every instance applies them as they arrive, resumes after reconnects, and a
 * new instance loads the compacted state. {@link check} is answered from memory.
 *
 * @example
 * const revocations = await Revocations.start(redis);
 * if (revocations.rejects({ sid: token.sid, sub: token.sub, iat: token.iat })) return reply.code(401).send();
 * await revocations.revokeSession(sid); // the app's own logout
 */
export class Revocations extends EventEmitter<RevocationEvents> implements RevocationSink {
  private readonly index = new RevocationIndex();
  private readonly options: Required<RevocationOptions>;
  private readonly log: EventLog<RevocationBatch>;
  private readonly bus: Bus<RevocationBatch>;
  private readonly writer: RevocationWriter;
  private applied = 0;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** Id of the last log entry read; only catch-up reads advance it, so nothing between is skipped. */
  private lastId = '0-0';
  /** Envelope ids applied from the bus: their copies in the log are skipped unparsed. */
  private readonly seenIds = new Set<string>();
  private catchingUp: Promise<void> | undefined;
  private readonly onResubscribed = () => void this.catchUp().catch(() => undefined);
  private lastContactAt = Date.now();
  private staleFlag = false;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  /** Subscribes, loads the compacted state and starts reading the event log; resolves when {@link check} is current. */
  static async start(redis: KccRedis, options: RevocationOptions = {}): Promise<Revocations> {
    const revocations = new Revocations(redis, options);
    try {
      await revocations.begin();
    } catch (error) {
      await revocations.close();
      throw error;
    }
    return revocations;
  }

  private constructor(
    private readonly redis: KccRedis,
    options: RevocationOptions,
  ) {
    super();
    const problems = new OptionProblems();
    const d = REVOCATION_DEFAULTS;
    this.options = {
      sessionMaxLifetimeMs: problems.number('sessionMaxLifetimeMs', options.sessionMaxLifetimeMs, d.sessionMaxLifetimeMs, { min: 1, unit: 'ms' }),
      maxStalenessMs: problems.number('maxStalenessMs', options.maxStalenessMs, d.maxStalenessMs, { min: 1, unit: 'ms' }),
      failOpen: options.failOpen ?? d.failOpen,
    };
    problems.throwIfAny('kcc-redis revocation options');
    this.log = new EventLog(redis, { name: REVOCATION_KEYS.log, maxAgeMs: this.options.sessionMaxLifetimeMs, validate: isRevocationBatch });
    this.bus = new Bus(redis, { channel: REVOCATION_KEYS.channel, validate: isRevocationBatch });
    this.writer = new RevocationWriter(redis, this.options.sessionMaxLifetimeMs);
  }

  /** `revoked`, `active`, or `stale` (no revocation known, but cut off too long to vouch). Synchronous, O(1). */
  check(claims: RevocationClaims): RevocationCheck {
    if (this.index.isRevoked(claims)) return 'revoked';
    return this.staleFlag ? 'stale' : 'active';
  }

  /** Whether to refuse the token: revoked, or stale under the fail-closed policy (the default). */
  rejects(claims: RevocationClaims): boolean {
    const check = this.check(claims);
    return check === 'revoked' || (check === 'stale' && !this.options.failOpen);
  }

  /** Whether this instance has been cut off from Redis longer than maxStalenessMs. */
  get stale(): boolean {
    return this.staleFlag;
  }

  /** Counters, for diagnostics and health. */
  get stats(): RevocationStats {
    return {
      applied: this.applied,
      batchesWritten: this.writer.batchesWritten,
      revokedSessions: this.index.sessionCount,
      revokedSubjects: this.index.subjectCount,
      clientNotBefore: this.index.notBefore,
    };
  }

  /** Revokes one session everywhere. Applied here before it resolves, and written durably to Redis. */
  revokeSession(sid: string): Promise<void> {
    return this.revoke({ kind: 'session', sid, exp: Date.now() + this.options.sessionMaxLifetimeMs });
  }

  /** Revokes every token of `sub` issued before `notBefore` (epoch seconds). */
  revokeSubject(sub: string, notBefore: number): Promise<void> {
    return this.revoke({ kind: 'subject', sub, nbf: Math.floor(notBefore) });
  }

  /** Revokes every token of this client issued before `notBefore` (epoch seconds). */
  revokeAllBefore(notBefore: number): Promise<void> {
    return this.revoke({ kind: 'client', nbf: Math.floor(notBefore) });
  }

  /** Stops the subscription and the timers. The Redis connection stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.forEach((t) => clearInterval(t));
    this.redis.off('resubscribed', this.onResubscribed);
    await this.unsubscribe?.().catch(() => undefined);
    await this.catchingUp?.catch(() => undefined);
  }

  /**
   * Live events come over pub/sub (fast, at most once); the log is read in batches every poll
   * interval and after every subscriber reconnect (complete). Reading the log per event on every
   * instance would double the fan-out work for nothing: applying is idempotent.
   */
  private async begin(): Promise<void> {
    this.lastId = await this.log.lastId();
    this.unsubscribe = await this.bus.subscribe((message) => {
      this.remember(message.id); // its copy in the log is skipped unparsed
      for (const event of message.data.revocations) this.apply(event);
    });
    this.redis.on('resubscribed', this.onResubscribed);
    await loadRevocationSnapshot(this.redis, this.index);
    this.touch();
    const pollMs = Math.max(50, Math.min(5_000, Math.floor(this.options.maxStalenessMs / 3)));
    const poll = setInterval(() => void this.catchUp().catch(() => undefined), pollMs);
    const check = setInterval(() => this.checkStaleness(), Math.max(50, Math.min(1_000, Math.floor(this.options.maxStalenessMs / 4))));
    const prune = setInterval(() => this.index.prune(Date.now(), this.options.sessionMaxLifetimeMs), 60_000);
    for (const timer of [poll, check, prune]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  /** Reads every log entry after the last one read (single-flight); reloads the snapshot if some were trimmed unread. */
  private catchUp(): Promise<void> {
    this.catchingUp ??= this.readLog().finally(() => {
      this.catchingUp = undefined;
    });
    return this.catchingUp;
  }

  private async readLog(): Promise<void> {
    if (this.closed) return;
    const { lastId, gap } = await this.log.readAfter(
      this.lastId,
      (event) => {
        if (event.type !== REVOCATION_EVENT) return;
        this.remember(event.id);
        for (const revocation of event.data.revocations) this.apply(revocation);
      },
      { skip: (id) => this.seenIds.has(id) },
    );
    if (gap) await loadRevocationSnapshot(this.redis, this.index); // away longer than the log keeps entries
    this.lastId = lastId;
    this.touch();
  }

  private remember(id: string): void {
    this.seenIds.add(id);
    if (this.seenIds.size > 10_000) this.seenIds.delete(this.seenIds.values().next().value!);
  }

  /** Applies a revocation here at once (stricter, even if Redis is unreachable), then writes it. */
  private revoke(event: RevocationEvent): Promise<void> {
    if (this.closed) return Promise.reject(new KccClosedError('revocations are closed'));
    if (!isRevocationEvent(event)) {
      return Promise.reject(new KccInputError(`invalid ${(event as RevocationEvent).kind} revocation: ids must be strings of 1 to ${MAX_REVOCATION_ID_LENGTH} characters, times whole numbers`));
    }
    this.apply(event);
    return this.writer.write(event);
  }

  private apply(event: RevocationEvent): void {
    if (event.kind === 'session') this.index.revokeSession(event.sid, event.exp);
    else if (event.kind === 'subject') this.index.revokeSubject(event.sub, event.nbf);
    else this.index.revokeAllBefore(event.nbf);
    this.applied++;
    this.emit('applied', event);
  }

  /** Redis answered and everything up to now is applied: the state is current. */
  private touch(): void {
    this.lastContactAt = Date.now();
    if (this.staleFlag) {
      this.staleFlag = false;
      this.emit('fresh');
    }
  }

  private checkStaleness(): void {
    if (this.closed) return;
    if (!this.staleFlag && Date.now() - this.lastContactAt > this.options.maxStalenessMs) {
      this.staleFlag = true;
      this.redis.config.logger.warn(`revocation state is stale: no contact with Redis for over ${this.options.maxStalenessMs} ms`);
      this.emit('stale');
    }
  }
}
