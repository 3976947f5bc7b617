import type { KccRedis } from '../connection.js';
import { encodeEnvelope } from '../envelope.js';
import { MAX_BATCH, MAX_NOT_BEFORE_SKEW_SECONDS, NOT_BEFORE_READ_SLACK_SECONDS, REVOCATION_BATCH_VERSION, REVOCATION_EVENT, type RevocationBatch, type RevocationEvent } from './revocation-event.js';
import { LUA_PUBLISH_ROUTES, publishRouteArgs } from '../pubsub-mode.js';
import { LUA_STORED_SECONDS, REVOCATION_KEYS } from './revocation-keys.js';
import { LUA_LONGEST_LIFETIME } from './session-lifetimes.js';
import { SESSION_UP_TO_SLACK_SECONDS } from './revocation-index.js';
import { LUA_KEY_REPAIR, MAX_LOG_ID_AHEAD_MS, warnRepaired } from '../lua-key-repair.js';

/** Writes in flight at once; revocations arriving meanwhile form the next batch. */
const MAX_WRITES_IN_FLIGHT = 2;
/** Expired entries are removed on every 64th batch: the state stays compact without a range delete per write. */
const PRUNE_EVERY = 64;
/**
 * The most entries one prune removes from each set (about 3 ms of the server's time). A burst of a
 * million logouts expires together, and one range delete of them all held the server for about 280 ms
 * (a server-load review); the rest go at the next prunes (expired entries refuse nothing).
 */
const PRUNE_AT_MOST = 10_000;
// The lowest-scored entries up to `score`, at most PRUNE_AT_MOST of them (a set is ordered by score,
// so they are its first ranks).
const LUA_PRUNE = `
local function prune_up_to(key, score)
  local expired = redis.call('ZCOUNT', key, '-inf', score)
  if expired > 0 then redis.call('ZREMRANGEBYRANK', key, 0, math.min(expired, ${PRUNE_AT_MOST}) - 1) end
end
`;

// One round trip writes the compacted state of a batch of revocations, appends the batch to the log
// and publishes it: durable (state + log) and fast (pub/sub). All keys share the namespace's hash tag.
// KEYS: sessions, subjects, client-not-before, log, session lifetimes, sessions revoked up to a time.
// ARGV: n, then (kind, member, score, up-to) per revocation (up-to: '' but for a session revoked up
// to a time), then envelope id, envelope, the server's time
// (ms, as estimated here: a script must not call TIME, see server-clock.ts), this writer's session
// lifetime (ms), prune flag, latest not-before (s: that time plus the skew), then the publish routes
// (publishRouteArgs: PUBLISH, or SPUBLISH of the channel's sharded twin in the namespace's slot in
// cluster mode, or both when bridging).
//
// A session is revoked whole (sessions: id → expiry) or up to a time (sessions up to: id → the iat
// up to which its tokens are refused), never both: whole removes the id from the up-to set, and up-to
// over a whole revocation still in force extends that one instead (whole refuses every token the
// up-to one would, as long as the up-to one would have).
//
// The state is kept for the longest session lifetime a running instance declared, if longer than
// this writer's (session-lifetimes.ts): a revoked session's record until then at least, user-wide
// not-befores, the client-wide one's expiry and the log's trim by it.
//
// Keys of the wrong type (met as WRONGTYPE: no extra command on the usual path) and a log whose ids
// run ahead of the server's time are replaced (lua-key-repair.ts); the reply is how many were.
//
// A not-before later than the server's time + skew + the read slack (NOT_BEFORE_READ_SLACK_SECONDS:
// the writer that took it judged it by its own clock, which may run ahead of this writer's estimate)
// is poison (no honest writer makes one): one in the batch is not written, and one already stored
// (written around this script) is removed before it is compared with anything, so it can neither
// survive nor block a later, honest not-before. So is a stored value that is not a plain decimal
// number of seconds, as this script writes it (LUA_STORED_SECONDS).
const WRITE = `${LUA_PUBLISH_ROUTES}${LUA_KEY_REPAIR}${LUA_LONGEST_LIFETIME}${LUA_STORED_SECONDS}${LUA_PRUNE}
local n = tonumber(ARGV[1])
local base = 2 + 4 * n
local now = tonumber(ARGV[base + 2])
local lifetime = longest_lifetime(KEYS[5], now, tonumber(ARGV[base + 3]))
local latest = tonumber(ARGV[base + 5])
local stored_latest = latest + ${NOT_BEFORE_READ_SLACK_SECONDS}
local function write_state()
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. stored_latest, '+inf')
  local current = stored_seconds(redis.call('GET', KEYS[3]))
  if current == nil or current > stored_latest then
    redis.call('DEL', KEYS[3])
    current = 0
  end
  for i = 0, n - 1 do
    local kind, member, score, upto = ARGV[2 + 4 * i], ARGV[3 + 4 * i], tonumber(ARGV[4 + 4 * i]), ARGV[5 + 4 * i]
    if kind == 'session' then
      local expiry = string.format('%.0f', math.max(score, now + lifetime))
      if upto == '' then
        redis.call('ZADD', KEYS[1], 'GT', expiry, member)
        redis.call('ZREM', KEYS[6], member)
      elseif tonumber(redis.call('ZSCORE', KEYS[1], member) or '0') > now then
        redis.call('ZADD', KEYS[1], 'GT', expiry, member)
      else
        redis.call('ZADD', KEYS[6], 'GT', upto, member)
      end
    elseif kind == 'subject' then
      if score <= stored_latest then redis.call('ZADD', KEYS[2], 'GT', score, member) end
    elseif kind == 'client' then
      if score <= stored_latest and score > current then
        redis.call('SET', KEYS[3], score)
        current = score
      end
    end
  end
  if ARGV[base + 4] == '1' then
    -- The client-wide not-before has no expiry (a key with one is what volatile-* eviction, ElastiCache's
    -- default, removes when another tenant fills the server): it goes here once no token it covers can live.
    if current > 0 and current * 1000 < now - lifetime then redis.call('DEL', KEYS[3]) end
    prune_up_to(KEYS[1], string.format('%.0f', now))
    prune_up_to(KEYS[2], math.floor((now - lifetime) / 1000))
    prune_up_to(KEYS[6], math.floor((now - lifetime) / 1000) - ${SESSION_UP_TO_SLACK_SECONDS})
  end
end
with_own_types(write_state, { KEYS[1], 'zset', KEYS[2], 'zset', KEYS[3], 'string', KEYS[6], 'zset' })
xadd_now(KEYS[4], latest * 1000 + ${MAX_LOG_ID_AHEAD_MS}, 'MINID', '~', string.format('%.0f-0', now - lifetime), '*', 'i', ARGV[base], 'e', ARGV[base + 1])
publish_routes(base + 6, ARGV[base + 1])
return repaired
`;

