/**
 * Fuzz: the other values an instance or `kcc-redis status` reads from Redis, and the secret shapes.
 *
 * - heartbeat entries (parseHeartbeat, and listInstances over the replies its read scripts give:
 *   what `kcc-redis status` lists), seeded with test/fixtures/formats/heartbeat-v1.json;
 * - the keycloak-connector seal (ConnectorSeal.openValue / openMessage, KeyEncryptionKey.unseal),
 *   seeded with test/fixtures/formats/connector-seal-v1.json: altered, it never opens as other text;
 *   payloads sealed under the test key open only in the documented shape and time;
 * - session-lifetime declarations (isDeclaredLifetime, and the Lua reader's rule it must agree with);
 * - the Redis user secret and the key-encryption-key secret (contract/user-secret.ts): parsed, or a
 *   KccSecretError that names fields and never shows a value.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { KccSecretError } from '../../../client/src/errors.js';
import { MAX_MESSAGE_BYTES, decodeEnvelope } from '../../../client/src/envelope.js';
import { type HeartbeatConnection, listInstances, parseHeartbeat } from '../../../client/src/heartbeat.js';
import { ConnectorSeal, MESSAGE_AHEAD_SLACK_MS, MESSAGE_MAX_AGE_MS, VALUE_EXPIRY_SLACK_MS } from '../../../client/src/keycloak-connector/connector-seal.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { MAX_SESSION_LIFETIME_MS, isDeclaredLifetime } from '../../../client/src/revocation/session-lifetimes.js';
import { parseKeyEncryptionKeySecret, parseRedisUserSecret } from '../../../client/src/contract/user-secret.js';
import { secretsIn } from '../../support/secret-scan.js';
import { attackerText, damagedText, described, foreignPrototypes, formatFixture, fuzzParameters, isUnexpectedError, jsonText, mutatedJson, prototypeChanges, randomText, singleMutations } from '../../support/fuzz.js';

afterEach(() => {
  expect(prototypeChanges()).toEqual([]);
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const parsedOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

// ---- Heartbeat entries ----

interface HeartbeatFixture {
  readonly meaning: { readonly instanceId: string; readonly host: string; readonly version: string; readonly intervalMs: number };
  readonly redis: Record<string, { readonly value: unknown }>;
}
const heartbeat = formatFixture<HeartbeatFixture>('heartbeat-v1.json');
const ENTRY = heartbeat.redis['fixture-prod:{fixture-prod}:instance:fixture-instance']!.value as string;
const MAX_DATE_MS = 8.64e15;

/** A count or time as docs/formats.md's heartbeat has them: a whole number a Date holds. */
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_DATE_MS;
const isText = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256;

function entryConforms(text: string): boolean {
  if (Buffer.byteLength(text) > 4_096) return false;
  const d = parsedOrUndefined(text);
  return isObject(d) && d.v === 1 && isText(d.instanceId) && isText(d.version) && typeof d.host === 'string' && d.host.length <= 256 && isTime(d.pid) && isTime(d.startedAt) && isTime(d.lastSeenAt) && isTime(d.intervalMs) && d.intervalMs > 0;
}

