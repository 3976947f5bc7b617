import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { Bus } from '../bus.js';
import type { ConnectionRole, KccRedis } from '../connection.js';
import type { HeartbeatRevocations } from '../heartbeat.js';
import { KccClosedError, KccInputError } from '../errors.js';
import { EventLog, compareStreamIds } from '../event-log.js';
import { emitGuarded } from '../guarded-emit.js';
import type { DropCounts, DropReason } from '../envelope.js';
import { OptionProblems, kindOf, requireOptionsObject } from '../option-checks.js';
import { RecentIds } from '../recent-ids.js';
import {
  MAX_NOT_BEFORE_SKEW_SECONDS,
  NOT_BEFORE_READ_SLACK_SECONDS,
  MAX_REVOCATION_ID_LENGTH,
  REVOCATION_EVENT,
  type RevocationBatch,
  type RevocationEvent,
  type RevocationRefusal,
  isRevocationBatch,
  latestNotBefore,
  revocationProblem,
} from './revocation-event.js';
import { type RevocationClaims, RevocationIndex } from './revocation-index.js';
import { EPOCH_BASE_S } from './session-table.js';
import { BusCoverage } from './bus-coverage.js';
import { GapReloads } from './gap-reloads.js';
import { REVOCATION_KEYS } from './revocation-keys.js';
import type { KeycloakAdminSink, RevokeSessionOptions } from './revocation-sink.js';
import { MAX_CLIENT_NOT_BEFORE_BYTES, MAX_MEMBER_BYTES, loadRevocationSnapshot } from './revocation-snapshot.js';
import { RevocationWriter } from './revocation-writer.js';
import { UnwrittenRevocations } from './unwritten-revocations.js';
import { HeardRevocations } from './heard-revocations.js';
import { RecentWrites, coveredBy } from './recent-writes.js';
import { repairRevocationKeyTypes } from './revocation-key-types.js';
import { MAX_LOG_ID_AHEAD_MS, isWrongTypeReply, warnRepaired } from '../lua-key-repair.js';
import { SingleFlight } from '../single-flight.js';
import { errorLine } from '../redis-error-redaction.js';
import { pause, waitAtMost, withRetries } from '../time-limit.js';
import { clockStamp, pausedSince } from '../pause-watch.js';
import { KeycloakPushRelay, isRelayedKeycloakPush } from './admin-action-relay.js';
import { LIFETIME_DECLARATION_INTERVAL_MS, MAX_DECLARATIONS_READ, MAX_SESSION_LIFETIME_MS, declareSessionLifetime } from './session-lifetimes.js';
import type { KeycloakPushVerifier, VerifiedKeycloakPush } from './keycloak-admin-action.js';

/**
 * The result of {@link Revocations.check}: `stale` means no revocation is known for these claims but
 * this instance has been cut off from Redis longer than `maxStalenessMs` (or its revocations are
 * closed), so it cannot vouch for them; the app's policy decides ({@link Revocations.rejects}).
 */
export type RevocationCheck = 'revoked' | 'active' | 'stale';

export interface RevocationOptions {
  /** How long a revoked session is remembered: Keycloak's SSO Session Max (at most ten years). @default 36000000 (10 hours) */
  readonly sessionMaxLifetimeMs?: number;
  /** Cut off from Redis longer than this, the instance reports `stale`. @default 30000 */
  readonly maxStalenessMs?: number;
  /** With `true`, {@link Revocations.rejects} lets `stale` checks through. @default false (fail closed) */
  readonly failOpen?: boolean;
  /**
   * Verifies Keycloak's not-before pushes relayed by other instances and stored in Redis
   * (`createKeycloakPushVerifier`), so that this instance follows them, also when they lower the
   * not-before. Without it, a relayed or stored push only raises this instance's pushed not-before,
   * held in this process: it is never lowered, Keycloak's *Clear* included (unless this instance's
   * own admin route receives a push), and never written to Redis as a client-wide one.
   * @default none (the Fastify plugin sets it)
   */
  readonly keycloakPushes?: KeycloakPushVerifier;
  /**
   * How long {@link Revocations.close} keeps writing the revocations Redis has not confirmed (a write
   * that failed, or one still waiting for an answer: a failover, an outage) before it gives them up
   * with a warning: only this instance had them, and nobody sends them again (Keycloak does not resend
   * a logout). It tries again at every reconnect and every half second, and ends as soon as Redis has
   * them all: with nothing unconfirmed, close does not wait. Give the orchestrator's grace period (ECS
   * `stopTimeout`, Kubernetes `terminationGracePeriodSeconds`) more than this plus your drain
   * (docs/shutdown.md). At most 600000 (10 minutes).
   * @default 10000
   */
  readonly closeTimeoutMs?: number;
}

export const REVOCATION_DEFAULTS = {
  sessionMaxLifetimeMs: 10 * 3_600_000,
  maxStalenessMs: 30_000,
  failOpen: false,
  closeTimeoutMs: 10_000,
} as const;

/** The longest `closeTimeoutMs`: far beyond any orchestrator's default grace period, and a bound on KccRedis.close's wait. */
export const MAX_CLOSE_TIMEOUT_MS = 600_000;

type ResolvedRevocationOptions = Required<Omit<RevocationOptions, 'keycloakPushes'>>;

/** Every option of RevocationOptions (the compiler keeps the list whole): any other key is a misspelling. */
const REVOCATION_OPTION_NAMES = { sessionMaxLifetimeMs: true, maxStalenessMs: true, failOpen: true, keycloakPushes: true, closeTimeoutMs: true } as const satisfies Record<keyof RevocationOptions, true>;

/**
 * The options with their defaults; a KccConfigError names every problem (checked before anything is
 * sent: the Fastify plugin checks them before it connects). `keycloakPushes` is checked where it is used.
 * @internal
 */
export function resolveRevocationOptions(options: RevocationOptions): ResolvedRevocationOptions {
  const problems = new OptionProblems();
  problems.unknownKeys(options, REVOCATION_OPTION_NAMES);
  const d = REVOCATION_DEFAULTS;
  const resolved = {
    sessionMaxLifetimeMs: problems.number('sessionMaxLifetimeMs', options.sessionMaxLifetimeMs, d.sessionMaxLifetimeMs, { min: 1, max: MAX_SESSION_LIFETIME_MS, unit: 'ms' }),
    maxStalenessMs: problems.number('maxStalenessMs', options.maxStalenessMs, d.maxStalenessMs, { min: 1, unit: 'ms' }),
    // A string 'false' (process.env.X) would count as true: a stale instance would accept every token.
    failOpen: problems.boolean('failOpen', options.failOpen, d.failOpen),
    closeTimeoutMs: problems.number('closeTimeoutMs', options.closeTimeoutMs, d.closeTimeoutMs, { max: MAX_CLOSE_TIMEOUT_MS, unit: 'ms' }),
  };
  problems.throwIfAny('kcc-redis revocation options');
  return resolved;
}

export interface RevocationEvents {
  /** Cut off from Redis longer than maxStalenessMs. */
  stale: [];
  /** In contact again, caught up. */
  fresh: [];
  /** A revocation was applied locally (from this instance, the bus or the log; not the stored state loaded at start or reloaded after a gap). */
  applied: [event: RevocationEvent];
  /**
   * The pushed not-before changed here (epoch s; 0 = cleared): a verified Keycloak push applied, or
   * raised for one not verified yet (no verifier, the realm's keys out of reach), or such a raise
   * taken back when its push was refused. Only on a change: a push that leaves the value as it was
   * fires nothing (count applied pushes with `stats.pushesApplied`).
   */
  pushed: [notBefore: number, source: RevocationSource];
}

/** Where a revocation reached an instance. */
export type RevocationSource = 'api' | 'bus' | 'log' | 'snapshot';

