/**
 * Poisoned revocations: a writer with the app-env's own credentials (or an app bug) tries to make
 * every instance refuse every token with a not-before in the future, or to plant oversized ids. Each
 * entry (API, pub/sub, event log, stored state, the write script) refuses them, counts them, and
 * lets nothing of them survive in Redis. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { KccRedis, MAX_NOT_BEFORE_SKEW_SECONDS, Revocations, type RevocationOptions } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { NOT_BEFORE_READ_SLACK_SECONDS } from '../../../client/src/revocation/revocation-event.js';
import { RecentWrites } from '../../../client/src/revocation/recent-writes.js';
import { RevocationWriter } from '../../../client/src/revocation/revocation-writer.js';
import { MEMBERS_OF_SCORE } from '../../../client/src/revocation/revocation-snapshot.js';
import { nextEvent, until } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, interceptScript, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 23 }, (_, i) => ({ app: `poison${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();

const nowS = () => Math.floor(Date.now() / 1000);
/** 2100-01-01: the not-before of the attack. */
const YEAR_2100 = 4_102_444_800;

interface Namespace {
  readonly user: string;
  readonly key: (name: string) => string;
  readonly channel: (name: string) => string;
  /** A client authenticated as the app-env's own user: what the attacker holds. */
  readonly raw: Redis;
}

async function namespace(): Promise<Namespace> {
  const user = `poison${ns++}-prod`;
  const raw = await connectAs(server, user);
  const redis = await KccRedis.connect(kccOptions(server, user)); // only to close raw with the others
  closeLater(raw);
  closeLater(redis);
  return { user, raw, key: (name) => `${user}:{${user}}:${name}`, channel: (name) => `${user}:${name}` };
}

async function instance(user: string, options: RevocationOptions = {}): Promise<Revocations> {
  const redis = await KccRedis.connect(kccOptions(server, user, { reconnectMaxDelayMs: 100 }), ['subscriber']);
  closeLater(redis);
  return closeLater(await Revocations.start(redis, options));
}

/** A revocation message as an instance would write it, with whatever revocations the attacker chooses. */
function message(revocations: unknown[], v = 1): string {
  return encodeEnvelope('attacker', 'revocation', { v, revocations }, 64 * 1024).json;
}

