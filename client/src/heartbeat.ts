import { hostname } from 'node:os';
import type { RedisClient } from './redis-client.js';
import type { KccLogger } from './logger.js';
import { LUA_KEY_REPAIR } from './lua-key-repair.js';
import { runReadScript } from './read-script.js';
import { CLIENT_VERSION } from './version.js';

/**
 * Instances announce themselves: each connected {@link KccRedis} keeps a small entry with a TTL in
 * its app-env's namespace, refreshed on an interval and removed on close, so that operators
 * (`kcc-redis status`) see which instances run, which package version they run and when each was
 * last heard of. An instance that dies without closing drops out when its entry's TTL runs out.
 *
 * Layout (names inside the namespace, sharing its hash tag):
 * - `instance:<instanceId>`: a string holding {@link InstanceHeartbeat} as JSON, with a TTL of
 *   {@link HEARTBEAT_TTL_INTERVALS} intervals;
 * - `instances`: a sorted set of instance ids scored by when their entry expires (server time, ms),
 *   so that a reader can list them without SCAN (which the `hardened` profile denies). Expired ids
 *   are pruned by every write; the set itself expires when no instance writes any more.
 *
 * Rolling deploys: the entry carries a format version `v`. A later release may add fields to
 * version 1 (readers ignore what they do not know); a change that breaks readers writes a new `v`
 * under the same layout, and readers count entries of a version they cannot read instead of
 * failing (see {@link listInstances}).
 */

/** Version of the heartbeat entry's format. */
export const HEARTBEAT_FORMAT_VERSION = 1 as const;
/** Name of the index of instance ids in the namespace. */
export const INSTANCES_INDEX_NAME = 'instances';
/** Prefix of each instance's entry in the namespace. */
export const INSTANCE_ENTRY_PREFIX = 'instance:';
/** An entry lives this many intervals: an instance that misses two beats in a row is still listed. */
export const HEARTBEAT_TTL_INTERVALS = 3;
/** Largest entry a reader parses; anything larger is counted as unreadable. */
const MAX_ENTRY_BYTES = 4_096;
/** How long {@link Heartbeat.stop} waits for the entry's removal before giving up (the TTL removes it then). */
const STOP_TIMEOUT_MS = 1_000;

/**
 * What an instance's revocation state was at its last beat (added to format 1: readers before it
 * ignore the field). Its `Revocations`' own reckoning, so an operator finds the instance that
 * refuses tokens as stale, or holds logouts Redis does not have, while its connection still works.
 */
export interface HeartbeatRevocations {
  /** Whether `check()` answered `'stale'` for claims with no revocation on record. */
  readonly stale: boolean;
  /** Whether it lets stale claims through (`failOpen`) rather than refusing them (503 from the plugin). */
  readonly failOpen: boolean;
  /** Time since the state was last known current (ms). */
  readonly stalenessMs: number;
  /** Revocations taken by the instance that Redis did not hold yet (`stats.unwritten`). */
  readonly unwritten: number;
}

/** What an instance's key ring was at its last beat (added to format 1, as {@link HeartbeatRevocations}). */
export interface HeartbeatKeyRing {
  /** `degraded`: the ring could not be read or is overdue (`health().lastError`). */
  readonly status: 'ready' | 'degraded';
  /** The ring generation it holds. */
  readonly generation: number;
  /** The key it signs with, if any. */
  readonly activeKid?: string;
}

/** What the parts running on a connection add to its heartbeat entry (each only where it runs). */
export interface HeartbeatParts {
  /** Where the instance runs `Revocations`. */
  readonly revocations?: HeartbeatRevocations;
  /** Where the instance runs a `KeyRing`. */
  readonly keyRing?: HeartbeatKeyRing;
}

/** What one instance says about itself (format version 1). Times are ms since the epoch. */
export interface InstanceHeartbeat extends HeartbeatParts {
  /** Format version ({@link HEARTBEAT_FORMAT_VERSION}). */
  readonly v: 1;
  /** The connection's `instanceId` (a random UUID unless configured). */
  readonly instanceId: string;
  /** Version of @kcc-redis/client the instance runs. */
  readonly version: string;
  /** The host name of the machine or container. */
  readonly host: string;
  /** The process id on that host. */
  readonly pid: number;
  /** When the instance connected (its own clock). */
  readonly startedAt: number;
  /** When the instance last wrote its entry (its own clock). */
  readonly lastSeenAt: number;
  /** How often it writes; its entry lives {@link HEARTBEAT_TTL_INTERVALS} times as long. */
  readonly intervalMs: number;
}

