import type { KccRedis } from '../connection.js';
import type { RevocationEvent } from './revocation-event.js';
import { LUA_STORED_SECONDS, REVOCATION_KEYS } from './revocation-keys.js';
import { revocationArgs } from './revocation-writer.js';

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
 * expiry, a subject whose not-before, or a client-wide not-before that is missing or lower; a session
 * revoked up to a time counts as held when it is revoked whole as long, or up to that time or later.
 * KEYS: sessions, subjects, client not-before, sessions up to a time. ARGV: count, then kind, member,
 * score, up-to per revocation (revocationArgs). A stored client-wide value that is not a plain
 * number counts as none: the write removes it.
 */
const MISSING = `${LUA_STORED_SECONDS}
local n = tonumber(ARGV[1])
local missing = {}
local client = stored_seconds(redis.call('GET', KEYS[3])) or 0
for i = 0, n - 1 do
  local kind, member, score, upto = ARGV[2 + 4 * i], ARGV[3 + 4 * i], tonumber(ARGV[4 + 4 * i]), ARGV[5 + 4 * i]
  local stored
  if kind == 'session' then
    stored = tonumber(redis.call('ZSCORE', KEYS[1], member) or '-1')
    if upto ~= '' and stored < score and tonumber(redis.call('ZSCORE', KEYS[4], member) or '-1') >= tonumber(upto) then stored = score end
  elseif kind == 'subject' then stored = tonumber(redis.call('ZSCORE', KEYS[2], member) or '-1')
  else stored = client end
  if stored < score then missing[#missing + 1] = i + 1 end
end
return missing
`;

/** Revocations checked per script call: a call stays well under Redis's slow-log threshold (10 ms), which would record its arguments (session ids). */
const CHECK_CHUNK = 500;

/**
 * The revocations this instance wrote in the last {@link RECENT_WRITES_WINDOW_MS}, one entry per
 * session, subject and the client (the strictest written), and the check that Redis still holds
 * them: those a failover or a restart without persistence lost are written again (by the caller).
 * The window counts back from the last check that succeeded, so a long outage does not forget the
 * writes made just before it; writing one again does not restart its window, so a revocation Redis
 * keeps not holding (another instance prunes it sooner) is written again for 10 minutes at most.
 * Revocations other instances wrote are theirs to check, except the not-befores an instance holds,
 * which the caller adds after a reconnect; sessions every instance lost with a whole dataset, older
 * than the window, are not restored (docs/logout-sync.md).
 */
export class RecentWrites {
  /** By kind and id, oldest first (a Map keeps insertion order). */
  private readonly entries = new Map<string, { readonly event: RevocationEvent; readonly at: number }>();
  /** When the last check that succeeded began (at first: when this was made): Redis held everything then. */
  private lastGoodAt: number;

  constructor(
    private readonly redis: KccRedis,
    private readonly sessionMaxLifetimeMs: number,
    now = Date.now(),
  ) {
    this.lastGoodAt = now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Remembers `event`, written at `now`, unless what is remembered for it is as strict. */
  add(event: RevocationEvent, now = Date.now()): void {
    const id = idOf(event);
    const known = this.entries.get(id);
    if (known && score(known.event) >= score(event)) return;
    this.entries.delete(id);
    this.entries.set(id, { event, at: now });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= MAX_RECENT_WRITES) break;
      this.entries.delete(oldest);
    }
  }

  /**
   * The remembered revocations that still matter and that the stored state lacks; with `held`,
   * also those of `held` (revocations this instance holds, whoever wrote them and whenever: after
   * a reconnect, the not-befores of its index), the stricter one where both have an entry.
   */
  async missing(now = Date.now(), held: Iterable<RevocationEvent> = []): Promise<RevocationEvent[]> {
    // What the writer's pruning removes anyway: an expired session, a not-before older than any live token.
    const oldestNbf = Math.floor((now - this.sessionMaxLifetimeMs) / 1000);
    const byId = new Map<string, RevocationEvent>();
    for (const [id, e] of this.entries) if (this.lastGoodAt - e.at < RECENT_WRITES_WINDOW_MS) byId.set(id, e.event);
    for (const event of held) {
      const known = byId.get(idOf(event));
      if (!known || score(event) > score(known)) byId.set(idOf(event), event);
    }
    const live = [...byId.values()].filter((e) => (e.kind === 'session' ? e.exp > now : e.nbf > oldestNbf));
    const keys = [REVOCATION_KEYS.sessions, REVOCATION_KEYS.subjects, REVOCATION_KEYS.clientNotBefore, REVOCATION_KEYS.sessionsUpTo].map((name) => this.redis.key(name));
    const missing: RevocationEvent[] = [];
    for (let start = 0; start < live.length; start += CHECK_CHUNK) {
      const chunk = live.slice(start, start + CHECK_CHUNK);
      const indexes = (await this.redis.script(MISSING, keys, [chunk.length, ...chunk.flatMap(revocationArgs)])) as number[];
      for (const i of indexes) missing.push(chunk[i - 1]!);
    }
    // Checked: Redis held the rest as of `now`; the window moves on from here.
    this.lastGoodAt = now;
    for (const [id, entry] of this.entries) {
      if (now - entry.at < RECENT_WRITES_WINDOW_MS) break;
      this.entries.delete(id);
    }
    return missing;
  }
}

/** One entry per session, subject and the client. */
function idOf(event: RevocationEvent): string {
  return event.kind === 'session' ? `s:${event.sid}` : event.kind === 'subject' ? `u:${event.sub}` : 'c';
}

/**
 * Whether any of `held` revokes at least what an event does: the same session, subject or client, as
 * far or further. One pass over `held` first, so that checking many events costs one lookup each (the
 * lost-writes check asks it for every not-before found missing, against up to 100,000 unwritten).
 */
export function coveredBy(held: Iterable<RevocationEvent>): (event: RevocationEvent) => boolean {
  const strictest = new Map<string, number>();
  for (const event of held) {
    const id = idOf(event);
    const current = strictest.get(id);
    if (current === undefined || score(event) > current) strictest.set(id, score(event));
  }
  return (event) => {
    const current = strictest.get(idOf(event));
    return current !== undefined && current >= score(event);
  };
}

/**
 * Above any session's `upTo` (epoch s) and below any whole revocation's score: a whole revocation of a
 * session is stricter than one up to a time, whatever their times.
 */
const WHOLE_SESSION = 2 ** 51;

/** What a revocation tightens to: a not-before; a session's `upTo`, or (stricter) its expiry when revoked whole. */
function score(event: RevocationEvent): number {
  if (event.kind !== 'session') return event.nbf;
  return event.upTo === undefined ? WHOLE_SESSION + event.exp : event.upTo;
}
