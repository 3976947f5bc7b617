/**
 * What the current readers do with a later release's formats: each committed fixture with its version
 * raised and a field added (and, for the formats that promise it, a field added at the same version).
 * A newer version is refused or skipped and counted, never misread, never written over, and the
 * instance goes on with what it reads; unknown fields at the current version are ignored (and kept,
 * where a reader rewrites what it read). docs/formats.md says what a change must do so that old
 * and new instances run side by side.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KccKeyRingError, KccRedis, KeyRing, Revocations, listInstances } from '../../../client/src/index.js';
import { KeyEncryptionKey } from '../../../client/src/keyring/key-encryption.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { parseStoredRing } from '../../../client/src/keyring/ring-data.js';
import { RingLog } from '../../../client/src/keyring/ring-log.js';
import { ConnectorSeal } from '../../../client/src/keycloak-connector/connector-seal.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';
import { ringPayload } from '../../support/stored-ring.js';
import { FIXTURE_APP_ENV, FIXTURE_PREFIX, FIXTURE_USER, type StoredValue, loadKeys, readFixture } from './format-fixtures.js';
import type { ConnectorSealFixture, HeartbeatFixture, KeyRingFixture, RevocationsFixture } from './format-writers.js';

const server = useTestRedis({ appEnvs: [FIXTURE_APP_ENV], persistence: 'none' });
const closeLater = closeAfterEach();
const CENTURY_MS = 100 * 365 * 24 * 3_600_000;
const TAG = '{fixture-prod}';

afterEach(async () => {
  await (await server.admin()).flushall();
});

/** A logger that keeps what it is told. */
function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

async function connect(logger = recordingLogger().logger, roles: 'subscriber'[] = []): Promise<KccRedis> {
  return closeLater(await KccRedis.connect(kccOptions(server, FIXTURE_USER, { heartbeat: false, logger }), roles));
}

const hashValue = (stored: StoredValue | undefined) => (stored as Extract<StoredValue, { type: 'hash' }>).value;