/** An instance as {@link listInstances} found it. */
export interface ListedInstance extends InstanceHeartbeat {
  /** Time since its last write, by the server's clock (from the entry's remaining TTL): no clock skew. */
  readonly silentForMs: number;
}

/** What {@link listInstances} found. */
export interface InstanceList {
  /** Live instances, the most recently started first. */
  readonly instances: readonly ListedInstance[];
  /**
   * Entries that are not format version 1 JSON (a newer release's format, or junk), larger than any
   * instance writes, or of another type, and indexed ids longer than any instance's: counted, not shown.
   */
  readonly unreadable: number;
  /** More ids were indexed than `limit`: the list is incomplete. */
  readonly truncated: boolean;
}

// KEYS: entry, index. ARGV: entry JSON, TTL (ms), instance id, 'beat' | 'stop', the server's time (ms).
// The index is scored by the server's time (as each instance estimates it: a script must not call
// TIME, see server-clock.ts), so instances with skewed clocks never prune each other. Keys of the
// wrong type are replaced first (lua-key-repair.ts): one index of another type would fail every
// instance's beat. Returns how many were.
const WRITE = `${LUA_KEY_REPAIR}
own_type(KEYS[1], 'string')
own_type(KEYS[2], 'zset')
if ARGV[4] == 'stop' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return repaired
end
local now = tonumber(ARGV[5])
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return repaired
`;

/** Options of {@link Heartbeat.start}. */
export interface HeartbeatOptions {
  readonly intervalMs: number;
  readonly logger: KccLogger;
  /** @default os.hostname() */
  readonly host?: string;
  /** What the parts running on the connection report, read at each beat. */
  readonly parts?: () => HeartbeatParts;
}

/** What the heartbeat needs of a connection (a {@link KccRedis}: this module is used by it, so it names no more). */
export interface HeartbeatConnection {
  readonly instanceId: string;
  key(name: string): string;
  run<T>(operation: (client: RedisClient) => Promise<T>): Promise<T>;
  script<T = unknown>(lua: string, keys: readonly string[], args: readonly (string | number)[]): Promise<T>;
}

/** What writing the heartbeat needs besides: the server's time as this instance estimates it. */
interface HeartbeatWriterConnection extends HeartbeatConnection {
  readonly serverClock: { now(): Promise<number> };
}

/**
 * Keeps this instance's heartbeat entry alive: written at once, then every `intervalMs` (one write
 * at a time; a beat that finds the previous one still running is skipped), removed by {@link stop}.
 * A failed write is logged once per outage and never thrown: the entry matters to operators, not
 * to the app. Started by {@link KccRedis.connect}; the timer never keeps the process alive.
 */
export class Heartbeat {
  private readonly startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | undefined;
  private failing = false;
  private stopping: Promise<void> | undefined;
  /** Beats written and failed, for stats and metrics. */
  written = 0;
  failed = 0;

  private constructor(
    private readonly redis: HeartbeatWriterConnection,
    private readonly options: HeartbeatOptions,
  ) {
    this.timer = setInterval(() => this.beat(), options.intervalMs);
    this.timer.unref();
    this.beat();
  }

  static start(redis: HeartbeatWriterConnection, options: HeartbeatOptions): Heartbeat {
    return new Heartbeat(redis, options);
  }

