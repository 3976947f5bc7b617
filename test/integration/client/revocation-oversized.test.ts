/**
 * Oversized values planted with the app-env's own credentials (found by an attack review). Redis
 * hands entries and members over whole: `XINFO STREAM` the log's first and last entries on every
 * poll and at start, `XRANGE` each entry read, `ZRANGE` each stored member, `GET` the client-wide
 * not-before. One longer than V8's longest string (536,870,900 bytes: "Cannot create a string longer
 * than 0x1fffffe8 characters") failed every poll (the instance stayed stale, silently, until the
 * entry aged out) and every start (for good, for a stored member); a smaller one was pulled whole by
 * every poll of every instance (50 MB: 472 MB in 10 s). Now the reads run in scripts that hand over
 * only what the client uses, and remove what no writer writes (an entry over MAX_ENTRY_BYTES, a member
 * over MAX_MEMBER_BYTES, a client-wide value over 64 bytes), so each is copied once, inside Redis.
 *
 * A 512 MB value is too heavy for a test run (the server holds it, copies it, and the client sends
 * it). These plant 20 MB and prove that it no longer reaches the client: the server's count of bytes
 * it sent (`INFO stats` `total_net_output_bytes`) grows by far less than the value over many polls
 * and a start, where before every poll sent it. Real redis-server, TLS, the stack's ACL users.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations, type RevocationOptions } from '../../../client/src/index.js';
import { EventLog } from '../../../client/src/primitives.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { MAX_ENTRY_BYTES, compareStreamIds } from '../../../client/src/event-log.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { MAX_MEMBER_BYTES, MAX_REMOVED_PER_READ, READ_AFTER_ENTRY, READ_RANK_RANGE, loadRevocationSnapshot } from '../../../client/src/revocation/revocation-snapshot.js';
import { RevocationIndex } from '../../../client/src/revocation/revocation-index.js';
import { LOCAL_ADMIN_USER } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { commandCalls, connectAs, interceptCommand, interceptScript, kccOptions, serverSentBytes, useTestRedis, withReadOnlyKeys } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 20 }, (_, i) => ({ app: `huge${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();

/** What is planted: 20 MB, far above what any poll or start of a fixed client sends. */
const HUGE = 20 * 1024 * 1024;
/** What a reader may be sent while the planted value sits in Redis: the value would be 5 times that. */
const SMALL = 4 * 1024 * 1024;

interface Namespace {
  readonly user: string;
  readonly key: (name: string) => string;
  /** A client authenticated as the app-env's own user: what the attacker holds. */
  readonly raw: Redis;
  readonly logs: { warn: string[]; info: string[] };
}

async function namespace(): Promise<Namespace> {
  const user = `huge${ns++}-prod`;
  const raw = closeLater(await connectAs(server, user));
  return { user, raw, key: (name) => `${user}:{${user}}:${name}`, logs: { warn: [], info: [] } };
}

async function connect(ns: Namespace): Promise<KccRedis> {
  const line = (m: string, meta?: object) => (meta === undefined ? m : `${m} ${JSON.stringify(meta)}`);
  const logger = { warn: (m: string, meta?: object) => void ns.logs.warn.push(line(m, meta)), info: (m: string, meta?: object) => void ns.logs.info.push(line(m, meta)) };
  return closeLater(await KccRedis.connect(kccOptions(server, ns.user, { reconnectMaxDelayMs: 100, logger }), ['subscriber']));
}

async function instance(ns: Namespace, options: RevocationOptions = {}): Promise<Revocations> {
  return closeLater(await Revocations.start(await connect(ns), options));
}

/** Bytes the server has sent to all its clients so far. */
const sentBytes = () => serverSentBytes(server);

/** Every poll of `r` so far. */
const polls = (r: Revocations) => r.stats.logPolls.confirmed + r.stats.logPolls.read;

async function morePolls(r: Revocations, count: number): Promise<void> {
  const from = polls(r);
  await until(() => polls(r) >= from + count, `${count} more log polls`);
}

/** The fields of a log entry revoking `sid`, as a writer appends it. */
function sessionEntry(sid: string): string[] {
  const { envelope, json } = encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 600_000 }] }, 64 * 1024);
  return ['i', envelope.id, 'e', json];
}

/** Appends an entry revoking `sid`, not published (only a read of the log finds it). */
async function appendUnpublished(ns: Namespace, sid: string): Promise<void> {
  await ns.raw.xadd(ns.key(REVOCATION_KEYS.log), '*', ...sessionEntry(sid));
}