/** parseHeartbeat's outcome for `text`, checked against the documented entry. */
function checkEntry(text: string): void {
  let entry: ReturnType<typeof parseHeartbeat>;
  try {
    entry = parseHeartbeat(text);
  } catch (error) {
    throw new Error(`parseHeartbeat threw ${described(error)} (documented: undefined for what it cannot read)`);
  }
  expect(entry !== undefined, 'accepted exactly the documented entries').toBe(entryConforms(text));
  if (!entry) return;
  const d = JSON.parse(text) as Record<string, unknown>;
  expect(entry).toMatchObject({ v: 1, instanceId: d.instanceId, version: d.version, host: d.host, pid: d.pid, startedAt: d.startedAt, lastSeenAt: d.lastSeenAt, intervalMs: d.intervalMs });
  // Unknown fields dropped; a part kept only when well formed.
  expect(Object.keys(entry).every((k) => ['v', 'instanceId', 'version', 'host', 'pid', 'startedAt', 'lastSeenAt', 'intervalMs', 'revocations', 'keyRing'].includes(k))).toBe(true);
  if (entry.revocations) {
    const r = entry.revocations;
    expect([typeof r.stale, typeof r.failOpen, isTime(r.stalenessMs), isTime(r.unwritten)]).toEqual(['boolean', 'boolean', true, true]);
  }
  if (entry.keyRing) {
    const k = entry.keyRing;
    expect(['ready', 'degraded']).toContain(k.status);
    expect(isTime(k.generation) && (k.activeKid === undefined || isText(k.activeKid))).toBe(true);
  }
  // What status prints of it: every time a Date holds.
  for (const t of [entry.startedAt, entry.lastSeenAt]) expect(() => new Date(t).toISOString()).not.toThrow();
  expect(foreignPrototypes(entry)).toEqual([]);
}

describe('fuzz: heartbeat entries (what kcc-redis status reads)', () => {
  const withParts = JSON.stringify({ ...JSON.parse(ENTRY), revocations: { stale: false, failOpen: false, stalenessMs: 12, unwritten: 0 }, keyRing: { status: 'ready', generation: 3, activeKid: 'kid-1' } });

  it('the fixture reads with its meaning', () => {
    expect(parseHeartbeat(ENTRY)).toMatchObject(heartbeat.meaning);
    checkEntry(ENTRY);
    checkEntry(withParts);
  });

  it('mutated entries and random text: listed only in the documented shape, otherwise unreadable; never a throw', () => {
    fc.assert(
      fc.property(fc.constantFrom(ENTRY, withParts).chain((seed) => attackerText(seed)), (text) => {
        checkEntry(text);
        expect(prototypeChanges()).toEqual([]);
      }),
      fuzzParameters(800),
    );
  });

  it('every single bound-targeted mutation of the entry (with and without its parts): read only in the documented shape', () => {
    for (const seed of [ENTRY, withParts]) for (const text of singleMutations(JSON.parse(seed))) checkEntry(text);
  });

  it('listInstances over any replies the read scripts give: every id listed, unreadable or expired, never a throw', async () => {
    // What the scripts hand over: ids of at most 256 bytes (false above), each entry's text of at most 4,096 bytes or false with -3.
    const id = fc.oneof(fc.constant('fixture-instance'), fc.string({ maxLength: 8 }), fc.constant(null));
    const reply = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(attackerText(ENTRY), fc.integer({ min: -2, max: 2 ** 40 })) },
      fc.constant([null, -3] as const),
      fc.constant([null, -2] as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(id, reply), { maxLength: 6 }), fc.integer({ min: 1, max: 8 }), async (rows, limit) => {
        let calls = 0;
        const connection: HeartbeatConnection = {
          instanceId: 'reader',
          key: (name) => `fixture-prod:{fixture-prod}:${name}`,
          run: () => Promise.reject(new Error('not used')),
          script: <T,>(_lua: string, keys: readonly string[]) => {
            calls++;
            if (calls === 1) return Promise.resolve(rows.slice(0, limit + 1).map(([i]) => i) as T);
            const within = rows.slice(0, limit).filter(([i]) => i !== null);
            expect(keys).toHaveLength(within.length);
            return Promise.resolve(within.flatMap(([, [raw, pttl]]) => [raw !== null && Buffer.byteLength(raw) > 4_096 ? null : raw, raw !== null && Buffer.byteLength(raw) > 4_096 ? -3 : pttl]) as T);
          },
        };
        const list = await listInstances(connection, { limit });
        const within = rows.slice(0, limit);
        const expired = within.filter(([i, [raw, pttl]]) => i !== null && raw === null && pttl !== -3).length;
        expect(list.instances.length + list.unreadable + expired).toBe(within.length);
        expect(list.truncated).toBe(rows.length > limit);
        for (const instance of list.instances) {
          expect(within.some(([i, [raw]]) => i === instance.instanceId && raw !== null && entryConforms(raw))).toBe(true);
          expect(instance.silentForMs).toBeGreaterThanOrEqual(0);
        }
      }),
      fuzzParameters(300),
    );
  });
});