describe('a not-before in the future is refused at every entry', () => {
  it('API: revokeAllBefore / revokeSubject with a future time throw a KccInputError naming the value, and change nothing here or in Redis', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    const token = { sub: 'alice', sid: 's1', iat: nowS() - 5 };
    const error = await revocations.revokeAllBefore(YEAR_2100).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KCC_INPUT_INVALID' });
    expect((error as Error).message).toMatch(/^revokeAllBefore: notBefore 4102444800 \(2100-01-01T00:00:00\.000Z\) is more than 60 s in the future .*Math\.floor\(Date\.now\(\) \/ 1000\)/);
    await expect(revocations.revokeSubject('alice', YEAR_2100)).rejects.toThrow(/^revokeSubject: notBefore 4102444800/);
    expect(revocations.check(token)).toBe('active');
    expect(revocations.stats.refused.api).toBe(2);
    expect(revocations.stats.clientNotBefore).toBe(0);
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    expect(await ns.raw.zcard(ns.key(REVOCATION_KEYS.subjects))).toBe(0);
    // Within the skew is accepted: clocks differ.
    await revocations.revokeAllBefore(nowS() + MAX_NOT_BEFORE_SKEW_SECONDS - 1);
    expect(revocations.check(token)).toBe('revoked');
  });

  // A docs review (2026-12-07): from JavaScript, revokeSubject(sub, null) floored null to 0 and
  // resolved, revoking nothing, where revokeSession refuses a null issuedUpTo.
  // Then a review of that fix: 0, a negative number or a duration (performance.now() / 1000) still
  // resolved, revoking nothing, where revokeSession refuses an issuedUpTo before November 2023.
  it('API: a not-before that is no number (null, a string, true) or no time (0, -1, a duration) is refused, naming the method, and changes nothing', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    for (const [value, kind] of [[null, 'null'], [String(nowS()), 'a string'], [true, 'a boolean'], [undefined, 'undefined']] as const) {
      await expect(revocations.revokeSubject('alice', value as never), kind).rejects.toThrow(`revokeSubject: notBefore must be a time in epoch seconds (a number), got ${kind}`);
      await expect(revocations.revokeAllBefore(value as never), kind).rejects.toThrow(`revokeAllBefore: notBefore must be a time in epoch seconds (a number), got ${kind}`);
    }
    for (const value of [0, -1, performance.now() / 1000]) {
      await expect(revocations.revokeSubject('alice', value), String(value)).rejects.toThrow(new RegExp(`^revokeSubject: notBefore ${value} \\(.*\\) is not a time in epoch seconds`));
      await expect(revocations.revokeAllBefore(value), String(value)).rejects.toThrow(new RegExp(`^revokeAllBefore: notBefore ${value} \\(.*\\) is not a time in epoch seconds`));
    }
    expect(revocations.stats.refused.api).toBe(14);
    expect([revocations.stats.revokedSubjects, revocations.stats.clientNotBefore]).toEqual([0, 0]);
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    expect(await ns.raw.zcard(ns.key(REVOCATION_KEYS.subjects))).toBe(0);
  });

  it('pub/sub: a poison revocation in a message is dropped and counted; the honest ones beside it apply', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    const applied = nextEvent(revocations, 'applied');
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message([
      { kind: 'client', nbf: YEAR_2100 },
      { kind: 'subject', sub: 'bob', nbf: YEAR_2100 },
      { kind: 'session', sid: 's'.repeat(257), exp: Date.now() + 60_000 },
      { kind: 'a-kind-of-a-later-release', sid: 'x' },
      { kind: 'session', sid: 'honest', exp: Date.now() + 60_000 },
    ]));
    await applied;
    expect(revocations.check({ sid: 'honest' })).toBe('revoked');
    expect(revocations.check({ sub: 'bob', sid: 'other', iat: nowS() })).toBe('active');
    // The unknown kind is skipped, not refused: a newer release's revocation during a rolling deploy is no poison alert.
    expect(revocations.stats).toMatchObject({ clientNotBefore: 0, revokedSubjects: 0, refused: { bus: 3, log: 0 }, unknownKinds: 1 });
  });

  it('event log: a poison entry appended to the stream is dropped and counted when the log is read', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user, { maxStalenessMs: 300 }); // reads the log every 100 ms
    const applied = nextEvent(revocations, 'applied');
    const json = message([{ kind: 'client', nbf: YEAR_2100 }, { kind: 'session', sid: 'honest-log', exp: Date.now() + 60_000 }]);
    await ns.raw.xadd(ns.key(REVOCATION_KEYS.log), '*', 'i', JSON.parse(json).id, 'e', json);
    await applied;
    expect(revocations.check({ sid: 'honest-log' })).toBe('revoked');
    expect(revocations.check({ sid: 'other', iat: nowS() })).toBe('active');
    expect(revocations.stats.refused.log).toBe(1);
  });

  it('a listener of the app that throws on "applied" is logged; every revocation of the batch is still applied', async () => {
    const ns = await namespace();
    const warnings: string[] = [];
    const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user, { logger: { info: () => {}, warn: (message: string) => void warnings.push(message) } }), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    revocations.on('applied', () => {
      throw new Error('a bug in the app');
    });
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message(['one', 'two', 'three'].map((sid) => ({ kind: 'session', sid, exp: Date.now() + 60_000 }))));
    await until(() => revocations.stats.applied === 3, 'the three revocations of the batch');
    expect(['one', 'two', 'three'].map((sid) => revocations.check({ sid }))).toEqual(['revoked', 'revoked', 'revoked']);
    expect(warnings.filter((w) => w.includes('"applied" event threw'))).toHaveLength(3);
  });

  it('a session message whose upTo lies far ahead or is not a whole number is applied as the whole session, held for the lifetime only, never dropped (an attack review: held until 2100 in memory; dropped)', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user, { sessionMaxLifetimeMs: 3_600_000 });
    const exp = Date.now() + 3_600_000;
    const offline = (sid: string, iat: number) => revocations.check({ sid, iat, scope: 'openid offline_access' });
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message([
      { kind: 'session', sid: 'far-ahead', exp, upTo: YEAR_2100 },
      { kind: 'session', sid: 'fraction', exp, upTo: nowS() - 100.5 },
      { kind: 'session', sid: 'text', exp, upTo: String(nowS() - 100) },
      { kind: 'session', sid: 'honest', exp, upTo: nowS() - 100 },
    ]));
    await until(() => revocations.stats.applied === 4, 'the four revocations of the batch');
    expect(['far-ahead', 'fraction', 'text', 'honest'].map((sid) => offline(sid, nowS()))).toEqual(['revoked', 'revoked', 'revoked', 'active']);
    expect(revocations.stats.refused.bus).toBe(0);
    // Held for the lifetime, not until 2100: a prune past it drops them (the index's own, as the minute's prune runs it).
    const index = (revocations as unknown as { index: { prune(nowMs: number, maxLifetimeMs: number): void; sessionCount: number } }).index;
    index.prune(Date.now() + 3_600_000 + 5_000, 3_600_000);
    expect(index.sessionCount).toBe(0);
  });

  it('messages of another format version are dropped whole and counted', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message([{ kind: 'session', sid: 'v2', exp: Date.now() + 60_000 }], 2));
    const applied = nextEvent(revocations, 'applied');
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message([{ kind: 'session', sid: 'v1', exp: Date.now() + 60_000 }]));
    await applied; // delivered in order: the v2 message came first
    expect(revocations.check({ sid: 'v2' })).toBe('active');
    expect(revocations.stats.messagesDropped).toBe(1);
  });

  it('stored state: an instance starting on poisoned state refuses it, counts it, removes it from Redis, and loads the rest', async () => {
    const ns = await namespace();
    const long = 'x'.repeat(300);
    await ns.raw.set(ns.key(REVOCATION_KEYS.clientNotBefore), YEAR_2100);
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), YEAR_2100, 'carol', nowS() - 60, 'dave');
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.sessions), Date.now() + 60_000, long, Date.now() + 60_000, 'honest-session');
    const revocations = await instance(ns.user);
    expect(revocations.check({ sid: 'any', sub: 'carol', iat: nowS() - 1 })).toBe('active');
    expect(revocations.check({ sub: 'dave', iat: nowS() - 120 })).toBe('revoked');
    expect(revocations.check({ sid: 'honest-session' })).toBe('revoked');
    expect(revocations.check({ sid: long })).toBe('active');
    expect(revocations.stats.refused.snapshot).toBe(3);
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    expect(await ns.raw.zrange(ns.key(REVOCATION_KEYS.subjects), '0', '-1')).toEqual(['dave']);
    expect(await ns.raw.zrange(ns.key(REVOCATION_KEYS.sessions), '0', '-1')).toEqual(['honest-session']);
    // A second instance finds nothing left to refuse.
    expect((await instance(ns.user)).stats.refused.snapshot).toBe(0);
  });

  it('stored state: poison whose members are not UTF-8 (raw bytes) is removed as stored, and a second instance refuses nothing', async () => {
    const ns = await namespace();
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const subjects = ns.key(REVOCATION_KEYS.subjects);
    const exp = Date.now() + 60_000;
    // Two ids too long to be honest that read as the same text (0xFE and 0xFF are never UTF-8), one
    // of them also with an expiry of its own; a subject's not-before in 2100; and beside them, kept:
    // an id with U+FFFD written as UTF-8, and a short one of raw bytes (applied as text, as any id).
    const long = (lead: number) => Buffer.concat([Buffer.from([lead]), Buffer.alloc(300, 'x')]);
    await ns.raw.zadd(sessions, exp, long(0xfe), exp, long(0xff), exp + 1, Buffer.concat([long(0xff), Buffer.from('y')]), exp, '\uFFFD-honest', exp, Buffer.from([0xff, 0x41]));
    await ns.raw.zadd(subjects, YEAR_2100, Buffer.from([0xc3, 0x28, 0x62]), nowS() - 60, 'dave');
    const revocations = await instance(ns.user);
    expect(revocations.stats.refused.snapshot).toBe(3);
    expect(revocations.check({ sid: '\uFFFD-honest' })).toBe('revoked');
    expect(revocations.check({ sub: 'dave', iat: nowS() - 120 })).toBe('revoked');
    expect(await ns.raw.zrangeBuffer(sessions, 0, -1)).toEqual([Buffer.from('\uFFFD-honest'), Buffer.from([0xff, 0x41])]);
    expect(await ns.raw.zrange(subjects, 0, -1)).toEqual(['dave']);
    expect((await instance(ns.user)).stats.refused.snapshot).toBe(0);
  });

  it('stored state: such poison under 200 expiries is looked up 64 expiries at a time (pipelined), and all of it removed', async () => {
    const ns = await namespace();
    const sessions = ns.key(REVOCATION_KEYS.sessions);
    const exp = Date.now() + 60_000;
    await ns.raw.zadd(sessions, ...Array.from({ length: 200 }, (_, i) => [exp + i, Buffer.concat([Buffer.from([0xff]), Buffer.from(`${i}-`), Buffer.alloc(300, 'x')])]).flat());
    await ns.raw.zadd(sessions, exp, 'honest-session');
    const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user), ['subscriber']));
    let inFlight = 0;
    let most = 0;
    interceptScript(redis, MEMBERS_OF_SCORE, async (_keys, _args, send) => {
      most = Math.max(most, ++inFlight);
      try {
        return await send();
      } finally {
        inFlight--;
      }
    });
    const revocations = closeLater(await Revocations.start(redis));
    expect(revocations.stats.refused.snapshot).toBe(200);
    expect(most).toBe(64);
    expect(await ns.raw.zrange(sessions, 0, -1)).toEqual(['honest-session']);
  });

  it('write script: a poison not-before reaching it is not stored, and a stored one neither survives an honest write nor blocks it', async () => {
    const ns = await namespace();
    const redis = await KccRedis.connect(kccOptions(server, ns.user));
    closeLater(redis);
    const writer = new RevocationWriter(redis, 3_600_000);
    // Past every client-side check (an older or buggy writer): the script itself refuses it.
    await writer.write({ kind: 'client', nbf: YEAR_2100 });
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    await writer.write({ kind: 'subject', sub: 'erin', nbf: YEAR_2100 });
    expect(await ns.raw.zcard(ns.key(REVOCATION_KEYS.subjects))).toBe(0);
    // Planted around the script, then an honest, earlier not-before: it is written (GT would have kept the poison).
    await ns.raw.set(ns.key(REVOCATION_KEYS.clientNotBefore), YEAR_2100);
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), YEAR_2100, 'erin');
    const honest = nowS() - 30;
    await writer.write({ kind: 'client', nbf: honest });
    await writer.write({ kind: 'subject', sub: 'erin', nbf: honest });
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBe(String(honest));
    expect(await ns.raw.zscore(ns.key(REVOCATION_KEYS.subjects), 'erin')).toBe(String(honest));
  });

  // From an attack review: Lua's tonumber reads 'nan' as NaN, which compares false with everything,
  // so a stored 'nan' was neither removed nor replaced by the write, and the lost-writes check found
  // the honest value present; a new instance then loaded no client-wide not-before at all.
  it.each(['nan', 'NaN', '-nan'])('write script: a stored client-wide value %s neither blocks an honest write nor hides that Redis lacks it', async (planted) => {
    const ns = await namespace();
    const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user)));
    const clientKey = ns.key(REVOCATION_KEYS.clientNotBefore);
    const honest = nowS() - 30;
    const recent = new RecentWrites(redis, 3_600_000);
    recent.add({ kind: 'client', nbf: honest });
    await ns.raw.set(clientKey, planted);
    expect(await recent.missing()).toEqual([{ kind: 'client', nbf: honest }]);
    await new RevocationWriter(redis, 3_600_000).write({ kind: 'client', nbf: honest });
    expect(await ns.raw.get(clientKey)).toBe(String(honest));
    expect(await recent.missing()).toEqual([]);
    const fresh = await instance(ns.user);
    expect(fresh.check({ sid: 'any', iat: honest - 1 })).toBe('revoked');
  });

  it('write script: the bound is the server\'s clock, not the writer\'s: a writer 10 minutes ahead cannot store its own "now"', async () => {
    const ns = await namespace();
    const serverNowS = nowS();
    // Only Date is faked, and frozen: this process's clock reads 10 minutes ahead of the server's.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 600_000 });
    try {
      const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user, { heartbeat: false })));
      const writer = new RevocationWriter(redis, 3_600_000);
      await writer.write({ kind: 'subject', sub: 'frank', nbf: nowS() }); // its "now": 9 minutes past the bound
      await writer.write({ kind: 'client', nbf: nowS() });
      expect(await ns.raw.zcard(ns.key(REVOCATION_KEYS.subjects))).toBe(0);
      expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
      await writer.write({ kind: 'subject', sub: 'frank', nbf: serverNowS }); // the server's now is within it
      expect(await ns.raw.zscore(ns.key(REVOCATION_KEYS.subjects), 'frank')).toBe(String(serverNowS));
    } finally {
      vi.useRealTimers();
    }
  });
});

