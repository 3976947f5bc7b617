/**
 * Fuzz: what the revocation channel and log hand an instance, decoded as Revocations decodes it: the
 * envelope (decodeEnvelope, with isRevocationBatch as its check), then each element of the batch,
 * a relayed Keycloak push (isRelayedKeycloakPush) or a revocation (revocationProblem, with the slack
 * for what came from Redis). Seeds: the messages of test/fixtures/formats/revocations-v1.json,
 * mutated, and random text. Properties: nothing but the documented outcomes (decoded, or dropped as
 * oversized / malformed / invalid; an element applied, refused or skipped), nothing accepted that
 * docs/formats.md forbids, the seeds read with their meaning, the built-in prototypes untouched.
 */
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_MESSAGE_BYTES, decodeEnvelope } from '../../../client/src/envelope.js';
import { isRelayedKeycloakPush } from '../../../client/src/revocation/admin-action-relay.js';
import { NOT_BEFORE_READ_SLACK_SECONDS, isRevocationBatch, revocationProblem } from '../../../client/src/revocation/revocation-event.js';
import { type Envelope } from '../../../client/src/envelope.js';
import { attackerText, described, evilValue, foreignPrototypes, formatFixture, fuzzParameters, isUnexpectedError, jsonText, mutatedJson, prototypeChanges, sameJson, singleMutations } from '../../support/fuzz.js';

interface RevocationsFixture {
  readonly meaning: {
    readonly at: number;
    readonly clientNotBefore: number;
    readonly subject: { readonly sub: string; readonly notBefore: number };
    readonly wholeSession: string;
    readonly sessionUpTo: { readonly sid: string; readonly issuedUpTo: number };
    readonly pushedNotBefore: number;
  };
  readonly messages: readonly { readonly carries: string; readonly message: string }[];
}

const fixture = formatFixture<RevocationsFixture>('revocations-v1.json');
const SEEDS = fixture.messages.map((m) => m.message);
/** The time the fixtures were written (ms): their not-befores are not in the future then. */
const FIXTURE_NOW_MS = fixture.meaning.at * 1000;

afterEach(() => {
  vi.restoreAllMocks();
  expect(prototypeChanges()).toEqual([]);
});

// ---- The documented shapes, written out apart from the code under test (docs/formats.md) ----

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWhole = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER;
const hasLength = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;

/** An envelope `type`: a lowercase letter, then up to 63 of lowercase letters, digits, '.' and '-'. */
function isEnvelopeType(v: unknown): boolean {
  if (!hasLength(v, 1, 64)) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const lower = c >= 0x61 && c <= 0x7a;
    if (i === 0 ? !lower : !(lower || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d)) return false;
  }
  return true;
}

/** Envelope version 1, as docs/formats.md describes it (`{v, id, type, sender, at, data}`); `raw` at most MAX_MESSAGE_BYTES in UTF-8. */
function envelopeConforms(raw: string): boolean {
  if (Buffer.byteLength(raw, 'utf8') > MAX_MESSAGE_BYTES) return false;
  let e: unknown;
  try {
    e = JSON.parse(raw);
  } catch {
    return false;
  }
  return isObject(e) && e.v === 1 && hasLength(e.id, 1, 64) && isEnvelopeType(e.type) && hasLength(e.sender, 1, 128) && typeof e.at === 'number' && Number.isFinite(e.at) && Object.hasOwn(e, 'data');
}

/** Batch version 1: `{v: 1, revocations: [...]}` with 1 to 256 elements. */
const batchConforms = (d: unknown): boolean => isObject(d) && d.v === 1 && Array.isArray(d.revocations) && d.revocations.length >= 1 && d.revocations.length <= 256;