/** Appends entries (their fields) to `log` in one script, as the attacker may: no read runs between them. Resolves with their ids. */
async function appendAtOnce(ns: Namespace, log: string, ...entries: (string | Buffer)[][]): Promise<string[]> {
  const lua = `local ids, at = {}, 1
while at <= #ARGV do
  local n = tonumber(ARGV[at])
  ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return ids`;
  return (await ns.raw.eval(lua, 1, log, ...entries.flatMap((fields) => [fields.length, ...fields]))) as string[];
}

/** Appends `junk`, then an entry revoking `sid`, at once: no read sees the junk as the newest entry. */
async function appendBefore(ns: Namespace, junk: (string | Buffer)[], sid: string): Promise<void> {
  await appendAtOnce(ns, ns.key(REVOCATION_KEYS.log), junk, sessionEntry(sid));
}

const huge = (fill = 'x') => Buffer.alloc(HUGE, fill);

describe('the event log', () => {
  it('an entry of 20 MB appended to the log: polls send far less than it, it is removed once and counted, the instance stays fresh and reads a later entry', async () => {
    const ns = await namespace();
    const reader = await instance(ns, { maxStalenessMs: 300 });
    await morePolls(reader, 2);
    const before = await sentBytes();
    // The newest entry: what XINFO STREAM sent with every poll (its last-entry, and its first-entry too: the only one).
    await ns.raw.xadd(ns.key(REVOCATION_KEYS.log), '*', 'i', 'junk', 'e', huge());
    await morePolls(reader, 10);
    await appendUnpublished(ns, 'after-the-junk');
    await until(() => reader.check({ sid: 'after-the-junk' }) === 'revoked', 'the later entry read from the log');
    await morePolls(reader, 5);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    // Fresh again within its 300 ms, however busy the machine (a stuck reader never is).
    await until(() => !reader.stale, 'the reader fresh');
    expect(reader.stats.dropped.log.oversized).toBe(1);
    expect(await ns.raw.xlen(ns.key(REVOCATION_KEYS.log))).toBe(1);
    expect(ns.logs.warn.filter((m) => m.includes('larger than any kcc-redis client writes'))).toHaveLength(1);
  });

  it('an entry of 20 MB in the middle of the log and one at its start: a new instance starts and a running one reads past them, sending far less than one', async () => {
    const ns = await namespace();
    const log = ns.key(REVOCATION_KEYS.log);
    // The oldest entry (XINFO's first-entry, and what a gap check reads), then an honest one.
    await ns.raw.xadd(log, '*', 'i', 'junk-first', 'e', huge('a'));
    await appendUnpublished(ns, 'first-honest');
    const before = await sentBytes();
    const reader = await instance(ns, { maxStalenessMs: 300 });
    await morePolls(reader, 3);
    // One between two honest entries the running instance reads (XRANGE): the one after it is applied.
    await appendBefore(ns, ['i', 'junk-middle', 'f', 'g', 'e', huge('b')], 'second-honest');
    await until(() => reader.check({ sid: 'second-honest' }) === 'revoked', 'the entry after the junk read from the log');
    await morePolls(reader, 5);
    const late = await instance(ns);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    // Fresh again within its 300 ms, however busy the machine (a stuck reader never is).
    await until(() => !reader.stale, 'the reader fresh');
    expect(reader.stats.dropped.log.oversized + late.stats.dropped.log.oversized).toBe(2);
    expect((await ns.raw.xrange(log, '-', '+')).map(([, fields]) => fields[1])).not.toContain('junk-middle');
    expect(await ns.raw.xlen(log)).toBe(2);
  });

  it('an entry of many fields, each within bounds, is removed too (over 64 fields: no writer writes more than 6)', async () => {
    const ns = await namespace();
    const reader = await instance(ns, { maxStalenessMs: 300 });
    // Neither the log's first entry nor its last: read by a poll (XRANGE).
    await appendAtOnce(ns, ns.key(REVOCATION_KEYS.log), sessionEntry('before-many-fields'), Array.from({ length: 33 }, (_, i) => [`f${i}`, 'v']).flat(), sessionEntry('after-many-fields'));
    await until(() => reader.check({ sid: 'after-many-fields' }) === 'revoked', 'the later entry read from the log');
    expect(reader.stats.dropped.log.oversized).toBe(1);
    expect(await ns.raw.xlen(ns.key(REVOCATION_KEYS.log))).toBe(2);
  });

  it('the ids of its ends: only the ids are sent, and an oversized end entry is removed', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const log = new EventLog(redis, { name: REVOCATION_KEYS.log, maxAgeMs: 60_000 });
    const ids = await appendAtOnce(ns, log.key, ['i', 'junk-first', 'e', huge('a')], sessionEntry('honest'), ['i', 'junk-last', 'e', huge('b')]);
    const before = await sentBytes();
    expect(await log.oldestId()).toBe(ids[0]);
    expect(await log.lastId()).toBe(ids[2]);
    expect(await log.oldestId()).toBe(ids[1]);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    expect(log.dropped).toMatchObject({ oversized: 2 });
    expect(await ns.raw.xlen(log.key)).toBe(1);
  });

  it('a page of a read stops once its entries pass 8 MiB: twelve honest entries of 1 MB come in two pages, all handed over', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const log = new EventLog<{ pad: string }>(redis, { name: 'pages', maxAgeMs: 60_000 });
    const { envelope, json } = encodeEnvelope('elsewhere', 'padded', { pad: 'a'.repeat(1_000_000) }, 1_048_576);
    await appendAtOnce(ns, log.key, ...Array.from({ length: 12 }, () => ['i', envelope.id, 'e', json]));
    const admin = closeLater(await server.admin());
    const ranges = () => commandCalls(admin, 'xrange');
    const before = await ranges();
    let handed = 0;
    await log.readAfter('0-0', () => void handed++);
    expect(handed).toBe(12);
    // The oldest id (one XRANGE), then two pages: 9 entries (past 8 MiB), then 3, each read inside
    // the script as one entry, then as many more as the budget still holds by its size (8: the 9th passes it).
    expect((await ranges()) - before).toBe(5);
  });

  it('pages of entries of 1 MB each: the script copies each entry about once, where each page copied every entry after its start', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const log = new EventLog<{ pad: string }>(redis, { name: 'copies', maxAgeMs: 60_000 });
    const { envelope, json } = encodeEnvelope('elsewhere', 'padded', { pad: 'a'.repeat(1_000_000) }, 1_048_576);
    const ids = await appendAtOnce(ns, log.key, ...Array.from({ length: 40 }, () => ['i', envelope.id, 'e', json]));
    // Every XRANGE the scripts run, with what it copies: the entries after its start, up to its COUNT.
    const admin = closeLater(await server.admin());
    const monitor = closeLater(await admin.monitor());
    let copied = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!source.startsWith('lua') || args[0]?.toLowerCase() !== 'xrange' || args[1] !== log.key) return;
      const count = Number(args[args.indexOf('COUNT') + 1]);
      const after = args[2]!.startsWith('(') ? ids.filter((id) => compareStreamIds(id, args[2]!.slice(1)) > 0).length : ids.length;
      copied += Math.min(count, after);
    });
    await admin.ping();
    let handed = 0;
    await log.readAfter('0-0', () => void handed++);
    await admin.ping();
    await until(() => copied >= 41, 'the scripts\' reads seen by MONITOR');
    expect(handed).toBe(40);
    // Five pages (9, 9, 9, 9, 4) and the oldest id (one entry). Each page's XRANGE COUNT 1,000 copied
    // 40 + 31 + 22 + 13 + 4 entries: 111 in all, quadratic in the entries.
    expect(copied).toBeLessThanOrEqual(40 + 16 + 1);
  });

  it('an entry just within MAX_ENTRY_BYTES is read (and dropped as the oversized message it is), not removed', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const log = new EventLog(redis, { name: 'bounds', maxAgeMs: 60_000 });
    // 'e' and 'i' (1 byte each), the id 'x': the message takes the rest of the bound.
    await ns.raw.xadd(log.key, '*', 'i', 'x', 'e', Buffer.alloc(MAX_ENTRY_BYTES - 3, 'm'));
    await ns.raw.xadd(log.key, '*', 'i', 'y', 'e', Buffer.alloc(MAX_ENTRY_BYTES - 2, 'm'));
    expect(await log.readAfter('0-0', () => {})).toMatchObject({ gap: false });
    expect(log.dropped).toMatchObject({ oversized: 2 });
    expect(await ns.raw.xlen(log.key)).toBe(1);
  });
});