  /** Stops the beats and removes the entry (waiting at most 1 s; the TTL removes it otherwise). Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.removeEntry();
    return this.stopping;
  }

  private async removeEntry(): Promise<void> {
    clearInterval(this.timer);
    let timeout: NodeJS.Timeout | undefined;
    // The beat in flight first (so the removal lands after it), within the same bound: during an
    // outage it waits out ioredis's retries, which can take minutes.
    const removal = (async () => {
      await this.inFlight;
      await this.write('stop');
    })().catch(() => undefined);
    await Promise.race([removal, new Promise<void>((resolve) => (timeout = setTimeout(resolve, STOP_TIMEOUT_MS)))]);
    clearTimeout(timeout);
  }

  private beat(): void {
    if (this.inFlight || this.stopping) return;
    this.inFlight = this.write('beat')
      .then(
        () => {
          this.written++;
          if (this.failing) this.options.logger.info('heartbeat written again');
          this.failing = false;
        },
        (error: unknown) => {
          this.failed++;
          if (!this.failing) this.options.logger.warn('could not write this instance\'s heartbeat; will retry', { error: String(error) });
          this.failing = true;
        },
      )
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  private async write(mode: 'beat' | 'stop'): Promise<void> {
    const { redis, options } = this;
    const entry: InstanceHeartbeat = {
      v: HEARTBEAT_FORMAT_VERSION,
      instanceId: redis.instanceId,
      version: CLIENT_VERSION,
      host: options.host ?? hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      lastSeenAt: Date.now(),
      intervalMs: options.intervalMs,
      ...(mode === 'beat' ? options.parts?.() : undefined),
    };
    const keys = [redis.key(`${INSTANCE_ENTRY_PREFIX}${redis.instanceId}`), redis.key(INSTANCES_INDEX_NAME)];
    const replaced = await redis.script<number>(WRITE, keys, [JSON.stringify(entry), options.intervalMs * HEARTBEAT_TTL_INTERVALS, redis.instanceId, mode, await redis.serverClock.now()]);
    if (replaced > 0) {
      options.logger.warn(
        `heartbeat keys ${keys.join(' or ')} in Redis held a value of the wrong type: replaced (the instances it listed are listed again at their next beat) ` +
          '(no kcc-redis client writes one: a Redis writer holding the app\'s credentials, or a bug; see docs/security-model.md)',
      );
    }
  }
}

/** The longest instance id a listing hands over (as {@link parseHeartbeat} accepts one). */
const MAX_ID_BYTES = 256;

/**
 * Lua: up to ARGV[2] + 1 ids of the index KEYS[1] (oldest beat first), in their place, an id over
 * ARGV[3] bytes as `false` (not handed over). Why a script: a holder of the app's credentials can
 * index members of up to 512 MB, and ZRANGE hands them over whole (to every `kcc-redis status`);
 * here they are copied once inside Redis and never sent.
 */
const READ_INSTANCE_IDS = `
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]))
local max = tonumber(ARGV[3])
for i = 1, #ids do
  if #ids[i] > max then ids[i] = false end
end
return ids
`;

/**
 * Lua: each entry KEYS[i] and its remaining TTL, flat `{value, pttl, ...}`; a value over ARGV[2] bytes
 * (STRLEN first: GET would copy it) or of another type is not handed over: `false` with pttl -3. An
 * entry that expired is `false` with its PTTL (-2).
 */
const READ_INSTANCE_ENTRIES = `
local out, max = {}, tonumber(ARGV[2])
for i = 1, #KEYS do
  local ok, size = pcall(redis.call, 'STRLEN', KEYS[i])
  if ok and size <= max then
    out[#out + 1] = redis.call('GET', KEYS[i])
    out[#out + 1] = redis.call('PTTL', KEYS[i])
  else
    out[#out + 1] = false
    out[#out + 1] = -3
  end
end
return out
`;

/** What READ_INSTANCE_ENTRIES answers for an entry it does not hand over (too large, another type). */
const UNREADABLE_ENTRY = -3;

/**
 * The instances of this connection's app-env that are alive (their heartbeat entry has not expired),
 * read-only: the index, then each entry and its remaining TTL, in two scripts that hand over no id
 * or entry larger than any instance writes (each is counted in `unreadable` instead).
 *
 * @example
 * const { instances } = await listInstances(redis);
 * for (const i of instances) console.log(i.instanceId, i.host, i.version, `${i.silentForMs} ms`);
 */
export async function listInstances(redis: HeartbeatConnection, options: { readonly limit?: number } = {}): Promise<InstanceList> {
  const limit = options.limit ?? 1_000;
  // Through EVAL_RO where the user may only read these keys (%R~): the scripts write nothing (their first argument is unused).
  const ids = await runReadScript<(string | null)[]>(redis, READ_INSTANCE_IDS, [redis.key(INSTANCES_INDEX_NAME)], [limit, MAX_ID_BYTES]);
  const truncated = ids.length > limit;
  const within = ids.slice(0, limit);
  const wanted = within.filter((id): id is string => id !== null);
  let unreadable = within.length - wanted.length;
  if (wanted.length === 0) return { instances: [], unreadable, truncated };
  const keys = wanted.map((id) => redis.key(`${INSTANCE_ENTRY_PREFIX}${id}`));
  const replies = await runReadScript<(string | null | number)[]>(redis, READ_INSTANCE_ENTRIES, keys, [MAX_ENTRY_BYTES]);
  const instances: ListedInstance[] = [];
  for (let i = 0; i < wanted.length; i++) {
    const raw = replies[2 * i];
    const pttl = replies[2 * i + 1];
    if (pttl === UNREADABLE_ENTRY) {
      unreadable++;
      continue;
    }
    if (raw === null || raw === undefined) continue; // expired between the two reads
    const entry = parseHeartbeat(String(raw));
    if (!entry || entry.instanceId !== wanted[i]) {
      unreadable++;
      continue;
    }
    const remaining = typeof pttl === 'number' && pttl >= 0 ? pttl : 0;
    instances.push({ ...entry, silentForMs: Math.max(0, entry.intervalMs * HEARTBEAT_TTL_INTERVALS - remaining) });
  }
  instances.sort((a, b) => b.startedAt - a.startedAt);
  return { instances, unreadable, truncated };
}

/** The largest time a Date holds, in ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** A count a reader takes (a whole number, at most a Date's range: a reader may print it as a time or a duration). */
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_DATE_MS;
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 256;

/** The parts of an entry that are well formed; a malformed one is left out, the entry kept (an instance's identity is still worth listing). */
function parseParts(d: Record<string, unknown>): HeartbeatParts {
  const object = (value: unknown): Record<string, unknown> | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);
  const parts: { revocations?: HeartbeatRevocations; keyRing?: HeartbeatKeyRing } = {};
  const r = object(d.revocations);
  if (r && typeof r.stale === 'boolean' && typeof r.failOpen === 'boolean' && isCount(r.stalenessMs) && isCount(r.unwritten)) {
    parts.revocations = { stale: r.stale, failOpen: r.failOpen, stalenessMs: r.stalenessMs, unwritten: r.unwritten };
  }
  const k = object(d.keyRing);
  if (k && (k.status === 'ready' || k.status === 'degraded') && isCount(k.generation) && (k.activeKid === undefined || isText(k.activeKid))) {
    parts.keyRing = { status: k.status, generation: k.generation, ...(k.activeKid === undefined ? {} : { activeKid: k.activeKid }) };
  }
  return parts;
}