// ---- Connector seal ----

interface ConnectorSealFixture {
  readonly kek: string;
  readonly value: { readonly context: string; readonly text: string; readonly sealed: string };
  readonly message: { readonly context: string; readonly text: string; readonly id: string; readonly sentAt: number; readonly sealed: string; readonly envelope: string };
}
const sealFixture = formatFixture<ConnectorSealFixture>('connector-seal-v1.json');
const silent = { info: () => undefined, warn: () => undefined };
const keks = await KeyEncryptionKeys.load(async () => ({ kek: sealFixture.kek }), silent, false);
const seal = new ConnectorSeal(keks);
const SENT = sealFixture.message.sentAt;

/** What a sealed payload opens to, read from docs/formats.md's `{v, x, d}` and `{v, t, i, d}` at server time `now`. */
function payloadMeaning(payload: unknown, kind: 'value' | 'message', now: number): { text: string } | { refused: string } {
  if (!isObject(payload) || payload.v !== 1 || typeof payload.d !== 'string') return { refused: 'unopened' };
  if (kind === 'value') {
    if (Object.hasOwn(payload, 't') || !(payload.x === null || (typeof payload.x === 'number' && Number.isFinite(payload.x)))) return { refused: 'unopened' };
    return payload.x !== null && now > (payload.x as number) + VALUE_EXPIRY_SLACK_MS ? { refused: 'expired' } : { text: payload.d };
  }
  if (Object.hasOwn(payload, 'x') || typeof payload.t !== 'number' || !Number.isFinite(payload.t) || typeof payload.i !== 'string') return { refused: 'unopened' };
  if (now - payload.t > MESSAGE_MAX_AGE_MS) return { refused: 'expired' };
  if (payload.t - now > MESSAGE_AHEAD_SLACK_MS) return { refused: 'ahead' };
  return { text: payload.d };
}

