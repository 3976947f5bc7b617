import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { Bus } from '../bus.js';
import type { KccRedis } from '../connection.js';
import { encodeEnvelope } from '../envelope.js';
import { KccClosedError, KccInputError } from '../errors.js';
import { EventLog, compareStreamIds } from '../event-log.js';
import { positiveOrUndefined } from '../store.js';
import { type RevocationClaims, RevocationIndex } from './revocation-index.js';
import type { RevocationSink } from './revocation-sink.js';

/** A revocation as carried by the event log and the bus. Times: `exp` in ms, not-befores in epoch seconds. */
export type RevocationEvent =
  | { readonly kind: 'session'; readonly sid: string; readonly exp: number }
  | { readonly kind: 'subject'; readonly sub: string; readonly nbf: number }
  | { readonly kind: 'client'; readonly nbf: number };

/** Event type of revocation batches in the revocation log. */
export const REVOCATION_EVENT = 'revocation';
/** Name of the revocation log (a stream) in the namespace. */
export const REVOCATION_LOG_NAME = 'revocation-events';

/**
 * The result of {@link Revocations.isRevoked}: `stale` means no revocation is known for these
 * claims but this instance has been cut off from Redis longer than `maxStalenessMs`, so it cannot
 * vouch for them; the app's policy decides ({@link Revocations.rejects}).
 */
export type RevocationCheck = 'revoked' | 'active' | 'stale';

export interface RevocationOptions {
  /** How long a revoked session is remembered: Keycloak's SSO Session Max (default 10 h). */
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

const isRevocationEvent = (d: unknown): d is RevocationEvent => {
  const e = d as Record<string, unknown> | null;
  if (!e || typeof e !== 'object') return false;
  if (e.kind === 'session') return typeof e.sid === 'string' && e.sid.length > 0 && e.sid.length <= 256 && Number.isSafeInteger(e.exp);
  if (e.kind === 'subject') return typeof e.sub === 'string' && e.sub.length > 0 && e.sub.length <= 256 && Number.isSafeInteger(e.nbf);
  return e.kind === 'client' && Number.isSafeInteger(e.nbf);
};

/** What one log entry / pub/sub message carries: the revocations written together. */
export interface RevocationBatch {
  readonly revocations: readonly RevocationEvent[];
}

const MAX_BATCH = 256;
/** Writes in flight at once; revocations arriving meanwhile form the next batch. */
const MAX_WRITES_IN_FLIGHT = 2;
const isRevocationBatch = (d: unknown): d is RevocationBatch => {
  const list = (d as { revocations?: unknown } | null)?.revocations;
  return Array.isArray(list) && list.length > 0 && list.length <= MAX_BATCH && list.every(isRevocationEvent);
};

// One round trip writes the compacted state of a batch of revocations, appends the batch to the log
// and publishes it: durable (state + log) and fast (pub/sub). All keys share the namespace's hash tag.
// ARGV: n, then (kind, member, score) per revocation, then minid, envelope id, envelope, channel,
// prune-sessions-before (ms), prune-subjects-before (s), max lifetime (ms), prune flag.
const WRITE = `
local n = tonumber(ARGV[1])
local base = 2 + 3 * n
for i = 0, n - 1 do
  local kind, member, score = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  if kind == 'session' then
    redis.call('ZADD', KEYS[1], 'GT', score, member)
  elseif kind == 'subject' then
    redis.call('ZADD', KEYS[2], 'GT', score, member)
  else
    local current = tonumber(redis.call('GET', KEYS[3]) or '0')
    if tonumber(score) > current then redis.call('SET', KEYS[3], score, 'PX', ARGV[base + 6]) end
  end
end
if ARGV[base + 7] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[base + 4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[base + 5])
end
redis.call('XADD', KEYS[4], 'MINID', '~', ARGV[base], '*', 'i', ARGV[base + 1], 'e', ARGV[base + 2])
redis.call('PUBLISH', ARGV[base + 3], ARGV[base + 2])
return n
`;

interface PendingRevocation {
  readonly event: RevocationEvent;
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Cluster-wide logout: revocations of sessions, of a user's sessions before a time, and of every
 * token before a time. Written durably to Redis (compacted state with expiry + the event log) and
 * published for speed; every instance applies them as they arrive, resumes after reconnects, and a
 * new instance loads the compacted state. `isRevoked` is answered from memory.
 *
 * @example
 * const revocations = await Revocations.start(redis);
 * if (revocations.rejects({ sid: token.sid, sub: token.sub, iat: token.iat })) return reply.code(401).send();
 * await revocations.revokeSession(sid); // the app's own logout
 */
export class Revocations extends EventEmitter<RevocationEvents> implements RevocationSink {
  readonly index = new RevocationIndex();
  /** `written` counts batches written to Redis. */
  readonly stats = { applied: 0, written: 0, replays: 0 };
  private readonly options: Required<RevocationOptions>;
  private readonly log: EventLog<RevocationBatch>;
  private readonly bus: Bus<RevocationBatch>;
  private pending: PendingRevocation[] = [];
  private writesInFlight = 0;
  private unsubscribe: (() => void) | undefined;
  /** Id of the last log entry read; only catch-up reads advance it, so nothing between is skipped. */
  private lastId = '0-0';
  private readonly seenIds = new Set<string>();
  private catchingUp: Promise<void> | undefined;
  private readonly onReady = (role: string) => {
    if (role === 'subscriber') void this.catchUp().catch(() => undefined);
  };
  private lastContactAt = Date.now();
  private staleFlag = false;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  /** Subscribes, loads the compacted state and starts reading the event log; resolves when `isRevoked` is current. */
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
    this.options = { ...REVOCATION_DEFAULTS, ...options };
    positiveOrUndefined(this.options.sessionMaxLifetimeMs, 'sessionMaxLifetimeMs');
    positiveOrUndefined(this.options.maxStalenessMs, 'maxStalenessMs');
    this.log = new EventLog(redis, { name: REVOCATION_LOG_NAME, maxAgeMs: this.options.sessionMaxLifetimeMs, validate: isRevocationBatch });
    this.bus = new Bus(redis, { channel: 'revocations', validate: isRevocationBatch });
  }