/** What an element of a batch is, read from its documented shape at `nowMs` (the slack for what came from Redis). */
function elementMeaning(v: unknown, nowMs: number): 'push' | 'applied' | 'malformed' | 'unknown-kind' | 'future-not-before' {
  if (!isObject(v) || typeof v.kind !== 'string') return 'malformed';
  if (v.kind === 'keycloak-push' && v.v === 1 && hasLength(v.action, 1, 8_192)) return 'push';
  const latest = Math.floor(nowMs / 1000) + 60 + NOT_BEFORE_READ_SLACK_SECONDS;
  if (v.kind === 'session') return hasLength(v.sid, 1, 256) && isWhole(v.exp) ? 'applied' : 'malformed';
  if (v.kind === 'subject') return !hasLength(v.sub, 1, 256) || !isWhole(v.nbf) ? 'malformed' : v.nbf > latest ? 'future-not-before' : 'applied';
  if (v.kind === 'client') return !isWhole(v.nbf) ? 'malformed' : v.nbf > latest ? 'future-not-before' : 'applied';
  return 'unknown-kind';
}

// ---- The decoding under test, as Revocations runs it ----

type Decoded = { readonly dropped: 'oversized' | 'malformed' | 'invalid' } | { readonly envelope: Envelope<{ v: 1; revocations: readonly unknown[] }>; readonly elements: readonly string[] };

function decodeRevocationMessage(raw: string, nowMs: number): Decoded {
  const decoded = decodeEnvelope(raw, MAX_MESSAGE_BYTES, isRevocationBatch);
  if (!decoded.ok) return { dropped: decoded.reason };
  const elements = decoded.envelope.data.revocations.map((value) => (isRelayedKeycloakPush(value) ? 'push' : (revocationProblem(value, nowMs, NOT_BEFORE_READ_SLACK_SECONDS) ?? 'applied')));
  return { envelope: decoded.envelope, elements };
}

/** Runs `decode`; fails the property on an unexpected throw, and on anything decoded that the documented shapes refuse. */
function checkMessage(raw: string, nowMs: number): Decoded {
  let result: Decoded;
  try {
    result = decodeRevocationMessage(raw, nowMs);
  } catch (error) {
    throw new Error(`decoding threw (documented: never throws, drops instead): ${described(error)}`);
  }
  const conforms = envelopeConforms(raw);
  if ('dropped' in result) {
    expect(['oversized', 'malformed', 'invalid']).toContain(result.dropped);
    // A message of the documented shape is not dropped as malformed, and a batch of it not as invalid.
    if (conforms) expect(result.dropped).toBe(batchConforms((JSON.parse(raw) as { data: unknown }).data) ? 'never dropped' : 'invalid');
    if (result.dropped === 'oversized') expect(Buffer.byteLength(raw)).toBeGreaterThan(MAX_MESSAGE_BYTES);
  } else {
    expect(conforms, 'an envelope the format forbids was decoded').toBe(true);
    const parsed = JSON.parse(raw) as { data: { revocations: unknown[] } };
    expect(batchConforms(parsed.data), 'a batch the format forbids was accepted').toBe(true);
    expect(sameJson(result.envelope, parsed), 'the envelope decoded is not what the text holds').toBe(true);
    expect(result.elements).toEqual(parsed.data.revocations.map((v) => elementMeaning(v, nowMs)));
    expect(foreignPrototypes(result.envelope)).toEqual([]);
  }
  expect(prototypeChanges()).toEqual([]);
  return result;
}