/** Counters of one {@link Revocations}, for diagnostics, health and metrics. */
export interface RevocationStats {
  /** Revocations applied locally (from this instance, the bus, the log). */
  readonly applied: number;
  /**
   * Revocations refused, by where they came from: malformed, or with a not-before later than now +
   * {@link MAX_NOT_BEFORE_SKEW_SECONDS} (poison; from Redis, 30 s later still, as this clock may run
   * behind the one that took it). Never applied; refused stored entries are also removed from Redis.
   * `api` counts calls rejected with a `KccInputError`.
   */
  readonly refused: Readonly<Record<RevocationSource, number>>;
  /**
   * Revocations of a kind this release does not know, skipped (from the bus and the log): what a newer
   * release writes during a rolling deploy, so not counted as refused (no poison alert for it).
   */
  readonly unknownKinds: number;
  /** Messages and log entries dropped before their revocations were read (oversized, malformed, another format version). */
  readonly messagesDropped: number;
  /** The same drops, by where they were read and why. */
  readonly dropped: Readonly<Record<'bus' | 'log', Readonly<DropCounts>>>;
  /** Batches this instance wrote to Redis. */
  readonly batchesWritten: number;
  /**
   * Revocations applied here whose write to Redis failed, waiting to be written again (after a
   * reconnect and on every poll): until then the other instances do not have them. A Keycloak
   * not-before push whose relay failed counts here too (one at most: only the newest is relayed again).
   */
  readonly unwritten: number;
  /**
   * Revocations applied here that Redis has not confirmed yet: `unwritten`, plus those whose write (a
   * first write, a write again after a loss, a Keycloak push's relay) is still waiting for Redis's
   * answer. In an outage a first write waits through the connection's reconnects (20 of them, up to
   * minutes) before it fails and counts in `unwritten`: this count rises at once. What
   * {@link Revocations.close} gives up at the end of `closeTimeoutMs` is what this counts then.
   */
  readonly unconfirmed: number;
  /** Revocations (and Keycloak pushes) written after their first write failed. */
  readonly writtenLate: number;
  /** Revocations given up unwritten because more than 100,000 waited: applied on this instance only. */
  readonly unwrittenDropped: number;
  /**
   * Revocations this instance had written in the last 10 minutes, and (checked after a reconnect)
   * user-wide and client-wide not-befores it holds from any writer, that Redis no longer held (a
   * failover that lost acknowledged writes, a restart without persistence), written again; and the
   * Keycloak push it relayed last, relayed again for the same reason.
   */
  readonly rewrittenAfterLoss: number;
  /**
   * Polls of the event log (every `maxStalenessMs / 3`, at most 5 s, and after a reconnect), by
   * outcome: `confirmed` = the log's head showed that every entry since the last poll had come over
   * pub/sub, so none was read; `read` = entries were read (one was missing, or it could not tell).
   */
  readonly logPolls: { readonly confirmed: number; readonly read: number };
  /**
   * Reloads of the whole stored state because the log had lost entries this instance had not read (a
   * gap: away longer than the log keeps entries, Redis lost its data, or the log was deleted), and
   * polls that found one owed but had to wait: in a burst of gaps, the first two reloads run at once
   * and the waits between the later ones double, from 5 s up to 5 minutes; each ten minutes without
   * a gap take one reload off the burst's count.
   */
  readonly gapReloads: { readonly done: number; readonly deferred: number };
  /** Revoked sessions held in memory. */
  readonly revokedSessions: number;
  /** Subjects with a not-before held in memory. */
  readonly revokedSubjects: number;
  /** The client-wide not-before in force (epoch s), 0 when none: the later of the raised and the pushed one. */
  readonly clientNotBefore: number;
  /** The not-before Keycloak last pushed (epoch s), 0 when none or cleared; raised meanwhile for a relayed push not verified yet. */
  readonly pushedNotBefore: number;
  /** Verified Keycloak pushes applied here; a refused one (bad signature, out of range) counts in `refused`. */
  readonly pushesApplied: number;
  /** Verified Keycloak pushes not applied because a newer one was: a late delivery, or a replay. */
  readonly pushesOutdated: number;
}

/**
 * Cluster-wide logout: revocations of sessions, of a user's sessions before a time, and of every
 * token before a time. Written durably to Redis (compacted state with expiry + the event log) and
 * published for speed; every instance applies them as they arrive, resumes after reconnects, and a
 * new instance loads the compacted state. {@link check} is answered from memory.
 *
 * @example
 * const revocations = await Revocations.start(redis);
 * if (revocations.rejects({ sid: token.sid, sub: token.sub, iat: token.iat, scope: token.scope })) return reply.code(401).send();
 * await revocations.revokeSession(sid); // the app's own logout
 */
export class Revocations extends EventEmitter<RevocationEvents> implements KeycloakAdminSink {
  private readonly index = new RevocationIndex();
  private readonly options: ResolvedRevocationOptions;
  private readonly log: EventLog<RevocationBatch>;
  private readonly bus: Bus<RevocationBatch>;
  private readonly writer: RevocationWriter;
  private readonly unwritten: UnwrittenRevocations;
  private readonly recentWrites: RecentWrites;
  /** Session revocations other instances wrote, heard in the last 10 minutes: checked with the not-befores after a reconnect. */
  private readonly heard = new HeardRevocations();
  private rewrittenAfterLoss = 0;
  /**
   * Whether the next check for lost writes also checks every not-before the index holds (set by a
   * reconnect: a server that restarted without its data lost what other instances wrote too).
   */
  private notBeforesCheckDue = false;
  private readonly lostWritesCheck = new SingleFlight(() => this.rewriteLostOnce());
  /**
   * The declaration of this instance's session lifetime: one write at a time. Renewed at every
   * reconnect, it was not: against a primary endpoint that still resolved to a demoted primary
   * after a failover, each reconnect (READONLY) started one more write while the earlier ones were
   * still being sent again, and all of them were sent again at every reconnect: about n²/2 READONLY
   * answers for n reconnects, the polls queued behind them, the instance stale (a failover review).
   */
  private readonly declaration = new SingleFlight(() => this.declareLifetime());
  /** Writes of revocations made here, not settled yet: close() gives them time to land. */
  private readonly writesInFlight = new Set<Promise<void>>();
  /** The revocations made here whose first write has not settled (then, if it failed, `unwritten` has them). */
  private readonly revocationWrites = new Set<RevocationEvent>();
  /** Writes again after a loss and Keycloak push relays waiting for Redis's answer (`stats.unconfirmed`). */
  private otherWrites = 0;
  /**
   * The rejecters of the callers whose revocations still wait for Redis: close() rejects them, saying
   * why, when it gives those up, so a caller (a logout route) learns then that they were not written. Before, they
   * stayed pending until the connection closed, and a route that answered meanwhile said the
   * revocation was "written to Redis until Redis takes it".
   */
  private readonly waitingCallers = new Set<(error: Error) => void>();
  private readonly pushes: KeycloakPushRelay;
  private applied = 0;
  private readonly refused: Record<RevocationSource, number> = { api: 0, bus: 0, log: 0, snapshot: 0 };
  private lastRefusalLoggedAt = Number.NEGATIVE_INFINITY;
  private lastDropLoggedAt = Number.NEGATIVE_INFINITY;
  private unknownKinds = 0;
  private lastUnknownKindLoggedAt = Number.NEGATIVE_INFINITY;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** Id of the last log entry read; only catch-up reads advance it, so nothing between is skipped. */
  private lastId = '0-0';
  /** Whether the server that answered for the log at the last settled poll may have changed since (KccRedis.watchServer). */
  private settledOn: (() => boolean) | undefined;
  /** Whether a poll must read the log, or every entry since the last one came over the bus; and the envelope ids heard and read. */
  private readonly coverage = new BusCoverage();
  private readonly logPolls = { confirmed: 0, read: 0 };
  private catchingUp: Promise<void> | undefined;
  private pollAfterInFlight: Promise<void> | undefined;
  /** Envelope ids of the batches this object wrote: their messages count as heard, and are not applied again. */
  private readonly written = new RecentIds(WRITTEN_IDS);
  /**
   * The command connection is back: the server behind it may have restarted without its data or
   * failed over, and the log's count of appends, which a poll compares with the messages heard, may
   * have started again. The next poll reads the log.
   */
  private readonly onReady = (role: ConnectionRole) => {
    if (role !== 'commands') return;
    this.renewDeclaration();
    this.coverage.invalidate();
    void this.unwritten.retry();
    void this.pushes.retry();
    this.notBeforesCheckDue = true;
    void this.lostWritesCheck.run();
  };
  private readonly onResubscribed = () => {
    this.coverage.invalidate(); // messages may have been lost while it was away
    // A poll in flight read the head before the reconnect: what was lost after it needs a poll of its own.
    void this.catchUpAfterInFlight().catch(() => undefined);
  };
  /**
   * When the last read that brought the state up to date began (monotonic clock, ms): the state is
   * known current as of then. Staleness is this against the clock at the moment it is asked.
   */
  private lastContactAt = performance.now();
  /** Whether `stale` was emitted and `fresh` not yet. */
  private staleReported = false;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** Removes the close that KccRedis.close() runs first (KccRedis.beforeClose). */
  private unhook: (() => void) | undefined;
  /** Removes this instance's part of the heartbeat: at the start of close (a closing instance is not a stale one). */
  private unreport: (() => void) | undefined;
  private closeRun: Promise<void> | undefined;
  /** The longest session lifetime declared by another instance that was logged (once per value). */
  private longerLifetimeLogged = 0;
  /** A renewal of the declaration failed and was logged; the next that succeeds says so. */
  private declarationFailing = false;
  /** A poll of the log failed and was logged; the next that succeeds says so. */
  private pollFailing = false;
  /** When a reload of the stored state for a gap in the log may run. */
  private readonly gapReloads = new GapReloads();
  /** A reload owed for a gap was deferred and that was said; the next reload clears it. */
  private gapReloadWarned = false;