describe('the stored state', () => {
  it('a session id, a user id and a client-wide not-before of 20 MB each: a new instance starts, sending far less than one; they are removed and counted; the honest state loads', async () => {
    const ns = await namespace();
    const far = Date.now() + 10 * 365 * 86_400_000;
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.sessions), far, huge('s'), Date.now() + 600_000, 'honest-session');
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), Math.floor(Date.now() / 1000) - 10, huge('u'), Math.floor(Date.now() / 1000) - 10, 'honest-user');
    await ns.raw.set(ns.key(REVOCATION_KEYS.clientNotBefore), huge('9'));
    const before = await sentBytes();
    const started = await instance(ns);
    const again = await instance(ns);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    expect(started.stats.refused.snapshot).toBe(3);
    expect(again.stats.refused.snapshot).toBe(0);
    expect(started.check({ sid: 'honest-session' })).toBe('revoked');
    expect(started.check({ sub: 'honest-user', iat: Math.floor(Date.now() / 1000) - 60 })).toBe('revoked');
    expect(await ns.raw.zrange(ns.key(REVOCATION_KEYS.sessions), 0, -1)).toEqual(['honest-session']);
    expect(await ns.raw.zrange(ns.key(REVOCATION_KEYS.subjects), 0, -1)).toEqual(['honest-user']);
    expect(await ns.raw.exists(ns.key(REVOCATION_KEYS.clientNotBefore))).toBe(0);
    expect(ns.logs.warn.filter((m) => m.includes('3 stored revocation entries longer than any kcc-redis client writes'))).toHaveLength(1);
  });

  it('oversized members on and around range boundaries, pipelined: every honest session loads in one read by rank, every oversized member is removed', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const now = Date.now();
    // 1,000 honest sessions (ranks by expiry, highest first) and, between them, 150 members one byte
    // over the bound: every 7th, so that they fall on range starts, ends and the entry past each end.
    const honest = Array.from({ length: 1_000 }, (_, i) => `honest-${i}`);
    await ns.raw.zadd(sessions, ...honest.flatMap((sid, i) => [now + 600_000 - i * 10, sid]));
    const junk = Array.from({ length: 150 }, (_, i) => Buffer.concat([Buffer.from(`junk-${i}-`), Buffer.alloc(MAX_MEMBER_BYTES, 'j')]).subarray(0, MAX_MEMBER_BYTES + 1));
    await ns.raw.zadd(sessions, ...junk.flatMap((member, i) => [now + 600_000 - i * 70 - 5, member]));
    // One exactly at the bound: kept, and refused by the loader as any id over 256 characters.
    await ns.raw.zadd(sessions, now + 600_000 + 1, Buffer.alloc(MAX_MEMBER_BYTES, 'k'));
    const index = new RevocationIndex();
    const { refused, oversized } = await loadRevocationSnapshot(redis, index, 3_600_000, { chunk: 100, window: 8 });
    expect({ refused, oversized }).toEqual({ refused: 151, oversized: 150 });
    expect(honest.filter((sid) => !index.isRevoked({ sid }))).toEqual([]);
    expect(index.sessionCount).toBe(1_000);
    expect(await ns.raw.zcard(sessions)).toBe(1_000);
    expect(ns.logs.info.filter((m) => m.includes('reading them again'))).toEqual([]);
  });

  it('a member of 20 MB added beside poison that is not UTF-8, after the ranges read it: the lookup of the poison by its bytes does not fetch it', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const exp = Date.now() + 600_000;
    // An id too long to be honest whose bytes are not UTF-8: looked up among the members of its expiry, as bytes.
    await ns.raw.zadd(sessions, exp, Buffer.concat([Buffer.from([0xff]), Buffer.alloc(300, 'x')]), exp + 1, 'honest');
    let planted = false;
    interceptCommand(redis, 'callBuffer', async (args, send) => {
      if (!planted && String(args[1]).includes('ZRANGEBYSCORE')) {
        planted = true;
        await ns.raw.zadd(sessions, exp, huge('h'));
      }
      return send();
    });
    const before = await sentBytes();
    const first = await loadRevocationSnapshot(redis, new RevocationIndex(), 3_600_000);
    expect(planted).toBe(true);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    expect(first).toMatchObject({ refused: 1, oversized: 0 });
    // The next load's ranges remove it.
    expect(await loadRevocationSnapshot(redis, new RevocationIndex(), 3_600_000)).toMatchObject({ loaded: 1, refused: 1, oversized: 1 });
    expect(await ns.raw.zrange(sessions, 0, -1)).toEqual(['honest']);
  });

  it('3,000 oversized members just below 5,000 honest ones: a start removes and counts them all, in calls of at most 1,000 removals of few reads each', async () => {
    const ns = await namespace();
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const exp = Date.now() + 600_000;
    const honest = Array.from({ length: 5_000 }, (_, i) => `honest-${i}`);
    for (let i = 0; i < honest.length; i += 1_000) await ns.raw.zadd(sessions, ...honest.slice(i, i + 1_000).flatMap((sid, j) => [exp - (i + j), sid]));
    // 780 bytes each, one after the other right past the first range (ranks 0 to 5,000): the range's
    // last entry is the first of them. Each pass of the old script removed one and read the 5,001 again.
    const junk = (i: number) => Buffer.concat([Buffer.from(`junk-${i}-`), Buffer.alloc(780, 'j')]).subarray(0, 780);
    for (let i = 0; i < 3_000; i += 1_000) await ns.raw.zadd(sessions, ...Array.from({ length: 1_000 }, (_, j) => [exp - 10_000 - (i + j), junk(i + j)]).flat());
    const admin = closeLater(await server.admin());
    const before = await commandCalls(admin, 'zrange');
    const started = await instance(ns);
    // ZRANGE calls inside the scripts: 3 calls of 1,000 removals (each a read of the range and about
    // 11 reads ahead, doubling), the second range's calls: a few dozen. The old loop made 3,001 (a
    // read of 5,001 members per removal: 15 million members copied, seconds of the server's time).
    expect((await commandCalls(admin, 'zrange')) - before).toBeLessThan(300);
    expect(started.stats.refused.snapshot).toBe(3_000);
    expect(honest.filter((sid) => started.check({ sid }) !== 'revoked')).toEqual([]);
    expect(await ns.raw.zcard(sessions)).toBe(5_000);
    expect(ns.logs.warn.filter((m) => m.includes('3000 stored revocation entries longer than any kcc-redis client writes'))).toHaveLength(1);
  });

  it('2,500 oversized members in a row between honest ones, small ranges pipelined: each call stops after 1,000 removals, and the load still reads every honest session', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const exp = Date.now() + 600_000;
    const honest = Array.from({ length: 1_000 }, (_, i) => `honest-${i}`);
    // 500 honest, 2,500 oversized, 500 honest (by expiry, highest first).
    await ns.raw.zadd(sessions, ...honest.flatMap((sid, i) => [exp - (i < 500 ? i : 10_000 + i), sid]));
    const junk = (i: number) => Buffer.concat([Buffer.from(`junk-${i}-`), Buffer.alloc(MAX_MEMBER_BYTES, 'j')]).subarray(0, MAX_MEMBER_BYTES + 1);
    for (let i = 0; i < 2_500; i += 500) await ns.raw.zadd(sessions, ...Array.from({ length: 500 }, (_, j) => [exp - 1_000 - (i + j), junk(i + j)]).flat());
    const calls: number[] = [];
    interceptScript(redis, READ_RANK_RANGE, async (_keys, _args, send) => {
      const reply = (await send()) as [string[], number, number];
      calls.push(reply[1]);
      return reply;
    });
    const index = new RevocationIndex();
    expect(await loadRevocationSnapshot(redis, index, 3_600_000, { chunk: 100, window: 8 })).toMatchObject({ refused: 2_500, oversized: 2_500 });
    expect(Math.max(...calls)).toBe(MAX_REMOVED_PER_READ);
    expect(honest.filter((sid) => !index.isRevoked({ sid }))).toEqual([]);
    expect(await ns.raw.zcard(sessions)).toBe(1_000);
    // The calls again waited for one another, and the ranges sent after them began as far up as they moved the ranks.
    expect(ns.logs.info.filter((m) => m.includes('reading them again'))).toEqual([]);
  });

  it('a page read after an entry over more oversized members than one call removes: it says so, and the next call from the same entry goes on', async () => {
    const ns = await namespace();
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    await ns.raw.zadd(sessions, ...Array.from({ length: 30 }, (_, i) => [1_000_000 + i, `m-${String(i).padStart(2, '0')}`]).flat());
    for (let i = 0; i < 2_500; i += 500) await ns.raw.zadd(sessions, ...Array.from({ length: 500 }, (_, j) => [1_000_020 - (i + j + 1) / 10_000, Buffer.concat([Buffer.from(`junk-${i + j}-`), Buffer.alloc(MAX_MEMBER_BYTES, 'j')]).subarray(0, MAX_MEMBER_BYTES + 1)]).flat());
    // After m-25: m-24 down to m-15, the 2,500 between m-20 and m-19 removed over three calls.
    const read = async () => (await ns.raw.eval(READ_AFTER_ENTRY, 1, sessions, 'w', '1000025', 'm-25', 10, MAX_MEMBER_BYTES)) as [string[], number, number];
    expect(await read()).toEqual([[], MAX_REMOVED_PER_READ, 1]);
    expect(await read()).toEqual([[], MAX_REMOVED_PER_READ, 1]);
    const [page, removed, more] = await read();
    expect([removed, more]).toEqual([500, 0]);
    expect(page.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 10 }, (_, i) => `m-${24 - i}`));
    expect(await ns.raw.zcard(sessions)).toBe(30);
  });

  it('the page read after an entry (the last resort) removes oversized members and still returns a full page from the same start', async () => {
    const ns = await namespace();
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    await ns.raw.zadd(sessions, ...Array.from({ length: 30 }, (_, i) => [1_000 + i, `m-${String(i).padStart(2, '0')}`]).flat());
    await ns.raw.zadd(sessions, 1_020, Buffer.alloc(MAX_MEMBER_BYTES + 1, 'z'), 1_015, Buffer.alloc(MAX_MEMBER_BYTES + 5, 'y'));
    // After m-25 (score 1025): m-24 down to m-15, ten entries, the two oversized ones between them removed.
    const [page, removed] = (await ns.raw.eval(READ_AFTER_ENTRY, 1, sessions, 'w', '1025', 'm-25', 10, MAX_MEMBER_BYTES)) as [string[], number];
    expect(removed).toBe(2);
    expect(page.filter((_, i) => i % 2 === 0)).toEqual(Array.from({ length: 10 }, (_, i) => `m-${24 - i}`));
    expect(await ns.raw.zcard(sessions)).toBe(30);
  });
});