describe('fuzz: revocation messages (envelope, batch, revocations, relayed push)', () => {
  it('the fixtures decode with their meaning', () => {
    const [client, subject, whole, upTo, push] = SEEDS.map((raw) => checkMessage(raw, FIXTURE_NOW_MS));
    const only = (d: Decoded) => {
      if ('dropped' in d) throw new Error(`fixture dropped as ${d.dropped}`);
      expect(d.elements).toHaveLength(1);
      return d.envelope.data.revocations[0] as Record<string, unknown>;
    };
    const { meaning } = fixture;
    expect(only(client!)).toEqual({ kind: 'client', nbf: meaning.clientNotBefore });
    expect(only(subject!)).toEqual({ kind: 'subject', sub: meaning.subject.sub, nbf: meaning.subject.notBefore });
    expect(only(whole!)).toMatchObject({ kind: 'session', sid: meaning.wholeSession });
    expect(only(upTo!)).toMatchObject({ kind: 'session', sid: meaning.sessionUpTo.sid, upTo: meaning.sessionUpTo.issuedUpTo });
    const relayed = only(push!);
    expect(isRelayedKeycloakPush(relayed)).toBe(true);
    expect(decodeJwt(relayed.action as string)).toMatchObject({ action: 'PUSH_NOT_BEFORE', notBefore: meaning.pushedNotBefore });
    for (const d of [client!, subject!, whole!, upTo!, push!]) expect('elements' in d && d.elements).toEqual([expect.stringMatching(/^(applied|push)$/)]);
  });

  it('mutated fixtures and random text: decoded only as documented, dropped otherwise, never a throw', () => {
    const now = fc.oneof(fc.constant(FIXTURE_NOW_MS), fc.integer({ min: 0, max: 8.64e15 }));
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS).chain((seed) => attackerText(seed)), now, (raw, nowMs) => {
        checkMessage(raw, nowMs);
      }),
      fuzzParameters(800),
    );
  });

  it('every single bound-targeted mutation of each fixture message (each value nudged, each field dropped, each format name added, each list at each boundary length): decoded only as documented', () => {
    for (const seed of SEEDS) for (const raw of singleMutations(JSON.parse(seed))) checkMessage(raw, FIXTURE_NOW_MS);
  });

  it('batches of mutated revocations inside a well-formed envelope: each element applied, refused or skipped as documented', () => {
    // The envelope kept valid so that the elements get read: what an attacker on the channel controls is the batch.
    const elementSeeds = SEEDS.map((raw) => (JSON.parse(raw) as { data: { revocations: unknown[] } }).data.revocations[0]);
    const element = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...elementSeeds).chain((seed) => mutatedJson(seed)).map((t) => new RawText(t)) }, { weight: 1, arbitrary: evilValue() });
    // Sometimes as many elements as a batch may hold, one more, or none: the elements repeated.
    const size = fc.constantFrom(undefined, undefined, undefined, 0, 256, 257);
    const batch = fc.tuple(fc.array(element, { minLength: 1, maxLength: 6 }), size, fc.constantFrom(1, 1, 1, 2, '1', 0)).map(([drawn, n, v]) => {
      const texts = drawn.map((e) => (e instanceof RawText ? e.text : jsonText(e)));
      // Repeated, only the short ones (257 copies of a deeply nested one pass V8's longest string).
      const short = texts.filter((t) => t.length <= 4_096);
      const repeated = short.length > 0 ? short : [JSON.stringify(elementSeeds[0])];
      const elements = n === undefined ? texts : Array.from({ length: n }, (_, i) => repeated[i % repeated.length]!);
      return `{"v":${JSON.stringify(v)},"revocations":[${elements.join(',')}]}`;
    });
    fc.assert(
      fc.property(batch, (data) => {
        const raw = `{"v":1,"id":"fuzz-id","type":"revocation","sender":"fuzz","at":${FIXTURE_NOW_MS},"data":${data}}`;
        checkMessage(raw, FIXTURE_NOW_MS);
      }),
      fuzzParameters(400),
    );
  });

  it('a message over MAX_MESSAGE_BYTES is dropped as oversized without being parsed (cost bounded by the limit, not the input)', () => {
    const parse = vi.spyOn(JSON, 'parse');
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.integer({ min: 1, max: 3 }), fc.constantFrom('x', '\u00e9', '\ud83d\ude00', '\ud800'), (seed, factor, filler) => {
        parse.mockClear();
        // Padding inside the sender: a well-formed message apart from its size.
        const pad = filler.repeat(Math.ceil((MAX_MESSAGE_BYTES * factor) / Buffer.byteLength(filler)) + 1);
        const raw = seed.replace('"sender":"fixture-instance"', `"sender":"${pad}"`);
        expect(decodeEnvelope(raw, MAX_MESSAGE_BYTES, isRevocationBatch)).toEqual({ ok: false, reason: 'oversized' });
        expect(parse).not.toHaveBeenCalled();
      }),
      fuzzParameters(20),
    );
  });
});

/** A batch element given as JSON text (a mutated seed). */
class RawText {
  constructor(readonly text: string) {}
}
