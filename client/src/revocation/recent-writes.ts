import type { KccRedis } from '../connection.js';
import type { RevocationEvent } from './revocation-event.js';
import { REVOCATION_KEYS } from './revocation-keys.js';

/**
 * How long an instance remembers a revocation it wrote, to check after a reconnect that Redis still
 * has it. Replication to a replica is asynchronous: a failover can lose writes the old primary had
 * acknowledged (ElastiCache durability with asynchronous writes: "up to 10 seconds of acknowledged
 * write operations may be lost", https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Durability.Consistency.html),
 * and the connection is back only once the failover is over, which takes minutes at most.
 */
export const RECENT_WRITES_WINDOW_MS = 10 * 60_000;
/** The most revocations remembered: far above a burst of logouts in the window; past it the oldest go. */
export const MAX_RECENT_WRITES = 10_000;

/**
 * Which of the remembered revocations the stored state lacks (1-based indexes): a session whose
 * expiry, a subject whose not-before, or a client-wide not-before that is missing or lower. KEYS:
 * sessions, subjects, client not-before. ARGV: count, then kind, member, score per revocation.
 */
const MISSING = `
local n = tonumber(ARGV[1])
local missing = {}
local client = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
for i = 0, n - 1 do
  local kind, member, score = ARGV[2 + 3 * i], ARGV[3 + 3 * i], tonumber(ARGV[4 + 3 * i])
  local stored
  if kind == 'session' then stored = tonumber(redis.call('ZSCORE', KEYS[1], member) or '-1')
  elseif kind == 'subject' then stored = tonumber(redis.call('ZSCORE', KEYS[2], member) or '-1')
  else stored = client end
  if stored < score then missing[#missing + 1] = i + 1 end
end
return missing
`;

/**
 * The revocations this instance wrote in the last {@link RECENT_WRITES_WINDOW_MS}, and the check,
 * after its command connection is back, that Redis still holds them: those a failover or a restart
 * without persistence lost are written again (by the caller). Revocations other instances wrote are
 * theirs to check; what every instance lost with a whole dataset older than the window is not
 * restored (docs/logout-sync.md, "When Redis loses its data").
 */
export class RecentWrites {
  /** Oldest first, with when each was written (ms since the epoch). */
  private entries: { readonly event: RevocationEvent; readonly at: number }[] = [];

  constructor(
    private readonly redis: KccRedis,
    private readonly sessionMaxLifetimeMs: number,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  add(event: RevocationEvent, now = Date.now()): void {
    this.entries.push({ event, at: now });
    if (this.entries.length > MAX_RECENT_WRITES) this.entries.splice(0, this.entries.length - MAX_RECENT_WRITES);
  }

  /** The remembered revocations that still matter and that the stored state lacks. */
  async missing(now = Date.now()): Promise<RevocationEvent[]> {
    this.entries = this.entries.filter((e) => now - e.at < RECENT_WRITES_WINDOW_MS);
    // What the writer's pruning removes anyway: an expired session, a not-before older than any live token.
    const oldestNbf = Math.floor((now - this.sessionMaxLifetimeMs) / 1000);
    const live = this.entries.map((e) => e.event).filter((e) => (e.kind === 'session' ? e.exp > now : e.nbf > oldestNbf));
    if (live.length === 0) return [];
    const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore].map((name) => this.redis.key(name));
    const triples = live.flatMap((e) => (e.kind === 'session' ? [e.kind, e.sid, e.exp] : e.kind === 'subject' ? [e.kind, e.sub, e.nbf] : [e.kind, '', e.nbf]));
    const indexes = (await this.redis.script(MISSING, keys, [live.length, ...triples])) as number[];
    return indexes.map((i) => live[i - 1]!);
  }
}