describe('fuzz: the keycloak-connector seal', () => {
  const { value, message } = sealFixture;

  it('the fixtures open with their meaning', async () => {
    expect(await seal.openValue(value.context, value.sealed, SENT)).toEqual({ text: value.text });
    expect(await seal.openMessage(message.context, message.sealed, SENT)).toEqual({ text: message.text, id: message.id, sentAt: SENT });
    const envelope = decodeEnvelope<string>(message.envelope, MAX_MESSAGE_BYTES);
    expect(envelope.ok && envelope.envelope.data).toBe(message.sealed);
  });

  it('a sealed value or message altered, moved or random: refused, or opened to exactly the text sealed (never another), never a throw', async () => {
    const kek = keks.current;
    const altered = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('value', 'message').chain((kind) => damagedText(kind === 'value' ? value.sealed : message.sealed).map((s) => [kind, s] as const)) },
      fc.tuple(fc.constantFrom('value', 'message'), randomText([value.sealed, message.sealed])),
    );
    await fc.assert(
      fc.asyncProperty(altered, fc.boolean(), async ([kind, sealed], movedContext) => {
        const context = movedContext ? (kind === 'value' ? message.context : value.context) : kind === 'value' ? value.context : message.context;
        const opened = kind === 'value' ? await seal.openValue(context, sealed, SENT) : await seal.openMessage(context, sealed, SENT);
        if ('refused' in opened) expect(['unopened', 'expired', 'ahead']).toContain(opened.refused);
        else {
          // Node's lenient base64url may read another spelling of the same bytes: never other text.
          expect(movedContext).toBe(false);
          expect(opened.text).toBe(kind === 'value' ? value.text : message.text);
        }
        // KeyEncryptionKey.unseal: its own Error, no secret in it.
        try {
          expect(kek.unseal(context, sealed)).toBeTypeOf('string');
        } catch (error) {
          expect(isUnexpectedError(error), described(error)).toBe(false);
          expect(secretsIn(error, [sealFixture.kek], { coerce: true })).toEqual([]);
        }
      }),
      fuzzParameters(600),
    );
  });

  it('payloads sealed under the key (what only its holder writes), mutated: opened only in the documented shape and time', async () => {
    const kek = keks.current;
    const valuePayload = { v: 1, x: SENT + 60_000, d: value.text };
    const messagePayload = { v: 1, t: SENT, i: message.id, d: message.text };
    const now = fc.oneof(fc.constant(SENT), fc.integer({ min: SENT - 600_000, max: SENT + 600_000 }));
    const payloads = fc.oneof(
      fc.tuple(fc.constant('value' as const), fc.oneof(mutatedJson(valuePayload), fc.constant(JSON.stringify(valuePayload)))),
      fc.tuple(fc.constant('message' as const), fc.oneof(mutatedJson(messagePayload), fc.constant(JSON.stringify(messagePayload)))),
    );
    const check = async (kind: 'value' | 'message', text: string, at: number) => {
      const context = kind === 'value' ? value.context : message.context;
      const sealed = kek.seal(context, text);
      const opened = kind === 'value' ? await seal.openValue(context, sealed, at) : await seal.openMessage(context, sealed, at);
      // Sealed as UTF-8: a lone surrogate (which JSON.stringify, what writers use, never leaves raw) comes back as U+FFFD.
      const expected = payloadMeaning(parsedOrUndefined(Buffer.from(text, 'utf8').toString('utf8')), kind, at);
      if ('refused' in expected) expect(opened).toEqual(expected);
      else expect(opened).toMatchObject(expected);
    };
    // Every single bound-targeted mutation, then random ones.
    for (const text of singleMutations(valuePayload)) await check('value', text, SENT);
    for (const text of singleMutations(messagePayload)) await check('message', text, SENT);
    await fc.assert(
      fc.asyncProperty(payloads, now, async ([kind, text], at) => check(kind, text, at)),
      fuzzParameters(500),
    );
  });
});

// ---- Session-lifetime declarations ----

describe('fuzz: session-lifetime declarations', () => {
  /** The Lua reader's `is_lifetime`, transcribed: `^[1-9]%d*$`, at most 12 bytes, at most the longest lifetime. */
  const luaIsLifetime = (member: string) => /^[1-9][0-9]*$/.test(member) && Buffer.byteLength(member) <= 12 && Number(member) <= MAX_SESSION_LIFETIME_MS;

  it('a member counts as a lifetime exactly when it is whole milliseconds from 1 to the longest, written as instances write it, as the Lua reader has it', () => {
    const member = fc.oneof(
      fc.integer({ min: -10, max: MAX_SESSION_LIFETIME_MS + 10 }).map(String),
      fc.constantFrom(String(MAX_SESSION_LIFETIME_MS), String(MAX_SESSION_LIFETIME_MS + 1), '0', '01', '1.0', '1e3', ' 1', '1 ', '+1', '１', '٣', '999999999999', '0000000000001', '1\n'),
      fc.stringMatching(/^[0-9]{0,14}$/),
      fc.string({ unit: 'binary', maxLength: 14 }),
    );
    fc.assert(
      fc.property(member, (m) => {
        const declared = isDeclaredLifetime(m);
        expect(declared).toBe(luaIsLifetime(m));
        if (declared) {
          const ms = Number(m);
          expect(Number.isSafeInteger(ms) && ms >= 1 && ms <= MAX_SESSION_LIFETIME_MS && String(ms) === m).toBe(true);
        }
      }),
      fuzzParameters(1_000),
    );
  });
});

// ---- Secrets ----