  /** `revoked`, `active`, or `stale` (no revocation known, but cut off too long to vouch). Synchronous, O(1). */
  isRevoked(claims: RevocationClaims): RevocationCheck {
    if (this.index.isRevoked(claims)) return 'revoked';
    return this.staleFlag ? 'stale' : 'active';
  }

  /** Whether to refuse the token: revoked, or stale under the fail-closed policy (the default). */
  rejects(claims: RevocationClaims): boolean {
    const check = this.isRevoked(claims);
    return check === 'revoked' || (check === 'stale' && !this.options.failOpen);
  }

  /** Cut off from Redis longer than maxStalenessMs. */
  get stale(): boolean {
    return this.staleFlag;
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

  /** Records a logout-token `jti` cluster-wide; resolves false when it was seen before (a replay). */
  async rememberJti(jti: string, ttlMs: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const reply = await this.redis.run((r) => r.set(this.jtiKey(jti), '1', 'PX', ttl, 'NX'));
    if (reply !== 'OK') this.stats.replays++;
    return reply === 'OK';
  }

  private jtiKey(jti: string): string {
    return this.redis.key(`jti:${createHash('sha256').update(jti).digest('base64url')}`);
  }

  /** Stops the subscription and the timers. The Redis connection stays open (it is the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timers.forEach((t) => clearInterval(t));
    this.unsubscribe?.();
    this.redis.off('ready', this.onReady);
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
    this.redis.on('ready', this.onReady);
    await this.loadSnapshot();
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
    const oldest = await this.log.oldestId();
    if (oldest !== undefined && this.lastId !== '0-0' && compareStreamIds(oldest, this.lastId) > 0) {
      await this.loadSnapshot(); // away longer than the log keeps entries
    }
    const page = 1_000;
    for (;;) {
      const entries = await this.redis.run((r) => r.xrange(this.log.key, `(${this.lastId}`, '+', 'COUNT', page));
      for (const [id, fields] of entries) {
        this.applyEntry(fields);
        this.lastId = id;
      }
      if (entries.length < page || this.closed) break;
    }
    this.touch();
  }

  private applyEntry(fields: string[]): void {
    if (fields[0] === 'i' && fields[1] !== undefined && this.seenIds.has(fields[1])) return;
    const raw = fields[fields.indexOf('e') + 1];
    const decoded = raw === undefined ? undefined : this.log.decode(raw);
    if (decoded?.ok && decoded.envelope.type === REVOCATION_EVENT) {
      this.remember(decoded.envelope.id);
      for (const event of decoded.envelope.data.revocations) this.apply(event);
    }
  }

  private remember(id: string): void {
    this.seenIds.add(id);
    if (this.seenIds.size > 10_000) this.seenIds.delete(this.seenIds.values().next().value!);
  }

  /**
   * Applies a revocation here at once (stricter, even if Redis is unreachable), then writes it.
   * A lone revocation is written at once; during a burst, what arrives while writes are in flight
   * is written together: one script call and one message per batch, so a burst of logouts costs the
   * writer and every receiver far less than one each.
   */
  private revoke(event: RevocationEvent): Promise<void> {
    if (this.closed) return Promise.reject(new KccClosedError('revocations are closed'));
    if (!isRevocationEvent(event)) return Promise.reject(new KccInputError(`invalid revocation of kind "${String((event as { kind?: unknown }).kind)}": ids must be strings of 1 to 256 characters, times whole numbers`));
    this.apply(event);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ event, size: JSON.stringify(event).length + 1, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    const budget = this.redis.config.maxMessageBytes - 512; // room for the envelope around the batch
    while (this.pending.length > 0 && this.writesInFlight < MAX_WRITES_IN_FLIGHT) {
      let size = 0;
      let count = 0;
      while (count < this.pending.length && count < MAX_BATCH && size + this.pending[count]!.size <= budget) size += this.pending[count++]!.size;
      const batch = this.pending.splice(0, Math.max(1, count));
      this.writesInFlight++;
      this.writeBatch(batch.map((p) => p.event))
        .then(
          () => batch.forEach((p) => p.resolve()),
          (error: unknown) => batch.forEach((p) => p.reject(error)),
        )
        .finally(() => {
          this.writesInFlight--;
          this.flush();
        });
    }
  }

  private async writeBatch(events: readonly RevocationEvent[]): Promise<void> {
    const now = Date.now();
    const { envelope, json } = encodeEnvelope(this.redis.instanceId, REVOCATION_EVENT, { revocations: events }, this.redis.config.maxMessageBytes);
    const maxLifetime = this.options.sessionMaxLifetimeMs;
    const triples = events.flatMap((e) =>
      e.kind === 'session' ? [e.kind, e.sid, e.exp] : e.kind === 'subject' ? [e.kind, e.sub, e.nbf] : [e.kind, '', e.nbf],
    );
    // Expired entries are removed on every 64th batch: the state stays compact without a range delete per write.
    const prune = this.stats.written++ % 64 === 0 ? '1' : '0';
    const keys = ['revoked-sessions', 'subject-not-before', 'client-not-before'].map((name) => this.redis.key(name));
    await this.redis.script(WRITE, [...keys, this.log.key], [
      events.length, ...triples,
      `${now - maxLifetime}-0`, envelope.id, json, this.bus.channel, now, Math.floor((now - maxLifetime) / 1000), maxLifetime, prune,
    ]);
  }

  private apply(event: RevocationEvent): void {
    if (event.kind === 'session') this.index.revokeSession(event.sid, event.exp);
    else if (event.kind === 'subject') this.index.revokeSubject(event.sub, event.nbf);
    else this.index.revokeAllBefore(event.nbf);
    this.stats.applied++;
    this.emit('applied', event);
  }

  /** Loads the compacted state (sessions still remembered, not-befores still relevant). */
  private async loadSnapshot(): Promise<void> {
    const now = Date.now();
    await this.scanSortedSet('revoked-sessions', (sid, exp) => {
      if (exp > now) this.index.revokeSession(sid, exp);
    });
    await this.scanSortedSet('subject-not-before', (sub, nbf) => this.index.revokeSubject(sub, nbf));
    const clientNotBefore = await this.redis.run((r) => r.get(this.redis.key('client-not-before')));
    if (clientNotBefore !== null) this.index.revokeAllBefore(Number(clientNotBefore));
  }

  private async scanSortedSet(name: string, each: (member: string, score: number) => void): Promise<void> {
    const key = this.redis.key(name);
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.run((r) => (r as Redis).zscan(key, cursor, 'COUNT', 1000));
      for (let i = 0; i + 1 < flat.length; i += 2) each(flat[i]!, Number(flat[i + 1]));
      cursor = next;
    } while (cursor !== '0');
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