  /** Subscribes, loads the compacted state and starts reading the event log; resolves when {@link check} is current. */
  static start(redis: KccRedis, options: RevocationOptions = {}): Promise<Revocations> {
    return Revocations.startWith(redis, options, true);
  }

  /**
   * {@link start} for an operator's one-off write (`kcc-redis revoke`), which accepts no session and
   * so declares no session lifetime (its own, up to ten years, would keep the app-env's state that
   * long; see session-lifetimes.ts).
   * @internal
   */
  static startForOperator(redis: KccRedis, options: RevocationOptions = {}): Promise<Revocations> {
    return Revocations.startWith(redis, options, false);
  }

  /**
   * {@link start} that `signal` cuts short: the abort closes the revocations being started, as
   * closing the connection would (the Fastify plugin's, on a connection the app passed in).
   * @internal
   */
  static startUnlessAborted(redis: KccRedis, options: RevocationOptions, signal: AbortSignal): Promise<Revocations> {
    return Revocations.startWith(redis, options, true, signal);
  }

  private static async startWith(redis: KccRedis, options: RevocationOptions, declaresLifetime: boolean, signal?: AbortSignal): Promise<Revocations> {
    requireOptionsObject(options, 'Revocations.start options', 'Revocations.start(redis, { maxStalenessMs: 30_000 })');
    const revocations = new Revocations(redis, options, declaresLifetime);
    // Its close may take closeTimeoutMs and then its two bounded waits: KccRedis.close waits that long for it.
    revocations.unhook = redis.beforeClose(() => revocations.close(), revocations.options.closeTimeoutMs + 2 * CLOSE_WAIT_MS);
    revocations.unreport = redis.reportInHeartbeat(() => ({ revocations: revocations.heartbeatReport() }));
    const abort = (): void => void revocations.close();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      if (signal?.aborted) throw new KccClosedError('revocations closed before starting');
      await revocations.begin();
    } catch (error) {
      await revocations.close();
      throw error;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
    return revocations;
  }

  private constructor(
    private readonly redis: KccRedis,
    options: RevocationOptions,
    private readonly declaresLifetime: boolean,
  ) {
    super();
    this.options = resolveRevocationOptions(options);
    this.log = new EventLog(redis, { name: REVOCATION_KEYS.log, maxAgeMs: this.options.sessionMaxLifetimeMs, validate: isRevocationBatch, onDrop: (reason) => this.reportDrop('log', reason) });
    // Its own messages too: they count as heard (their revocations were applied when written).
    this.bus = new Bus(redis, { channel: REVOCATION_KEYS.channel, validate: isRevocationBatch, receiveOwn: true, onDrop: (reason) => this.reportDrop('bus', reason) });
    this.writer = new RevocationWriter(redis, this.options.sessionMaxLifetimeMs, (id) => this.written.add(id));
    this.recentWrites = new RecentWrites(redis, this.options.sessionMaxLifetimeMs);
    this.unwritten = new UnwrittenRevocations((event) => this.write(event), redis.config.logger);
    const setPushedNotBefore = (notBefore: number, source: RevocationSource) => {
      // A push raised unverified, then verified, holds the same value: no change, no event.
      if (notBefore === this.index.pushed) return;
      this.index.setPushedNotBefore(notBefore);
      this.notify('pushed', notBefore, source);
    };
    this.pushes = new KeycloakPushRelay(redis, options.keycloakPushes, this.options.sessionMaxLifetimeMs, {
      setPushedNotBefore,
      raisePushedNotBefore: (notBefore, source) => {
        if (notBefore > this.index.pushed) setPushedNotBefore(notBefore, source);
      },
      refuse: (source, reason) => this.refuse(source, reason, 1),
      remember: (id) => this.coverage.wrote(id),
      closed: () => this.closed,
    });
  }

  /**
   * `revoked`, `active`, or `stale` (no revocation known, but cut off too long, or closed, to vouch). Synchronous,
   * O(1). Staleness is decided now, from the last contact with Redis: no timer has to run first, so
   * an event loop that stalled past `maxStalenessMs` answers `stale` on its first check.
   */
  check(claims: RevocationClaims): RevocationCheck {
    if (this.index.isRevoked(claims)) return 'revoked';
    return this.isStale() ? 'stale' : 'active';
  }

  /** Whether to refuse the token: revoked, or stale under the fail-closed policy (the default). */
  rejects(claims: RevocationClaims): boolean {
    const check = this.check(claims);
    return check === 'revoked' || (check === 'stale' && !this.options.failOpen);
  }

  /** Whether this instance has been cut off from Redis longer than maxStalenessMs (decided now), or is closed. */
  get stale(): boolean {
    return this.isStale();
  }

  /** Time since the revocation state was last known current (ms, decided now): `stale` once above maxStalenessMs. */
  get stalenessMs(): number {
    return performance.now() - this.lastContactAt;
  }