describe('key ring written by a later release', () => {
  const fixture = readFixture<KeyRingFixture>('keyring-v1.json');
  const ringKey = `${FIXTURE_PREFIX}${TAG}:keyring`;
  const kek = new KeyEncryptionKey(fixture.kek);
  const storedText = hashValue(fixture.redis[ringKey]).value!;

  /** The fixture's ring document, changed, authenticated under the fixture's key-encryption key (what a later release holding it writes). */
  function laterRing(change: (doc: Record<string, unknown> & { keys: Record<string, unknown>[] }) => void): Promise<string> {
    const doc = structuredClone(ringPayload(storedText)) as unknown as Record<string, unknown> & { keys: Record<string, unknown>[] };
    doc.generation = fixture.meaning.generation + 1;
    doc.writtenAt = Date.now();
    change(doc);
    return kek.authenticate(JSON.stringify(doc));
  }
  const version2 = () => laterRing((doc) => {
    doc.v = 2;
    doc.futureField = { from: 'release 2' };
  });

  async function start(logger = recordingLogger().logger, refreshIntervalMs = 3_600_000): Promise<KeyRing> {
    return closeLater(await KeyRing.start(await connect(logger), { keyEncryptionKey: fixture.kek, env: {}, algorithm: 'PS256', rotateEveryMs: CENTURY_MS, refreshIntervalMs }));
  }

  it('version 2 in Redis: a starting instance refuses to start, saying a newer release wrote it, and leaves it as stored', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const newer = await version2();
    await admin.hset(ringKey, 'version', 2, 'value', newer);
    const error = await start().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KccKeyRingError);
    expect((error as Error).message).toMatch(/newer-format.*format version 2, written by a newer release.*Upgrade this instance/s);
    expect(await admin.hget(ringKey, 'value')).toBe(newer);
  });

  it('version 2 replacing the ring: a running instance keeps signing with the ring it holds, reports it degraded, and never writes over it', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const { lines, logger } = recordingLogger();
    const ring = await start(logger, 100);
    const degraded = nextEvent<[string]>(ring, 'degraded');
    const newer = await version2();
    await admin.hset(ringKey, 'version', 2, 'value', newer);
    const [reason] = await degraded;
    expect(reason).toMatch(/newer-format/);
    expect(lines.some((l) => l.level === 'warn' && /newer-format/.test(l.message))).toBe(true);
    // Re-read every 100 ms: a second on, still what the later release wrote, and still signing.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await admin.hget(ringKey, 'value')).toBe(newer);
    expect(ring.signingKey().kid).toBe(fixture.meaning.activeKid);
    expect(ring.health()).toMatchObject({ status: 'degraded', generation: fixture.meaning.generation });
    // A rotation asked for meanwhile fails rather than write over it.
    await expect(ring.rotate({ immediate: true })).rejects.toThrow(KccKeyRingError);
    expect(await admin.hget(ringKey, 'value')).toBe(newer);
  });

  it('version 1 with fields a later release added: adopted, and the fields kept when this release rewrites the ring', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const ring = await start(recordingLogger().logger, 100);
    const withFields = await laterRing((doc) => {
      doc.futureField = { from: 'release 1.1' };
      for (const key of doc.keys) key.futureKeyField = 'kept';
    });
    await admin.hset(ringKey, 'version', 2, 'value', withFields);
    await until(() => ring.health().generation === fixture.meaning.generation + 1, 'the ring with more fields adopted');
    expect(ring.signingKey().kid).toBe(fixture.meaning.activeKid);
    // Every key read keeps its added field (parsed as a reader does, after the authentication).
    expect(parseStoredRing(kek.verify(withFields), FIXTURE_PREFIX).keys.every((k) => (k as unknown as Record<string, unknown>).futureKeyField === 'kept')).toBe(true);
    // Rewritten by this release (an emergency rotation): the later release's top-level field survives.
    await ring.rotate({ immediate: true });
    const rewritten = ringPayload((await admin.hget(ringKey, 'value'))!);
    expect(rewritten.generation).toBe(fixture.meaning.generation + 2);
    expect(rewritten.futureField).toEqual({ from: 'release 1.1' });
  });

  it('the ring log: a tagged record with more fields still counts; a record in envelope version 2 is dropped by a tail, the instance goes on', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const logKey = `${FIXTURE_PREFIX}${TAG}:keyring-events`;
    const entries = (fixture.redis[logKey] as Extract<StoredValue, { type: 'stream' }>).value;
    const changed = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!) as { type: string; data: Record<string, unknown> }).find((e) => e.data?.generation === fixture.meaning.generation)!;
    const redis = await connect();
    const keks = await KeyEncryptionKeys.load(async () => ({ kek: fixture.kek }), recordingLogger().logger, false);
    // More data fields at version 1: the tag vouches for "this namespace reached generation N" alone.
    const extra = { ...changed, id: randomUUID(), data: { ...changed.data, futureField: 1 } };
    await admin.del(logKey);
    await admin.xadd(logKey, '*', 'i', extra.id as unknown as string, 'e', JSON.stringify(extra));
    expect((await new RingLog(redis, 3_600_000).newest(keks)).generation).toBe(fixture.meaning.generation);
    // A tail hands a record in envelope version 2 to no handler; the next version-1 record reaches it.
    const heard: string[] = [];
    const tail = await new RingLog(redis, 3_600_000).tail((event) => void heard.push(event.id), { blockMs: 100 });
    try {
      const v2 = { ...changed, v: 2, id: randomUUID(), futureField: 1 };
      await admin.xadd(logKey, '*', 'i', v2.id, 'e', JSON.stringify(v2));
      const v1 = { ...changed, id: randomUUID() };
      await admin.xadd(logKey, '*', 'i', v1.id, 'e', JSON.stringify(v1));
      await until(() => heard.length > 0, 'the version-1 record');
      expect(heard).toEqual([v1.id]);
    } finally {
      await tail.stop();
    }
  });
});