/**
 * What each part reports, together: the worst revocation state (stale if one is, failing open if
 * one does, the longest staleness, every unwritten one) and the worst key ring (a degraded one, else
 * the one started last; one per connection is the rule).
 */
export function mergeParts(reports: readonly HeartbeatParts[]): HeartbeatParts {
  const revocations = reports.flatMap((r) => (r.revocations ? [r.revocations] : []));
  const rings = reports.flatMap((r) => (r.keyRing ? [r.keyRing] : []));
  const keyRing = rings.find((ring) => ring.status === 'degraded') ?? rings.at(-1);
  return {
    ...(revocations.length === 0
      ? {}
      : {
          revocations: {
            stale: revocations.some((r) => r.stale),
            failOpen: revocations.some((r) => r.failOpen),
            stalenessMs: Math.max(...revocations.map((r) => r.stalenessMs)),
            unwritten: revocations.reduce((sum, r) => sum + r.unwritten, 0),
          },
        }),
    ...(keyRing ? { keyRing } : {}),
  };
}

/** A format-1 entry, or undefined when the text is not one (other version, junk, too large, a time no Date holds). Unknown fields are dropped. */
export function parseHeartbeat(text: string): InstanceHeartbeat | undefined {
  if (Buffer.byteLength(text) > MAX_ENTRY_BYTES) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const d = doc as Record<string, unknown>;
  // Times a Date can hold (isCount): a reader prints them, and a forged 9e15 would make every toISOString() throw.
  if (d.v !== HEARTBEAT_FORMAT_VERSION || !isText(d.instanceId) || !isText(d.version) || typeof d.host !== 'string' || d.host.length > 256) return undefined;
  if (!isCount(d.pid) || !isCount(d.startedAt) || !isCount(d.lastSeenAt) || !isCount(d.intervalMs) || d.intervalMs === 0) return undefined;
  return { v: HEARTBEAT_FORMAT_VERSION, instanceId: d.instanceId, version: d.version, host: d.host, pid: d.pid, startedAt: d.startedAt, lastSeenAt: d.lastSeenAt, intervalMs: d.intervalMs, ...parseParts(d) };
}