describe('fuzz: the Redis user secret and the key-encryption-key secret', () => {
  const PASSWORD = 'Pw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0rdPw0r';
  const KEK = 'KekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKekKek1';
  const PREVIOUS = 'PrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPrevPre2';
  const userSecret = { username: 'shop-prod', password: PASSWORD, keyPrefix: 'shop-prod:', userArn: 'arn:aws:elasticache:eu-west-1:123456789012:user:shop-prod', replicationGroupId: 'kcc' };
  const kekSecret = { v: 1, kek: KEK, previous: [PREVIOUS] };
  const SECRETS = [PASSWORD, KEK, PREVIOUS];

  /** Runs a parser; fails unless it returns or throws a KccSecretError that shows no secret. */
  function refusalOf(parse: () => unknown): KccSecretError | undefined {
    try {
      parse();
      return undefined;
    } catch (error) {
      if (!(error instanceof KccSecretError)) throw new Error(`expected a KccSecretError, got ${described(error)}`);
      expect(secretsIn(error, SECRETS, { coerce: true }), 'the error shows a secret value').toEqual([]);
      expect(error.message.length).toBeLessThanOrEqual(400);
      return error;
    }
  }

  it('the user secret, mutated (the secrets moved into any field) or random: parsed as the stack writes it, or refused naming fields', () => {
    expect(parseRedisUserSecret(JSON.stringify(userSecret))).toEqual(userSecret);
    const check = (text: string) => {
      const error = refusalOf(() => parseRedisUserSecret(text));
      if (error) return;
      const d = JSON.parse(text) as Record<string, unknown>;
      expect(['username', 'password', 'keyPrefix', 'userArn', 'replicationGroupId'].every((f) => typeof d[f] === 'string')).toBe(true);
      expect(d.v === undefined || d.v === 1).toBe(true);
    };
    for (const text of singleMutations(userSecret)) check(text);
    fc.assert(fc.property(fc.oneof({ weight: 4, arbitrary: mutatedJson(userSecret, SECRETS) }, randomText(SECRETS)), check), fuzzParameters(500));
  });

  it('a key-encryption-key secret whose v is not a number is refused with a KccSecretError that shows no value (it showed v whole, and threw a RangeError on deep nesting)', () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    for (const v of [deep, JSON.stringify(KEK), JSON.stringify([PREVIOUS]), 'null', '"1"']) {
      const error = refusalOf(() => parseKeyEncryptionKeySecret(`{"v":${v},"kek":${JSON.stringify(KEK)},"previous":[]}`));
      expect(error?.message).toMatch(/^key-encryption-key secret has format version \((an array|a string|null), not shown\); this client reads version 1$/);
    }
    expect(refusalOf(() => parseKeyEncryptionKeySecret(`{"v":2,"kek":${JSON.stringify(KEK)},"previous":[]}`))?.message).toMatch(/has format version 2;/);
    expect(refusalOf(() => parseKeyEncryptionKeySecret(`{"kek":${JSON.stringify(KEK)},"previous":[]}`))?.message).toMatch(/has format version undefined;/);
  });

  it('the key-encryption-key secret, mutated or random: parsed in its documented shape, or refused naming fields', () => {
    expect(parseKeyEncryptionKeySecret(JSON.stringify(kekSecret))).toEqual(kekSecret);
    const check = (text: string) => {
      const error = refusalOf(() => parseKeyEncryptionKeySecret(text));
      if (error) return;
      const d = JSON.parse(text) as Record<string, unknown>;
      expect(d.v).toBe(1);
      expect(typeof d.kek === 'string' && d.kek.length >= 32).toBe(true);
      expect(Array.isArray(d.previous) && d.previous.length <= 12 && d.previous.every((p) => typeof p === 'string' && p.length >= 32)).toBe(true);
    };
    for (const text of singleMutations(kekSecret)) check(text);
    fc.assert(fc.property(fc.oneof({ weight: 4, arbitrary: mutatedJson(kekSecret, SECRETS) }, randomText(SECRETS).map((t) => (t === '' ? jsonText(null) : t))), check), fuzzParameters(500));
  });
});