describe('revocations written by a later release', () => {
  const fixture = readFixture<RevocationsFixture>('revocations-v1.json');
  const m = fixture.meaning;
  const channel = `${FIXTURE_PREFIX}${REVOCATION_KEYS.channel}`;
  const logKey = `${FIXTURE_PREFIX}${TAG}:${REVOCATION_KEYS.log}`;
  type Envelope = { v: number; id: string; at: number; data: { v: number; revocations: Record<string, unknown>[] } } & Record<string, unknown>;
  const message = (carries: string): Envelope => JSON.parse(fixture.messages.find((x) => x.carries === carries)!.message) as Envelope;
  const whole = message('whole session');
  const session = (sid: string, extra: Record<string, unknown> = {}) => ({ ...whole.data.revocations[0], sid, ...extra });
  /** A copy of the whole-session message with a new id (and `change` applied). */
  const variant = (change: (e: Envelope) => void): string => {
    const e = structuredClone(whole);
    e.id = randomUUID();
    change(e);
    return JSON.stringify(e);
  };

  /** Later releases' messages, then the fixture's own whole-session message (sent last: once it is applied, every earlier one was read). */
  const later = [
    variant((e) => {
      e.v = 2;
      e.futureField = 1;
      e.data.revocations = [session('sid-in-envelope-v2')];
    }),
    variant((e) => {
      e.data.v = 2;
      e.data.revocations = [session('sid-in-batch-v2')];
    }),
    variant((e) => {
      e.data.revocations = [
        { kind: 'session-v2', sid: 'sid-of-unknown-kind', exp: whole.data.revocations[0]!.exp },
        session('sid-with-more-fields', { futureField: 1 }),
        session('sid-up-to-in-another-form', { upTo: '2026-01-01T00:00:00Z' }),
      ];
    }),
    variant((e) => {
      const push = message('relayed Keycloak push').data.revocations[0]!;
      e.data.revocations = [{ ...push, v: 2 }];
    }),
    JSON.stringify(whole),
  ];

  async function reader(logger = recordingLogger().logger): Promise<Revocations> {
    return closeLater(await Revocations.start(await connect(logger, ['subscriber']), { sessionMaxLifetimeMs: m.sessionMaxLifetimeMs, maxStalenessMs: 300 }));
  }

  it.each(['bus', 'log'] as const)('messages from the %s: a newer envelope or batch dropped and counted, a revocation of an unknown kind or a newer relayed push skipped and counted, the rest applied', async (source) => {
    const { lines, logger } = recordingLogger();
    const revocations = await reader(logger);
    const admin = await server.admin();
    const publisher = closeLater(await connectAs(server, FIXTURE_USER));
    for (const text of later) {
      if (source === 'bus') await publisher.publish(channel, text);
      else await admin.xadd(logKey, '*', 'i', (JSON.parse(text) as Envelope).id, 'e', text);
    }
    await until(() => revocations.check({ sid: m.wholeSession }) === 'revoked', 'the last (version 1) message applied');
    const at = { sub: 'someone', iat: m.at + 10, scope: 'openid offline_access' };
    // Not read as anything: dropped whole, and counted (stats, and the kcc_redis.revocation.message.dropped metric).
    expect(revocations.check({ sid: 'sid-in-envelope-v2', ...at })).toBe('active');
    expect(revocations.check({ sid: 'sid-in-batch-v2', ...at })).toBe('active');
    expect(revocations.stats.dropped[source]).toEqual({ oversized: 0, malformed: 1, invalid: 1 });
    expect(revocations.stats.messagesDropped).toBe(2);
    // And said, once for both (at most once a minute): only counted, such a rolling deploy lost logouts in silence.
    const dropped = source === 'bus' ? 'message' : 'log entry';
    expect(lines.filter((l) => l.level === 'warn' && l.message.startsWith(`a revocation ${dropped} was dropped unread`))).toHaveLength(1);
    // Beside known ones, an unknown kind is skipped (counted, logged as info); fields not known are ignored.
    expect(revocations.check({ sid: 'sid-of-unknown-kind', ...at })).toBe('active');
    expect(revocations.check({ sid: 'sid-with-more-fields', ...at })).toBe('revoked');
    // An up-to time in a form not known: the whole session (refusing more, never less).
    expect(revocations.check({ sid: 'sid-up-to-in-another-form', ...at })).toBe('revoked');
    // A relayed push of version 2 is a kind this release does not know: skipped, the pushed not-before untouched.
    expect(revocations.stats.unknownKinds).toBe(2);
    expect(revocations.stats.pushedNotBefore).toBe(0);
    expect(revocations.stats.refused).toEqual({ api: 0, bus: 0, log: 0, snapshot: 0 });
    expect(lines.some((l) => l.level === 'info' && /kind this release does not know skipped/.test(l.message))).toBe(true);
    expect(revocations.stale).toBe(false);
  });

  it('state keys of a later version (:v2) beside this one\'s: not read, not touched; a stored push of version 2 refused with a warning, the rest of the state loaded', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis);
    const pushKey = `${FIXTURE_PREFIX}${TAG}:${REVOCATION_KEYS.keycloakPush}`;
    const stored = JSON.parse((fixture.redis[pushKey] as Extract<StoredValue, { type: 'string' }>).value) as Record<string, unknown>;
    await admin.set(pushKey, JSON.stringify({ ...stored, v: 2, futureField: 1 }));
    const laterKeys: Record<string, (string | number)[]> = {};
    for (const name of [REVOCATION_KEYS.sessions, REVOCATION_KEYS.sessionsUpTo, REVOCATION_KEYS.subjects, REVOCATION_KEYS.lifetimes]) {
      const key = `${FIXTURE_PREFIX}${TAG}:${name.replace(/:v1$/, ':v2')}`;
      laterKeys[key] = ['1', '{"a later":"member format"}'];
      await admin.zadd(key, 1, '{"a later":"member format"}');
    }
    const clientV2 = `${FIXTURE_PREFIX}${TAG}:client-not-before:v2`;
    await admin.set(clientV2, '{"notBefore":"in a later format"}');
    const { lines, logger } = recordingLogger();
    const revocations = await reader(logger);
    const check = (sid: string, sub: string, secondsBefore: number) => revocations.check({ sid, sub, iat: m.at - secondsBefore });
    expect(check(m.wholeSession, 'someone', 100)).toBe('revoked');
    expect(check(m.sessionUpTo.sid, 'someone', 300)).toBe('revoked');
    expect(check('another-session', m.subject.sub, 700)).toBe('revoked');
    expect(check('another-session', 'someone', 1_100)).toBe('revoked');
    // The stored push of version 2: not applied, refused with a warning; the client-wide not-before of version 1 still holds.
    expect(revocations.stats.pushedNotBefore).toBe(0);
    expect(revocations.stats.clientNotBefore).toBe(m.clientNotBefore);
    expect(revocations.stats.refused.snapshot).toBe(1);
    expect(lines.some((l) => l.level === 'warn' && /refused from the snapshot.*malformed stored keycloak-push/.test(l.message))).toBe(true);
    // This release writes (and prunes) its own keys only.
    await revocations.revokeSession('a-new-session');
    for (const [key, [score, member]] of Object.entries(laterKeys)) expect(await admin.zrange(key, 0, -1, 'WITHSCORES')).toEqual([member, score]);
    expect(await admin.get(clientV2)).toBe('{"notBefore":"in a later format"}');
  });
});