describe('keys this user may read but not write (%R~: Redis refuses EVAL on them, which may write)', () => {
  it('an oversized entry left in place is counted and warned once, however many reads meet it', async () => {
    const ns = await namespace();
    const admin = closeLater(await server.admin());
    const log = new EventLog(await connect(ns), { name: REVOCATION_KEYS.log, maxAgeMs: 600_000 });
    await admin.xadd(ns.key(REVOCATION_KEYS.log), '*', 'i', 'junk', 'e', huge());
    await admin.xadd(ns.key(REVOCATION_KEYS.log), '*', ...sessionEntry('after-it'));
    await withReadOnlyKeys(admin, ns.user, async () => {
      for (let read = 0; read < 3; read++) {
        const seen: string[] = [];
        await log.readAfter('0-0', (event) => seen.push(event.type));
        expect(seen).toEqual(['revocation']);
      }
      expect(log.dropped.oversized).toBe(1);
      expect(ns.logs.warn.filter((line) => line.includes('larger than any kcc-redis client writes'))).toHaveLength(1);
      expect(await ns.raw.xlen(ns.key(REVOCATION_KEYS.log))).toBe(2);
    });
  });

  it('a running instance reads past an oversized log entry through EVAL_RO, leaving it, and still sends far less than it', async () => {
    const ns = await namespace();
    const admin = closeLater(await server.admin());
    // 2 s: a poll every ~0.7 s. With 300 ms, a machine loaded past its cores (two runs of 2026-12-06)
    // kept every poll over the staleness limit for 10 s, and the freshness check below timed out.
    const reader = await instance(ns, { maxStalenessMs: 2_000 });
    await morePolls(reader, 2);
    const before = await sentBytes();
    await withReadOnlyKeys(admin, ns.user, async () => {
      // Planted by someone else (this user may not write): in the middle, with an honest entry after it.
      await admin.eval(
        "redis.call('XADD', KEYS[1], '*', 'i', 'junk', 'e', ARGV[1]) return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))",
        1,
        ns.key(REVOCATION_KEYS.log),
        huge(),
        ...sessionEntry('after-read-only'),
      );
      await until(() => reader.check({ sid: 'after-read-only' }) === 'revoked', 'the later entry read from the log');
      await morePolls(reader, 5);
      // Checked while the keys are still read-only: once they are writable again, the next poll removes the entry.
      // Fresh again within its 2 s, however busy the machine (a stuck reader never is).
      await until(() => !reader.stale, 'the reader fresh');
      // Left in place: counted once, however many reads meet it.
      expect(reader.stats.dropped.log.oversized).toBe(1);
      expect(await ns.raw.xlen(ns.key(REVOCATION_KEYS.log))).toBe(2);
    });
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
  });

  it('a new instance starts, the oversized client-wide not-before left in place and not sent; one with an oversized stored id fails to start, saying why', async () => {
    const ns = await namespace();
    const admin = closeLater(await server.admin());
    await ns.raw.set(ns.key(REVOCATION_KEYS.clientNotBefore), huge('9'));
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.sessions), Date.now() + 600_000, 'honest-session');
    const before = await sentBytes();
    const started = await withReadOnlyKeys(admin, ns.user, () => instance(ns));
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
    expect(started.check({ sid: 'honest-session' })).toBe('revoked');
    expect(started.stats.refused.snapshot).toBe(1);
    expect(await ns.raw.strlen(ns.key(REVOCATION_KEYS.clientNotBefore))).toBe(HUGE);
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.sessions), Date.now() + 600_000, huge('s'));
    await expect(withReadOnlyKeys(admin, ns.user, () => instance(ns))).rejects.toThrow(/longer than any client writes, which this user may not remove/);
    expect((await sentBytes()) - before).toBeLessThan(SMALL);
  });
});