interface PendingRevocation {
  readonly event: RevocationEvent;
  readonly size: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes revocations to Redis: the compacted state, the log and the channel in one script call per
 * batch. A lone revocation is written at once; during a burst, what arrives while writes are in
 * flight is written together (one call and one message per batch), so a burst of logouts costs the
 * writer and every receiver far less than one each.
 */
export class RevocationWriter {
  private pending: PendingRevocation[] = [];
  private writesInFlight = 0;
  private batches = 0;

  /** `onEnvelope`: told each batch's envelope id before the batch is sent (so its message is known as this writer's when it comes back). */
  constructor(
    private readonly redis: KccRedis,
    private readonly maxLifetimeMs: number,
    private readonly onEnvelope: (id: string) => void = () => undefined,
  ) {}

  /** Batches written so far. */
  get batchesWritten(): number {
    return this.batches;
  }

  /** Resolves once `event` is durable in Redis (state and log) and published. */
  write(event: RevocationEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Bytes, as the limit counts them: an id of multi-byte characters takes up to three per character.
      this.pending.push({ event, size: Buffer.byteLength(JSON.stringify(event)) + 1, resolve, reject });
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
    const now = await this.redis.serverClock.now();
    const batch: RevocationBatch = { v: REVOCATION_BATCH_VERSION, revocations: events };
    const { envelope, json } = encodeEnvelope(this.redis.instanceId, REVOCATION_EVENT, batch, this.redis.config.maxMessageBytes);
    const maxLifetime = this.maxLifetimeMs;
    const quads = events.flatMap(revocationArgs);
    const prune = this.batches++ % PRUNE_EVERY === 0 ? '1' : '0';
    const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore, REVOCATION_KEYS.log, REVOCATION_KEYS.lifetimes, REVOCATION_KEYS.sessionsUpTo].map((name) => this.redis.key(name));
    const routes = await this.redis.publishRoutes(this.redis.channel(REVOCATION_KEYS.channel));
    this.onEnvelope(envelope.id);
    const repaired = await this.redis.script<number>(WRITE, keys, [
      events.length, ...quads,
      envelope.id, json, Math.round(now), Math.ceil(maxLifetime), prune,
      Math.floor(now / 1000) + MAX_NOT_BEFORE_SKEW_SECONDS, ...publishRouteArgs(routes),
    ]);
    if (repaired > 0) {
      warnRepaired(this.redis);
      this.redis.serverClock.measureSoon(); // if it was this writer's estimate that was off, the next write knows
    }
  }
}

/** A revocation as the scripts take it: kind, member, score (a session's expiry, a not-before), up-to ('' but for a session revoked up to a time). */
export function revocationArgs(event: RevocationEvent): (string | number)[] {
  if (event.kind === 'session') return [event.kind, event.sid, event.exp, event.upTo ?? ''];
  return event.kind === 'subject' ? [event.kind, event.sub, event.nbf, ''] : [event.kind, '', event.nbf, ''];
}