describe('heartbeat entry written by a later release', () => {
  const fixture = readFixture<HeartbeatFixture>('heartbeat-v1.json');

  it('version 2 counted as unreadable and not listed; version 1 with more fields listed, the fields left out', async () => {
    const admin = await server.admin();
    await loadKeys(admin, fixture.redis, { ttlMs: () => 45_000 });
    const entryKey = Object.keys(fixture.redis).find((k) => k.includes(':instance:'))!;
    const entry = JSON.parse((fixture.redis[entryKey] as Extract<StoredValue, { type: 'string' }>).value) as Record<string, unknown>;
    const index = `${FIXTURE_PREFIX}${TAG}:instances`;
    for (const [id, change] of [['later-instance', { v: 2, futureField: 1 }], ['richer-instance', { futureField: 1 }]] as const) {
      await admin.set(`${FIXTURE_PREFIX}${TAG}:instance:${id}`, JSON.stringify({ ...entry, instanceId: id, ...change }), 'PX', 45_000);
      await admin.zadd(index, Date.now() + 45_000, id);
    }
    const list = await listInstances(await connect());
    expect(list.unreadable).toBe(1);
    expect(list.instances.map((i) => i.instanceId).sort()).toEqual(['fixture-instance', 'richer-instance']);
    for (const listed of list.instances) expect(listed).not.toHaveProperty('futureField');
  });
});

describe('connector seal written by a later release', () => {
  const fixture = readFixture<ConnectorSealFixture>('connector-seal-v1.json');
  const kek = new KeyEncryptionKey(fixture.kek);

  async function seal(): Promise<ConnectorSeal> {
    return new ConnectorSeal(await KeyEncryptionKeys.load(async () => ({ kek: fixture.kek }), recordingLogger().logger, false));
  }
  const payload = (sealed: string, context: string) => JSON.parse(kek.unseal(context, sealed)) as Record<string, unknown>;

  it('a value: payload version 2 or another seal prefix does not open (a cache miss); version 1 with more fields opens', async () => {
    const s = await seal();
    const { context, sealed, text } = fixture.value;
    const inside = payload(sealed, context);
    const now = Date.now();
    expect(await s.openValue(context, kek.seal(context, JSON.stringify({ ...inside, v: 2, futureField: 1 })), now)).toEqual({ refused: 'unopened' });
    expect(await s.openValue(context, sealed.replace(/^kccs1\./, 'kccs2.'), now)).toEqual({ refused: 'unopened' });
    expect(await s.openValue(context, kek.seal(context, JSON.stringify({ ...inside, futureField: 1 })), now)).toEqual({ text });
  });

  it('a message: payload version 2 does not open (dropped); version 1 with more fields opens', async () => {
    const s = await seal();
    const { context, sealed, text, id, sentAt } = fixture.message;
    const inside = payload(sealed, context);
    expect(await s.openMessage(context, kek.seal(context, JSON.stringify({ ...inside, v: 2, futureField: 1 })), sentAt)).toEqual({ refused: 'unopened' });
    expect(await s.openMessage(context, kek.seal(context, JSON.stringify({ ...inside, futureField: 1 })), sentAt)).toEqual({ text, id, sentAt });
  });
});