describe('a poll that fails', () => {
  it('is warned once per outage, with the error and no secret, and its end said at info', async () => {
    const ns = await namespace();
    const reader = await instance(ns, { maxStalenessMs: 300 });
    await morePolls(reader, 2);
    const admin = closeLater(await connectAs(server, LOCAL_ADMIN_USER, { password: server.adminPassword }));
    await admin.call('ACL', 'SETUSER', ns.user, '-evalsha', '-eval');
    try {
      await until(() => reader.stale, 'the reader stale');
      // Several polls fail meanwhile: one warning.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await admin.call('ACL', 'SETUSER', ns.user, '+evalsha', '+eval');
    }
    await until(() => !reader.stale, 'the reader fresh again');
    const warnings = ns.logs.warn.filter((m) => m.includes('reading the revocation log in Redis failed'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/NOPERM/);
    expect(warnings[0]).not.toContain(server.users.get(ns.user)!.password);
    expect(ns.logs.info.filter((m) => m.includes('reading the revocation log in Redis works again'))).toHaveLength(1);
  });
});

describe('a tail (the key ring reads its log so)', () => {
  it('a read that fails on an entry too large for a string removes the oversized entries after its position and reads on', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const log = new EventLog<unknown>(redis, { name: 'tailed', maxAgeMs: 60_000 });
    // ioredis fails a reply holding an entry over 0x1fffffe8 characters ("Cannot create a string
    // longer than …"), read after read while the entry is there. Scaled down here: a read whose reply
    // holds a value over 1.5 MB fails so, and a 2 MB entry (over MAX_ENTRY_BYTES) is planted.
    const xread = Redis.prototype.xread as (...args: unknown[]) => Promise<unknown>;
    let failed = 0;
    Redis.prototype.xread = async function (this: Redis, ...args: unknown[]) {
      const reply = (await xread.apply(this, args)) as [string, [string, string[]][]][] | null;
      if (reply?.some(([, entries]) => entries.some(([, fields]) => fields.some((field) => field.length > 1_500_000)))) {
        failed++;
        throw new Error('Cannot create a string longer than 0x1fffffe8 characters');
      }
      return reply;
    } as typeof Redis.prototype.xread;
    const seen: unknown[] = [];
    try {
      const tail = await log.tail((event) => void seen.push(event.data), { blockMs: 100 });
      await log.append('first', 1);
      await until(() => seen.length === 1, 'the first event');
      await ns.raw.xadd(log.key, '*', 'i', 'junk', 'e', Buffer.alloc(2 * 1024 * 1024, 'x'));
      await log.append('second', 2);
      await until(() => seen.length === 2, 'the second event, past the junk');
      await tail.stop();
    } finally {
      Redis.prototype.xread = xread as typeof Redis.prototype.xread;
    }
    expect(failed).toBe(1);
    expect(seen).toEqual([1, 2]);
    expect(log.dropped).toMatchObject({ oversized: 1 });
    expect(await ns.raw.xlen(log.key)).toBe(2);
  });
});