  /** Counters, for diagnostics, health and metrics (a snapshot). */
  get stats(): RevocationStats {
    const drops = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      applied: this.applied,
      refused: { ...this.refused },
      unknownKinds: this.unknownKinds,
      messagesDropped: drops(this.bus.dropped) + drops(this.log.dropped),
      dropped: { bus: this.bus.dropped, log: this.log.dropped },
      batchesWritten: this.writer.batchesWritten,
      unwritten: this.unwritten.size + this.pushes.waiting,
      unconfirmed: this.unconfirmed,
      writtenLate: this.unwritten.writtenLate + this.pushes.relayedLate,
      unwrittenDropped: this.unwritten.dropped,
      rewrittenAfterLoss: this.rewrittenAfterLoss,
      logPolls: { ...this.logPolls },
      gapReloads: { done: this.gapReloads.done, deferred: this.gapReloads.deferred },
      revokedSessions: this.index.sessionCount,
      revokedSubjects: this.index.subjectCount,
      clientNotBefore: this.index.notBefore,
      pushedNotBefore: this.index.pushed,
      pushesApplied: this.pushes.applied,
      pushesOutdated: this.pushes.outdated,
    };
  }

  /**
   * Revokes one session everywhere: every token of it, or with `issuedUpTo` only those issued up to
   * then ({@link RevokeSessionOptions}). Applied here at once; resolves once written durably to
   * Redis. If the write fails, the promise rejects and the revocation is written again until Redis
   * takes it ({@link RevocationStats.unwritten}).
   */
  revokeSession(sid: string, options: RevokeSessionOptions = {}): Promise<void> {
    const exp = Date.now() + this.options.sessionMaxLifetimeMs;
    const upTo: unknown = options?.issuedUpTo;
    if (upTo === undefined) return this.revoke({ kind: 'session', sid, exp });
    // null, 0 or '' (a missing iat passed on) must not revoke nothing and succeed (an attack review).
    if (typeof upTo !== 'number' || !Number.isFinite(upTo) || upTo <= 0) {
      this.refused.api++;
      const got = typeof upTo === 'number' ? String(upTo) : upTo === null ? 'null' : typeof upTo;
      return Promise.reject(new KccInputError(`revokeSession: issuedUpTo must be a time in epoch seconds (a positive number, e.g. the logout token's iat), got ${got}; leave it out to revoke every token of the session`));
    }
    // Before any time the index holds (November 2023): not epoch seconds but a duration, or
    // performance.now() / 1000, passed by mistake; it would revoke nothing. A real time older than the
    // session lifetime revokes little, as an old not-before does, and is taken (a logout token may be
    // that old where maxTokenAgeMs exceeds sessionMaxLifetimeMs).
    if (upTo <= EPOCH_BASE_S) {
      this.refused.api++;
      return Promise.reject(new KccInputError(`revokeSession: issuedUpTo ${upTo} (${epochSecondsAsDate(upTo)}) is not a time in epoch seconds (a duration, or performance.now() / 1000?); pass epoch seconds, e.g. the logout token's iat, or leave it out to revoke every token of the session`));
    }
    return this.revoke({ kind: 'session', sid, exp, upTo: Math.ceil(upTo) });
  }

  /**
   * Revokes every token of `sub` issued before `notBefore` (epoch seconds, at most now +
   * {@link MAX_NOT_BEFORE_SKEW_SECONDS}).
   */
  revokeSubject(sub: string, notBefore: number): Promise<void> {
    return this.notBeforeRefusal('revokeSubject', notBefore) ?? this.revoke({ kind: 'subject', sub, nbf: Math.floor(notBefore) });
  }

  /**
   * Revokes every token of this client issued before `notBefore` (epoch seconds, at most now +
   * {@link MAX_NOT_BEFORE_SKEW_SECONDS}: a later one would refuse every token until then).
   */
  revokeAllBefore(notBefore: number): Promise<void> {
    return this.notBeforeRefusal('revokeAllBefore', notBefore) ?? this.revoke({ kind: 'client', nbf: Math.floor(notBefore) });
  }

  /**
   * A refusal of a not-before that would revoke nothing and succeed, as revokeSession refuses such an
   * `issuedUpTo`: no number (from JavaScript, `null`, a missing `iat` passed on, floors to 0; `true`
   * to 1; a numeric string to its value), or a number before any time the index holds (November
   * 2023: 0, a duration, `performance.now() / 1000`). NaN and times too far ahead: revocationProblem.
   */
  private notBeforeRefusal(method: string, notBefore: unknown): Promise<never> | undefined {
    let problem: string | undefined;
    if (typeof notBefore !== 'number') problem = `must be a time in epoch seconds (a number), got ${kindOf(notBefore)}`;
    else if (notBefore <= EPOCH_BASE_S) {
      problem = `${notBefore} (${epochSecondsAsDate(notBefore)}) is not a time in epoch seconds (0, a duration, or performance.now() / 1000?), and would revoke nothing; pass epoch seconds, e.g. Math.floor(Date.now() / 1000)`;
    }
    if (problem === undefined) return undefined;
    this.refused.api++;
    return Promise.reject(new KccInputError(`${method}: notBefore ${problem}`));
  }

  /**
   * Applies a not-before Keycloak pushed (`k_push_not_before`), verified by a Keycloak admin handler:
   * sets the client-wide not-before to it, also lower (Keycloak's "Clear" pushes 0), as Keycloak's
   * adapters do; a not-before raised by {@link revokeAllBefore} stays in force. Then stores the
   * realm-signed action and relays it: the other instances verify it with the realm's keys before
   * they apply it. An older push than the newest applied (a replay) changes nothing. Rejects when
   * Redis did not take it; it then stays applied here and is relayed again after a reconnect and on
   * every poll ({@link RevocationStats.unwritten}).
   */
  applyKeycloakPush(push: VerifiedKeycloakPush): Promise<void> {
    if (this.closed) return Promise.reject(new KccClosedError('revocations are closed'));
    return this.untilGivenUp(this.unconfirmedUntilSettled(this.inFlight(this.pushes.push(push))));
  }

  /** `write`, counted in `stats.unconfirmed` until it settles. */
  private unconfirmedUntilSettled<T>(write: Promise<T>): Promise<T> {
    this.otherWrites++;
    const settled = () => void this.otherWrites--;
    write.then(settled, settled);
    return write;
  }

  /** `write`, which close() waits for (up to `closeTimeoutMs`) before it counts what Redis did not take. */
  private inFlight<T>(write: Promise<T>): Promise<T> {
    const settled = write.then(
      () => undefined,
      () => undefined,
    );
    this.writesInFlight.add(settled);
    void settled.then(() => this.writesInFlight.delete(settled));
    return write;
  }

  /**
   * Stops the subscription and the timers; from then on {@link check} answers `stale` for what it
   * does not know revoked (nothing keeps the state current). The Redis connection stays open (it is
   * the caller's).
   * Revocations Redis has not confirmed ({@link RevocationStats.unconfirmed}) are written again at every reconnect and every half second for up to `closeTimeoutMs` (10 s by
   * default), and the writes on their way are waited for; close goes on as soon as Redis has them
   * all. Any left then are logged (only this instance had them), and the promises of those made
   * here reject with a KccClosedError. With Redis out of reach, close returns within
   * `closeTimeoutMs` + 2 s.
   */
  close(): Promise<void> {
    // One close for every caller (the app, KccRedis.close): each resolves once the last writes are
    // done. Its hook stays until then, so a KccRedis.close() running beside it waits for it too.
    this.unreport?.();
    this.closeRun ??= this.closeOnce().finally(() => this.unhook?.());
    return this.closeRun;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    this.timers.forEach((t) => clearInterval(t));
    this.redis.off('resubscribed', this.onResubscribed);
    this.redis.off('ready', this.onReady);
    this.redis.off('node-ready', this.onReady);
    await this.writeUnwrittenBeforeClose();
    // Both wait on Redis, which may be out of reach (an app shut down during an outage): bounded, as
    // ioredis would hold a command for its 20 reconnect attempts. The handler is detached at once
    // either way; a poll that ends later only updates this closed object.
    await waitAtMost(this.unsubscribe?.() ?? Promise.resolve(), CLOSE_WAIT_MS);
    await waitAtMost(this.catchingUp ?? Promise.resolve(), CLOSE_WAIT_MS);
  }

  private async writeUnwrittenBeforeClose(): Promise<void> {
    const deadline = performance.now() + this.options.closeTimeoutMs;
    const left = () => deadline - performance.now();
    const settled = () => this.unconfirmed === 0 && this.writesInFlight.size === 0;
    // A reconnect backing off for seconds would use up the deadline: while this waits, they come quicker.
    const release = settled() ? undefined : this.redis.hurryReconnects();
    try {
      while (!settled() && left() > 0) {
        // Written again on a connection that is up only: sent on one that is down, they would wait there
        // for ioredis' reconnects. A write in flight that fails joins them.
        const again = this.commandsReady() ? Promise.all([this.unwritten.retry(), this.pushes.retry()]) : undefined;
        await waitAtMost(Promise.allSettled([...this.writesInFlight, again]), left());
        if (settled()) break;
        await waitAtMost(this.reconnectOrPause(CLOSE_RETRY_INTERVAL_MS), left());
      }
    } finally {
      release?.();
    }
    this.unwritten.close();
    const lost = this.unconfirmed;
    if (lost > 0) {
      this.redis.config.logger.warn(
        `closed with ${lost} revocations Redis did not confirm within closeTimeoutMs (${this.options.closeTimeoutMs} ms; not written, or written without an answer in time): the other instances may not have them (those sessions stay valid there until they expire)`,
      );
    }
    this.giveUp(new KccClosedError(`revocations closed before Redis confirmed this revocation within closeTimeoutMs (${this.options.closeTimeoutMs} ms): it is applied on this instance only, which is closing`));
  }

  /**
   * Resolves at the next (re)connect of the command connection (or, in cluster mode, of a node
   * connection), or after `ms`. Its timer keeps the process up: a close under way must end.
   */
  private reconnectOrPause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        this.redis.off('node-ready', onReady);
        resolve();
      };
      const onReady = (role: ConnectionRole): void => {
        if (role === 'commands') done();
      };
      const timer = setTimeout(done, ms);
      this.redis.on('ready', onReady);
      this.redis.on('node-ready', onReady);
    });
  }

  /** Revocations applied here that Redis has not confirmed: first writes and other writes in flight, and those waiting to be written again. */
  private get unconfirmed(): number {
    return this.revocationWrites.size + this.otherWrites + this.unwritten.size + this.pushes.waiting;
  }

  /**
   * Live events come over pub/sub (fast, at most once); the log is read in batches every poll
   * interval and after every subscriber reconnect (complete). Reading the log per event on every
   * instance would double the fan-out work for nothing: applying is idempotent.
   */
  private async begin(): Promise<void> {
    // No gap between the stored state and the live messages: the log position and the subscription
    // are both in place before the state is read. Anything written before the read is in it; after
    // the subscription, it arrives as a message; and everything written after the position (so also
    // what a message could not bring) is read from the log by the first catch-up. The position and
    // the subscription do not depend on each other: taken together, one round trip instead of two.
    const subscribed = this.bus.subscribe((message) => {
      // A copy or a replay of a message heard (or an entry read) before: applied then. Its copy in the log is skipped unparsed.
      if (!this.coverage.hear(message.id)) return;
      // Applied when written. Not "the sender is this instance": two processes given one instanceId,
      // or two Revocations on one connection, would then never apply each other's revocations.
      if (this.written.has(message.id)) return;
      for (const event of message.data.revocations) this.accept(event, 'bus', message.at);
    });
    const position = this.log.head();
    // Before this instance writes or loads anything: writers keep the state for its lifetime from now
    // on. A refusal (a Redis out of memory) does not stop the start: it is said, and tried every minute.
    const declared = this.declaration.run().catch((error: unknown) => {
      this.declarationFailing = true;
      this.redis.config.logger.warn('could not declare this instance\'s session lifetime in Redis (tried again every minute): until then, an instance with a shorter sessionMaxLifetimeMs may prune what this one needs', {
        error: errorLine(error),
      });
    });
    subscribed.then(
      (unsubscribe) => {
        // Closed meanwhile (the position could not be read): nothing else will unsubscribe it.
        if (this.closed) void unsubscribe().catch(() => undefined);
        else this.unsubscribe = unsubscribe;
      },
      () => undefined,
    );
    position.catch(() => undefined);
    const [head] = await Promise.all([position, subscribed, declared]);
    // No count is settled here: a message heard between SUBSCRIBE and XINFO is in the head's count
    // and would be counted again by the first poll, so that poll reads (as every poll did before).
    if (this.closed) throw new KccClosedError('revocations closed while starting'); // their listeners are already off
    this.lastId = head.lastId;
    this.redis.on('resubscribed', this.onResubscribed);
    this.redis.on('ready', this.onReady);
    this.redis.on('node-ready', this.onReady);
    const readAt = performance.now();
    await this.loadSnapshot();
    if (this.closed) throw new KccClosedError('revocations closed while starting'); // no timers for them
    this.touch(readAt);
    const pollMs = Math.max(50, Math.min(5_000, Math.floor(this.options.maxStalenessMs / 3)));
    let lastTick = clockStamp();
    const poll = setInterval(() => {
      // After a pause (a freeze), a poll still in flight counts its contact from before it: the state
      // would stay stale until the next tick, longer than a request's staleWaitMs. One more follows it.
      const paused = pausedSince(lastTick, pollMs);
      lastTick = clockStamp();
      void (paused ? this.catchUpAfterInFlight() : this.catchUp()).catch(() => undefined);
      // Not while the connection is down: each write would wait out ioredis' retries, and a new
      // revocation would queue behind them (the reconnect itself starts a pass).
      if (this.unwritten.size > 0 && this.commandsReady()) void this.unwritten.retry();
      if (this.pushes.waiting > 0 && this.commandsReady()) void this.pushes.retry();
    }, pollMs);
    // Only reports (the `stale` event): check() decides staleness by itself.
    const check = setInterval(() => this.isStale(), Math.max(50, Math.min(1_000, Math.floor(this.options.maxStalenessMs / 4))));
    const prune = setInterval(() => {
      this.index.prune(Date.now(), this.options.sessionMaxLifetimeMs);
      this.heard.prune();
      if ((this.recentWrites.size > 0 || this.pushes.checking || this.notBeforesCheckDue) && this.commandsReady()) void this.lostWritesCheck.run();
    }, 60_000);
    const declare = setInterval(() => {
      if (this.commandsReady()) this.renewDeclaration();
    }, LIFETIME_DECLARATION_INTERVAL_MS);
    for (const timer of [poll, check, prune, declare]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  /**
   * Declares this instance's session lifetime (session-lifetimes.ts): at the start, every minute and
   * after a reconnect. Says once per value when another instance declares a longer one.
   */
  private async declareLifetime(): Promise<void> {
    if (!this.declaresLifetime || this.closed) return;
    const own = this.options.sessionMaxLifetimeMs;
    const { longestMs, count } = await declareSessionLifetime(this.redis, own);
    if (longestMs > own && longestMs !== this.longerLifetimeLogged) {
      this.longerLifetimeLogged = longestMs;
      this.redis.config.logger.warn(
        count > MAX_DECLARATIONS_READ
          ? `${count} session lifetimes are declared in this app-env, more than any fleet declares (${MAX_DECLARATIONS_READ} are read): the shared revocation state is kept for the longest possible, ${longestMs} ms, while it lasts (a Redis writer with the app's credentials? see docs/security-model.md)`
          : `another instance of this app-env declares a longer sessionMaxLifetimeMs (${longestMs} ms) than this one (${own} ms): the shared revocation state is kept for the longer one. ` +
              'Expected during a rolling deploy that changes it; otherwise give every instance the same value (your realm\'s SSO Session Max)',
      );
    }
  }

  /**
   * A renewal (every minute, after a reconnect): a failure is said once until one succeeds, never
   * thrown. Single-flight ({@link declaration}): asked while one is in flight, one more runs after it.
   */
  private renewDeclaration(): void {
    this.declaration.run().then(
      () => {
        if (!this.declarationFailing) return;
        this.declarationFailing = false;
        this.redis.config.logger.info("this instance's session lifetime is declared in Redis again");
      },
      (error: unknown) => {
        if (this.declarationFailing || this.closed) return;
        this.declarationFailing = true;
        this.redis.config.logger.warn(
          "renewing this instance's session lifetime in Redis failed (tried again every minute): once its declaration lapses, instances with a shorter sessionMaxLifetimeMs may prune what this one needs",
          { error: errorLine(error) },
        );
      },
    );
  }

  /**
   * Reads every log entry after the last one read (single-flight); reloads the snapshot if some were
   * trimmed unread. A failure is said once until a poll succeeds ({@link pollSettled}), and thrown.
   */
  /** A poll that begins after the one in flight, if any, ends (one for any number of calls meanwhile). */
  private catchUpAfterInFlight(): Promise<void> {
    const inFlight = this.catchingUp;
    if (!inFlight) return this.catchUp();
    this.pollAfterInFlight ??= inFlight
      .catch(() => undefined)
      .then(() => {
        this.pollAfterInFlight = undefined;
        return this.catchUp();
      });
    return this.pollAfterInFlight;
  }

  private catchUp(): Promise<void> {
    this.catchingUp ??= this.repairingTypes(() => this.readLog())
      .then(
        () => this.pollSettled(undefined),
        (error: unknown) => {
          this.pollSettled(error);
          throw error;
        },
      )
      .finally(() => {
        this.catchingUp = undefined;
      });
    return this.catchingUp;
  }

  /**
   * A poll ended: a failure is warned once per outage, with the error's name and message only (an
   * ioredis error carries the command's arguments), and the first poll that succeeds after it is said
   * at `info`. Before, a failing poll was silent: an instance that could not read the log went stale
   * (and, failing closed, refused every token) with nothing in the log to say why (found by an
   * attack review: a log entry too large for a string failed every poll).
   */
  private pollSettled(error: unknown): void {
    if (error === undefined) {
      if (!this.pollFailing) return;
      this.pollFailing = false;
      this.redis.config.logger.info('reading the revocation log in Redis works again: this instance is caught up');
      return;
    }
    if (this.pollFailing || this.closed) return;
    this.pollFailing = true;
    this.redis.config.logger.warn(
      `reading the revocation log in Redis failed (tried again at every poll): until a poll succeeds, this instance applies only the revocations it hears over pub/sub, and its state goes stale after maxStalenessMs (${this.options.maxStalenessMs} ms)`,
      { error: errorLine(error) },
    );
  }

  private async readLog(): Promise<void> {
    if (this.closed) return;
    const readAt = performance.now();
    const window = this.coverage.begin();
    const head = await this.log.head();
    // The counts tell only on the server that counted the last settled head: on another (a failover
    // to a replica that never got an entry whose message was heard), one entry whose message was lost
    // and one heard would bring them back to agreement (found by review). A failover behind a
    // reconnect already resets the count (onReady); this catches the one ioredis does not report, a
    // cluster that finds the log's slot on a replica it was already connected to. Checked after the
    // read: the head's own redirection updates the slot map.
    const sameServer = this.settledOn !== undefined && !this.settledOn();
    const servedBy = this.redis.watchServer(this.log.key);
    let gap = false;
    if (sameServer && this.coverage.covers(window, head)) {
      this.logPolls.confirmed++;
    } else {
      this.logPolls.read++;
      const read = await this.log.readAfter(
        this.lastId,
        (event) => {
          if (event.type !== REVOCATION_EVENT) return;
          this.coverage.read(event.id);
          for (const revocation of event.data.revocations) this.accept(revocation, 'log', event.at);
        },
        {
          until: head.lastId,
          skip: (id) => {
            const known = this.coverage.knows(id);
            this.coverage.read(id);
            return known;
          },
        },
      );
      gap = read.gap;
    }
    // Away longer than the log keeps entries; or this instance had read up to an entry dated far ahead
    // and the log, replaced since (lua-key-repair.ts), went back: its new entries lie before that
    // position, and the state has them. A log that went back otherwise (a failover to a replica that
    // missed the last appends, a restart without data) needs no reload: what it lost was read here,
    // and its new entries come after the position set below (found by a review: a reload on every
    // instance after each failover costs the server a full read of the state per instance).
    if (compareStreamIds(head.lastId, this.lastId) < 0 && streamIdTime(this.lastId) > Date.now() + MAX_LOG_ID_AHEAD_MS / 2) gap = true;
    if (gap) this.gapReloads.found(readAt);
    const reloaded = this.gapReloads.owed && (await this.reloadForGap(readAt));
    // Not awaited: it waits up to a second for the realm's keys after the poll's own reads are done
    // (the push it would verify is enforced meanwhile), and the poll's contact counts from now.
    if (!reloaded && this.pushes.wantsReload) void this.pushes.load().catch(() => undefined);
    this.coverage.settle(window, head);
    this.settledOn = servedBy;
    this.lastId = head.lastId;
    this.touch(readAt);
  }

  /**
   * Reloads the stored state for a gap in the log, unless gaps came so often that it must wait
   * ({@link GapReloads}): whether it reloaded (the stored push included).
   */
  private async reloadForGap(readAt: number): Promise<boolean> {
    const wait = this.gapReloads.waitMs(readAt);
    if (wait === 0) {
      this.gapReloads.began(readAt);
      await this.loadSnapshot();
      this.gapReloads.reloaded();
      this.gapReloadWarned = false;
      return true;
    }
    this.gapReloads.deferred++;
    // Said once per reload owed.
    if (!this.gapReloadWarned) {
      this.gapReloadWarned = true;
      this.redis.config.logger.warn(
        `the revocation log in Redis lost entries again (${this.gapReloads.done} reloads of the stored state so far): deleted by a Redis writer holding the app's credentials, or Redis lost its data again. ` +
          `The next reload runs in ${Math.ceil(wait / 1000)} s; until then this instance applies what the log and pub/sub bring (a revocation whose message it missed and whose log entry was removed comes with that reload)`,
      );
    }
    return false;
  }

  private async loadSnapshot(): Promise<void> {
    // Independent parts of the state (the stored push only sets the pushed not-before): read together.
    const [{ refused, oversized }] = await this.repairingTypes(() => Promise.all([loadRevocationSnapshot(this.redis, this.index, this.options.sessionMaxLifetimeMs), this.pushes.load()]));
    if (refused > oversized) this.refuse('snapshot', 'malformed, or a not-before too far ahead of the Redis server\'s clock', refused - oversized);
    if (oversized > 0) {
      // Said every time (refuse() logs once a minute): each one is a value no writer stores, written with the app's credentials.
      this.refused.snapshot += oversized;
      this.redis.config.logger.warn(
        `${oversized} stored revocation ${oversized === 1 ? 'entry' : 'entries'} longer than any kcc-redis client writes (an id over ${MAX_MEMBER_BYTES} bytes, a client-wide not-before over ${MAX_CLIENT_NOT_BEFORE_BYTES} bytes) removed from Redis unread: ` +
          'no instance applies one, so nothing was lost; counted in stats.refused.snapshot (a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
      );
    }
  }

  /**
   * Runs `read`; if Redis answers WRONGTYPE (a revocation key of another type than this client
   * writes: a Redis writer with the app's credentials, or a bug), replaces the keys of the wrong
   * type (what they held is lost) and runs it once more, so that starting and polling go on.
   */
  private async repairingTypes<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!isWrongTypeReply(error) || this.closed) throw error;
      const repaired = await repairRevocationKeyTypes(this.redis);
      if (repaired > 0) {
        this.refuse('snapshot', 'a key of the wrong type', repaired);
        warnRepaired(this.redis);
      }
      return read();
    }
  }

  /**
   * Applies a revocation here at once (stricter, even if Redis is unreachable), then writes it. A bad
   * one is refused before anything changes, here or in Redis.
   */
  private revoke(event: RevocationEvent): Promise<void> {
    if (this.closed) return Promise.reject(new KccClosedError('revocations are closed'));
    const now = Date.now();
    // From Redis, a session's upTo too far ahead is taken as the whole session (accept()); from the
    // app, one in the future is a mistake, refused as a future not-before is.
    const futureUpTo = event.kind === 'session' && event.upTo !== undefined && event.upTo > latestNotBefore(now);
    const problem = revocationProblem(event, now) ?? (futureUpTo ? 'future-not-before' : undefined);
    if (problem) {
      this.refused.api++;
      return Promise.reject(new KccInputError(apiRefusal(event, problem, now)));
    }
    this.apply(event);
    this.revocationWrites.add(event);
    const write = this.write(event).catch((error: unknown) => {
      this.unwritten.add(event, error);
      throw error;
    });
    this.writesInFlight.add(write);
    const settled = () => {
      this.writesInFlight.delete(write);
      this.revocationWrites.delete(event);
    };
    write.then(settled, settled);
    return this.untilGivenUp(write);
  }

  /**
   * `write`'s outcome for its caller, or the close's giving up on it, whichever comes first. Its
   * rejecter is held only while it waits: a race against one promise that settles at close() kept
   * every caller's promise (about 340 bytes a revocation) until then (a review of cad209e).
   */
  private untilGivenUp(write: Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waitingCallers.add(reject);
      write.then(
        () => {
          this.waitingCallers.delete(reject);
          resolve();
        },
        (error: unknown) => {
          this.waitingCallers.delete(reject);
          reject(error);
        },
      );
    });
  }

  /** Rejects, saying why, what callers still wait for when close() gives up their revocations. */
  private giveUp(error: Error): void {
    for (const reject of this.waitingCallers) reject(error);
    this.waitingCallers.clear();
  }

  /** Writes `event` and, once Redis took it, remembers it for {@link rewriteLostOnce}. */
  private async write(event: RevocationEvent): Promise<void> {
    await this.writer.write(event);
    this.recentWrites.add(event);
  }

  /**
   * Writes again what this instance wrote in the last 10 minutes and Redis no longer holds (the
   * revocations, and the newest Keycloak push it relayed): after
   * the command connection (or, in cluster mode, a node connection) came back, and every minute
   * (a cluster failing over to a replica it already had a connection to reports nothing). A failed
   * check is tried again, backing off, for about 20 s (a cluster node that just restarted answers
   * CLUSTERDOWN at first). Asked while one runs, one more runs after it (`lostWritesCheck`).
   */
  private async rewriteLostOnce(): Promise<void> {
    await Promise.all([this.rewriteLostRevocations(), this.relayLostPush()]);
  }

  private async relayLostPush(): Promise<void> {
    if (!this.pushes.checking) return;
    const checked = await withRetries(() => this.inFlight(this.pushes.relayAgainIfLost()), LOST_CHECK_RETRIES, () => this.closed);
    if (checked?.value !== 'relayed-again') return;
    this.rewrittenAfterLoss++;
    this.redis.config.logger.warn('the Keycloak not-before push this instance relayed was missing from Redis (a failover that lost acknowledged writes, or a restart without persistence): relayed again (stats.rewrittenAfterLoss)');
  }

  private async rewriteLostRevocations(): Promise<void> {
    const withNotBefores = this.notBeforesCheckDue;
    this.notBeforesCheckDue = false;
    if (this.recentWrites.size > 0) await this.rewriteMissing(() => this.recentWrites.missing(), 'revocations this instance wrote in the last 10 minutes');
    if (!withNotBefores) return;
    await pause(Math.random() * NOT_BEFORES_CHECK_SPREAD_MS);
    if (this.closed) return;
    // A not-before whose write is still under way (in flight, or queued after it failed) is not in
    // Redis, and not lost: found "missing", it was written again, refused again and queued a second
    // time, with a warning of lost writes, at each reconnect (a review of 537fd9d: the endpoint on a
    // demoted primary). Its own write, or the queue's, writes it.
    const checked = await this.rewriteMissing(
      async () => {
        const now = Date.now();
        const missing = await this.recentWrites.missing(now, [...(await this.heldToCheck(now)), ...this.heard.recent(now)]);
        const unsettled = coveredBy([...this.revocationWrites, ...this.unwritten.held()]);
        return missing.filter((event) => !unsettled(event));
      },
      'revocations this instance holds (its client-wide not-before, and its user-wide ones when Redis has fewer), or wrote or heard in the last 10 minutes,',
    );
    if (!checked) this.notBeforesCheckDue = true;
  }

  /**
   * The not-befores this instance holds that a reconnect's check compares with Redis, beside those
   * it wrote or heard in the last 10 minutes (a failover loses only its last seconds of writes, and
   * those are among them, whatever time they name): the client-wide one, and every user-wide one
   * only when Redis holds fewer user-wide not-befores still in force than this instance does (a
   * restart without its data, a key emptied), which one `ZCOUNT` tells. Checking every one at every
   * reconnect cost the server, in a fleet of 500 each holding 100,000, about two minutes of script
   * time within the five seconds the checks are spread over (a server-load review).
   */
  private async heldToCheck(now: number): Promise<RevocationEvent[]> {
    const oldestNbf = Math.floor((now - this.options.sessionMaxLifetimeMs) / 1000);
    // The list of every user-wide one (up to 100,000) is built only when Redis holds fewer.
    const clientWide: RevocationEvent[] = [];
    let subjects = 0;
    for (const event of this.index.notBefores()) {
      if (event.kind !== 'subject') clientWide.push(event);
      else if (event.nbf > oldestNbf) subjects++;
    }
    if (subjects === 0) return clientWide;
    // In force by this instance's lifetime: members already expired for it (not pruned yet, or kept
    // for a longer lifetime) are not counted against what it holds.
    const stored = await this.redis.run((r) => r.zcount(this.redis.key(REVOCATION_KEYS.subjects), `(${oldestNbf}`, '+inf'));
    if (stored >= subjects) return clientWide;
    return [...this.index.notBefores()].filter((event) => event.kind !== 'subject' || event.nbf > oldestNbf);
  }

  /** Checks (with retries) and writes again what `missing` finds; resolves whether the check succeeded. */
  private async rewriteMissing(missing: () => Promise<RevocationEvent[]>, what: string): Promise<boolean> {
    const checked = await withRetries(missing, LOST_CHECK_RETRIES, () => this.closed);
    const lost = checked?.value ?? [];
    if (lost.length === 0 || this.closed) return checked !== undefined;
    this.redis.config.logger.warn(
      `${lost.length} ${what} were missing from Redis ` +
        '(a failover that lost acknowledged writes, or a restart without persistence): writing them again (stats.rewrittenAfterLoss)',
    );
    await Promise.all(
      lost.map((event) => {
        const write = this.unconfirmedUntilSettled(this.write(event)).then(
          () => void this.rewrittenAfterLoss++,
          (error: unknown) => this.unwritten.add(event, error),
        );
        this.writesInFlight.add(write);
        return write.finally(() => this.writesInFlight.delete(write));
      }),
    );
    return true;
  }

  /** Whether the command connection is up (false once the connection is closed). */
  private commandsReady(): boolean {
    try {
      return this.redis.client.status === 'ready';
    } catch {
      return false;
    }
  }

  /** Applies a revocation that came from Redis (bus, log) if it passes the checks; otherwise drops and counts it. */
  private accept(value: unknown, source: 'bus' | 'log', sentAt: number): void {
    if (isRelayedKeycloakPush(value)) return this.pushes.receive(value, source);
    const now = Date.now();
    // A not-before is judged by the later of this host's clock and the server's as last measured: a
    // host running behind must not refuse an honest one (the writer's script judged it by the server's).
    const judgedNow = Math.max(now, this.redis.serverClock.estimate() ?? now);
    const problem = revocationProblem(value, judgedNow, NOT_BEFORE_READ_SLACK_SECONDS);
    if (problem === 'unknown-kind') return this.skipUnknownKind(value, source);
    if (problem) return this.refuse(source, problem, 1);
    let event = value as RevocationEvent;
    if (event.kind === 'subject') this.heard.add({ kind: 'subject', sub: event.sub, nbf: event.nbf }, now);
    if (event.kind !== 'session') return this.apply(event);
    // An up-to time that is not a whole number (a later format's?) or later than any honest writer
    // writes (it would be held in memory for decades) is taken as the whole session: refusing more,
    // for this instance's lifetime at most (an attack review).
    const upTo = event.upTo;
    const upToRead = upTo === undefined || (Number.isSafeInteger(upTo) && upTo <= latestNotBefore(judgedNow, NOT_BEFORE_READ_SLACK_SECONDS));
    // Kept to write back after a loss as its writer wrote it, a copy of the fields it has (the parsed
    // message may carry others, of any size: a forged one could fill memory); not one whose up-to was
    // not read, which written back whole would revoke more than its writer did, fleet-wide (an attack review).
    if (upToRead) this.heard.add(upTo === undefined ? { kind: 'session', sid: event.sid, exp: event.exp } : { kind: 'session', sid: event.sid, exp: event.exp, upTo }, now);
    else event = { kind: 'session', sid: event.sid, exp: event.exp };
    // A session's record lasts this instance's own lifetime from when it was written, whatever the
    // writer's: one with a shorter lifetime (a rolling deploy that raises it, an instance configured
    // apart) dates it too early, one with a longer lifetime too late for this instance's memory. The
    // sender's clock may be off: never later than this lifetime from now.
    const lifetime = this.options.sessionMaxLifetimeMs;
    let exp = event.exp;
    // Dated from before the batch was sent (its revocations may wait for a write in flight): only a
    // record shorter by more than that is a shorter lifetime's. The usual case allocates nothing.
    if (exp < sentAt + lifetime - SENT_AT_SLACK_MS) exp = sentAt + lifetime;
    if (exp > now + lifetime) exp = now + lifetime;
    this.apply(exp === event.exp ? event : { ...event, exp });
  }

  /** A kind a newer release writes (rolling deploy): skipped and counted, logged at most once a minute as info. */
  private skipUnknownKind(value: unknown, source: 'bus' | 'log'): void {
    this.unknownKinds++;
    const now = performance.now();
    if (now - this.lastUnknownKindLoggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.lastUnknownKindLoggedAt = now;
    const kind = String((value as { kind: unknown }).kind).slice(0, 40);
    this.redis.config.logger.info(`revocation of a kind this release does not know skipped (from the ${source}, kind ${JSON.stringify(kind)}): a newer release during a rolling deploy? counted in stats.unknownKinds (logged at most once a minute)`);
  }

  /**
   * A message or log entry dropped before its revocations were read, said at most once a minute (it
   * was only counted): a release writing an envelope or batch version this one does not read (a
   * rolling deploy that broke the rule in docs/formats.md) loses logouts on this instance. An
   * oversized log entry is said where it is read (warnOversizedEntries).
   */
  private reportDrop(source: 'bus' | 'log', reason: DropReason): void {
    if (source === 'log' && reason === 'oversized') return;
    const now = performance.now();
    if (now - this.lastDropLoggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.lastDropLoggedAt = now;
    this.redis.config.logger.warn(
      `a revocation ${source === 'bus' ? 'message' : 'log entry'} was dropped unread (${reason}): its revocations are not applied here. ` +
        'A release that writes a format this one does not read (docs/formats.md: a rolling deploy must not), or another writer of Redis; counted in stats.dropped (logged at most once a minute)',
    );
  }

  private refuse(source: RevocationSource, reason: RevocationRefusal | string, count: number): void {
    this.refused[source] += count;
    const now = performance.now();
    if (now - this.lastRefusalLoggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.lastRefusalLoggedAt = now;
    this.redis.config.logger.warn(`revocation refused from the ${source} (${reason}): not applied; counted in stats.refused (logged at most once a minute)`, {
      refused: { ...this.refused },
    });
  }

  private apply(event: RevocationEvent): void {
    // Every kind only ever tightens (the later not-before, the later expiry wins). Only a verified
    // Keycloak push lowers the client-wide not-before (KeycloakPushRelay → index.setPushedNotBefore).
    if (event.kind === 'session') {
      if (event.upTo === undefined) this.index.revokeSession(event.sid, event.exp);
      else this.index.revokeSessionUpTo(event.sid, event.upTo, { nowMs: Date.now(), untilMs: event.exp });
    }
    else if (event.kind === 'subject') this.index.revokeSubject(event.sub, event.nbf);
    else this.index.revokeAllBefore(event.nbf);
    this.applied++;
    this.notify('applied', event);
  }

  /** Emits to the app's listeners; one that throws is logged (the rest of a batch must still apply). */
  private notify<E extends keyof RevocationEvents>(event: E, ...args: RevocationEvents[E]): void {
    emitGuarded(this.redis.config.logger, `revocations' "${event}"`, () => (this.emit as (event: E, ...args: RevocationEvents[E]) => boolean)(event, ...args));
  }

  /** A read that began at `readAt` (monotonic ms) brought everything up to then: the state is current as of then. */
  private touch(readAt: number): void {
    this.lastContactAt = Math.max(this.lastContactAt, readAt);
    if (this.staleReported && !this.isStale()) {
      this.staleReported = false;
      this.notify('fresh');
    }
  }

  /**
   * Stale when the last contact is older than maxStalenessMs, judged against the clock now; and once
   * closed: nothing keeps the state current then (a session revoked elsewhere would read `active`).
   */
  private isStale(): boolean {
    if (this.closed) return true;
    const stale = performance.now() - this.lastContactAt > this.options.maxStalenessMs;
    if (stale && !this.staleReported) {
      this.staleReported = true;
      // Reported outside the caller's check(), which stays synchronous and side-effect free for it.
      process.nextTick(() => {
        const cause = this.redis.lastFailure;
        this.redis.config.logger.warn(`revocation state is stale: no contact with Redis for over ${this.options.maxStalenessMs} ms`, cause === undefined ? undefined : { lastConnectionError: cause });
        this.notify('stale');
      });
    }
    return stale;
  }

  /** What this instance's heartbeat entry says of the state (without the stale warning and event a check may give). */
  private heartbeatReport(): HeartbeatRevocations {
    const stalenessMs = this.stalenessMs;
    return {
      stale: this.closed || stalenessMs > this.options.maxStalenessMs,
      failOpen: this.options.failOpen,
      stalenessMs: Math.round(stalenessMs),
      unwritten: this.unwritten.size + this.pushes.waiting,
    };
  }

  /** What `JSON.stringify` shows: state and counters, nothing of the connection. */
  toJSON(): { readonly stale: boolean; readonly stats: RevocationStats } {
    return { stale: this.isStale(), stats: this.stats };
  }

  /** What `console.log` and `util.inspect` show: the same as {@link toJSON}. */
  [inspect.custom](_depth: number, options: object): string {
    return `Revocations ${inspect(this.toJSON(), options)}`;
  }
}


/** Envelope ids of this object's own writes kept (at least; up to twice): far more than are on their way back at once. */
const WRITTEN_IDS = 10_000;

export { MAX_SESSION_LIFETIME_MS } from './session-lifetimes.js';

/** The time part of a stream id (ms). */
function streamIdTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/**
 * The check of the not-befores an instance holds waits a random time up to this first: every running
 * instance holds them, and spread out, the first one's rewrite is usually in Redis before the others
 * check (found by a review: 8 instances each rewrote 3,000, and each rewrite reached all of them).
 */
const NOT_BEFORES_CHECK_SPREAD_MS = 5_000;

/** How often {@link Revocations.close} writes again what Redis has not confirmed, besides at each reconnect. */
const CLOSE_RETRY_INTERVAL_MS = 500;
/** How long {@link Revocations.close} waits for the unsubscribe, and then for a log poll in flight. */
const CLOSE_WAIT_MS = 1_000;
/** A failed check for lost writes is tried again this many times (about 20 s in all, see withRetries). */
const LOST_CHECK_RETRIES = 8;

/**
 * How much earlier than its message's time plus this instance's lifetime a session's record may end
 * and still be taken as it is (the writer's own lifetime, dated when the revocation was made, before
 * its batch was sent).
 */
const SENT_AT_SLACK_MS = 60_000;

/** How often a refused revocation is logged at most (each one is counted). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** The message of a revocation refused at the API: the field, the value, the rule and the fix. */
function apiRefusal(event: RevocationEvent, problem: RevocationRefusal, now: number): string {
  if (problem === 'future-not-before' && event.kind === 'session') {
    return (
      `revokeSession: issuedUpTo ${event.upTo} (${epochSecondsAsDate(event.upTo!)}) is more than ${MAX_NOT_BEFORE_SKEW_SECONDS} s in the future ` +
      `(latest accepted now: ${latestNotBefore(now)}); no token is issued then yet. Pass the token's or the logout's iat (epoch seconds), or leave it out to revoke every token of the session`
    );
  }
  if (problem === 'future-not-before' && 'nbf' in event) {
    const method = event.kind === 'client' ? 'revokeAllBefore' : 'revokeSubject';
    return (
      `${method}: notBefore ${event.nbf} (${epochSecondsAsDate(event.nbf)}) is more than ${MAX_NOT_BEFORE_SKEW_SECONDS} s in the future ` +
      `(latest accepted now: ${latestNotBefore(now)}); a future not-before would refuse every token issued until then. ` +
      'Pass the time of the logout in epoch seconds, e.g. Math.floor(Date.now() / 1000) (this host\'s clock, compared with the iat Keycloak stamps: keep it on NTP)'
    );
  }
  return `invalid ${String((event as { kind?: unknown }).kind)} revocation: ids must be strings of 1 to ${MAX_REVOCATION_ID_LENGTH} characters, times whole numbers`;
}

/** `seconds` as an ISO date, or a word for a time no Date holds (toISOString throws for it: a huge value must reject, not throw). */
function epochSecondsAsDate(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? 'beyond any date' : date.toISOString();
}