// An instance takes a not-before from its app up to now + 60 s by its own clock; every other
// instance judges it by another clock, which may run a few seconds behind. Before the read slack
// (NOT_BEFORE_READ_SLACK_SECONDS), one taken a second before the limit was refused by receivers,
// removed from Redis by the next write and purged by the next start where clocks ran behind.
describe('a not-before taken near the limit by an instance whose clock runs ahead is kept by the others', () => {
  const slack = NOT_BEFORE_READ_SLACK_SECONDS;

  it('pub/sub: one 5 s past the limit is applied; one past the limit and the slack is refused', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    const applied = nextEvent(revocations, 'applied');
    const now = nowS();
    await ns.raw.publish(ns.channel(REVOCATION_KEYS.channel), message([
      { kind: 'subject', sub: 'near', nbf: now + MAX_NOT_BEFORE_SKEW_SECONDS + 5 },
      { kind: 'subject', sub: 'far', nbf: now + MAX_NOT_BEFORE_SKEW_SECONDS + slack + 5 },
    ]));
    await applied;
    expect(revocations.check({ sub: 'near', sid: 's', iat: now })).toBe('revoked');
    expect(revocations.check({ sub: 'far', sid: 's', iat: now })).toBe('active');
    expect(revocations.stats.refused.bus).toBe(1);
  });

  it('API: the slack is for what comes from Redis only: a not-before 3 s past the limit is refused', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user);
    await expect(revocations.revokeAllBefore(nowS() + MAX_NOT_BEFORE_SKEW_SECONDS + 3)).rejects.toThrow(/more than 60 s in the future/);
    await expect(revocations.revokeSubject('mia', nowS() + MAX_NOT_BEFORE_SKEW_SECONDS + 3)).rejects.toThrow(/more than 60 s in the future/);
    expect(revocations.stats.refused.api).toBe(2);
  });

  it('write script, client-wide: one 5 s past the limit is stored and kept; one past the slack is not stored, and removed when planted', async () => {
    const ns = await namespace();
    const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user)));
    const writer = new RevocationWriter(redis, 3_600_000);
    const near = nowS() + MAX_NOT_BEFORE_SKEW_SECONDS + 5;
    await writer.write({ kind: 'client', nbf: near + slack });
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    await writer.write({ kind: 'client', nbf: near });
    await writer.write({ kind: 'subject', sub: 'nora', nbf: nowS() });
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBe(String(near));
    await ns.raw.set(ns.key(REVOCATION_KEYS.clientNotBefore), near + slack);
    await writer.write({ kind: 'subject', sub: 'nora', nbf: nowS() });
    expect(await ns.raw.get(ns.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
  });

  it('write script: one stored 5 s past the limit survives another writer\'s write, and is raised to, not refused', async () => {
    const ns = await namespace();
    const redis = closeLater(await KccRedis.connect(kccOptions(server, ns.user)));
    const writer = new RevocationWriter(redis, 3_600_000);
    const near = nowS() + MAX_NOT_BEFORE_SKEW_SECONDS + 5;
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), near, 'gina');
    await writer.write({ kind: 'subject', sub: 'hank', nbf: nowS() });
    expect(await ns.raw.zscore(ns.key(REVOCATION_KEYS.subjects), 'gina')).toBe(String(near));
    await writer.write({ kind: 'subject', sub: 'ivy', nbf: near });
    expect(await ns.raw.zscore(ns.key(REVOCATION_KEYS.subjects), 'ivy')).toBe(String(near));
    // Past the slack too: poison, removed by the next write.
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), near + slack, 'jack');
    await writer.write({ kind: 'subject', sub: 'hank', nbf: nowS() });
    expect(await ns.raw.zscore(ns.key(REVOCATION_KEYS.subjects), 'jack')).toBeNull();
  });

  it('stored state, client-wide: one 5 s past the limit is loaded; one past the slack is refused and removed', async () => {
    const near = await namespace();
    const now = nowS();
    await near.raw.set(near.key(REVOCATION_KEYS.clientNotBefore), now + MAX_NOT_BEFORE_SKEW_SECONDS + 5);
    const kept = await instance(near.user);
    expect(kept.check({ sid: 's', iat: now })).toBe('revoked');
    expect(kept.stats.refused.snapshot).toBe(0);
    const far = await namespace();
    await far.raw.set(far.key(REVOCATION_KEYS.clientNotBefore), now + MAX_NOT_BEFORE_SKEW_SECONDS + slack + 5);
    const refused = await instance(far.user);
    expect(refused.check({ sid: 's', iat: now })).toBe('active');
    expect(refused.stats.refused.snapshot).toBe(1);
    expect(await far.raw.get(far.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
  });

  it('stored state: one 5 s past the limit is loaded and kept; one past the slack is refused and removed', async () => {
    const ns = await namespace();
    const now = nowS();
    await ns.raw.zadd(ns.key(REVOCATION_KEYS.subjects), now + MAX_NOT_BEFORE_SKEW_SECONDS + 5, 'kate', now + MAX_NOT_BEFORE_SKEW_SECONDS + slack + 5, 'liam');
    const revocations = await instance(ns.user);
    expect(revocations.check({ sub: 'kate', sid: 's', iat: now })).toBe('revoked');
    expect(revocations.check({ sub: 'liam', sid: 's', iat: now })).toBe('active');
    expect(revocations.stats.refused.snapshot).toBe(1);
    expect(await ns.raw.zrange(ns.key(REVOCATION_KEYS.subjects), '0', '-1')).toEqual(['kate']);
  });
});

describe('staleness is decided when asked', () => {
  it('after an event-loop stall longer than maxStalenessMs, the first check answers stale; then fresh again', async () => {
    const ns = await namespace();
    const revocations = await instance(ns.user, { maxStalenessMs: 300 });
    await until(() => revocations.check({ sid: 'never-revoked' }) === 'active', 'a current state before the stall');
    // Nothing runs during the stall: no timer, no reply handler.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 900);
    expect(revocations.check({ sid: 'never-revoked' })).toBe('stale');
    expect(revocations.rejects({ sid: 'never-revoked' })).toBe(true);
    expect(revocations.stale).toBe(true);
    await until(() => revocations.check({ sid: 'never-revoked' }) === 'active', 'the next log read to bring the state current again');
  });
});
