/**
 * Fuzz: the stored key ring and its event log, as an instance reads them from Redis. Seeds: the ring
 * and the log of test/fixtures/formats/keyring-v1.json (under its test key-encryption key).
 *
 * - the stored text (openRing): a ring altered anywhere is refused (RingRefusal), and the one
 *   spelling written is the only one accepted (compact-reader's canonical base64url);
 * - the ring document (parseStoredRing, and through openRing once authenticated under the test key:
 *   what a holder of the key-encryption key could write): accepted only in the documented shape,
 *   refused otherwise with an Error that says why (never a TypeError or a stack overflow);
 * - the private keys (unlockRing, KeyEncryptionKey.decrypt): a JWE altered or forged is refused;
 * - the log (RingLog.newest): only tags made under a held key-encryption key count;
 * - no error shows the key-encryption key, a key derived from it or a private key's members.
 */
import { hkdfSync } from 'node:crypto';
import fc from 'fast-check';
import type { JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { KccRedis } from '../../../client/src/connection.js';
import { KeyEncryptionKey, unverifiedText } from '../../../client/src/keyring/key-encryption.js';
import { KeyEncryptionKeys } from '../../../client/src/keyring/key-encryption-keys.js';
import { NewerRingFormatError, PRIVATE_JWK_MEMBERS, SIGNING_ALGORITHMS, type StoredRing, parseStoredRing, viewAt } from '../../../client/src/keyring/ring-data.js';
import { type NewestEntries, RingLog } from '../../../client/src/keyring/ring-log.js';
import { RingRefusal, type RingRefusalReason, openRing, unlockRing } from '../../../client/src/keyring/ring-seal.js';
import { secretsIn } from '../../support/secret-scan.js';
import { attackerText, damagedText, described, foreignPrototypes, formatFixture, fuzzParameters, isUnexpectedError, mutatedJson, prototypeChanges, randomText, sameJson, singleMutations } from '../../support/fuzz.js';

interface KeyRingFixture {
  readonly kek: string;
  readonly namespace: string;
  readonly meaning: { readonly generation: number; readonly activeKid: string; readonly nextKid: string; readonly nextActivatesAt: number; readonly compromisedKids: readonly string[] };
  readonly redis: Record<string, { readonly value: unknown }>;
}

const fixture = formatFixture<KeyRingFixture>('keyring-v1.json');
const NAMESPACE = fixture.namespace;
const STORED = (fixture.redis[`${NAMESPACE}{fixture-prod}:keyring`]!.value as { value: string }).value;
const LOG = fixture.redis[`${NAMESPACE}{fixture-prod}:keyring-events`]!.value as [string, string[]][];
const DOCUMENT = JSON.parse(Buffer.from(STORED.split('.')[1]!, 'base64url').toString('utf8')) as StoredRing;
const DOCUMENT_TEXT = Buffer.from(STORED.split('.')[1]!, 'base64url').toString('utf8');
const silent = { info: () => undefined, warn: () => undefined };
const keks = await KeyEncryptionKeys.load(async () => ({ kek: fixture.kek }), silent, false);
const kek = keks.current;

/** Everything no error may show: the key-encryption key, the keys derived from it, each private key's members. */
const SECRETS = await (async () => {
  const derived = ['keyring private-key encryption v1', 'keyring authentication v1', 'sealed values v1', 'hidden names v1'].map((info) => Buffer.from(hkdfSync('sha256', fixture.kek, 'kcc-redis', info, 32)));
  const privateMembers = DOCUMENT.keys.flatMap((key) => {
    const jwk = kek.decrypt(key.privateJwe, key.kid) as Record<string, unknown>;
    return PRIVATE_JWK_MEMBERS.flatMap((m) => (typeof jwk[m] === 'string' ? [jwk[m] as string] : []));
  });
  return [fixture.kek, ...derived.flatMap((d) => [d.toString('latin1'), d.toString('hex'), d.toString('base64url')]), ...privateMembers];
})();

afterEach(() => {
  expect(prototypeChanges()).toEqual([]);
});

// ---- The documented ring (docs/formats.md, ring-data.ts's StoredRing), written out apart from the parser ----

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWhole = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= Number.MAX_SAFE_INTEGER;
const isKid = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 128;
const PUBLIC_SHAPES: Record<string, { kty: string; crv?: string; members: string[] }> = {
  PS256: { kty: 'RSA', members: ['n', 'e'] },
  RS256: { kty: 'RSA', members: ['n', 'e'] },
  ES256: { kty: 'EC', crv: 'P-256', members: ['x', 'y'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['x'] },
};

function ringConforms(doc: unknown): boolean {
  if (!isObject(doc) || doc.v !== 1 || doc.namespace !== NAMESPACE || !isWhole(doc.generation, 1) || !isWhole(doc.writtenAt, 0)) return false;
  const { compromised, keys } = doc;
  if (!Array.isArray(compromised) || compromised.length > 64 || !compromised.every(isKid)) return false;
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > 16) return false;
  const kids = new Set<string>();
  return keys.every((key) => {
    if (!isObject(key) || !isKid(key.kid) || compromised.includes(key.kid) || kids.has(key.kid)) return false;
    kids.add(key.kid);
    const shape = typeof key.alg === 'string' && (SIGNING_ALGORITHMS as readonly string[]).includes(key.alg) ? PUBLIC_SHAPES[key.alg] : undefined;
    const jwk = key.publicJwk;
    if (!shape || !isObject(jwk) || jwk.kty !== shape.kty || (shape.crv !== undefined && jwk.crv !== shape.crv)) return false;
    if (!shape.members.every((m) => typeof jwk[m] === 'string' && (jwk[m] as string).length > 0)) return false;
    if (PRIVATE_JWK_MEMBERS.some((m) => Object.hasOwn(jwk, m))) return false;
    if (typeof key.privateJwe !== 'string' || key.privateJwe.split('.').length !== 5) return false;
    return isWhole(key.createdAt, 0) && isWhole(key.activatesAt, 0) && (key.retiresAt === null || isWhole(key.retiresAt, 0)) && (key.expiresAt === null || isWhole(key.expiresAt, 0));
  });
}

/** parseStoredRing's outcome for `text`, checked against the documented shape. */
function checkParse(text: string): StoredRing | Error {
  let ring: StoredRing;
  try {
    ring = parseStoredRing(text, NAMESPACE);
  } catch (error) {
    if (isUnexpectedError(error)) throw new Error(`parseStoredRing threw ${described(error)} (documented: an Error saying what is wrong)`);
    const doc = parsedOrUndefined(text);
    // Refused as newer only what says it is newer.
    expect(error instanceof NewerRingFormatError).toBe(isObject(doc) && typeof doc.v === 'number' && doc.v > 1);
    // Bounded: a value shown is cut to 64 characters, each escaped to at most 6 (unverifiedText).
    expect((error as Error).message.length, 'a refusal\'s message is bounded').toBeLessThanOrEqual(600);
    return error as Error;
  }
  const doc = parsedOrUndefined(text);
  expect(ringConforms(doc), 'a ring the format forbids was accepted').toBe(true);
  expect(sameJson(ring, doc), 'the ring read is not what the document holds (fields kept, none changed)').toBe(true);
  expect(foreignPrototypes(ring)).toEqual([]);
  return ring;
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const REFUSALS: readonly RingRefusalReason[] = ['malformed', 'unknown-kek', 'bad-authentication', 'newer-format', 'invalid', 'undecryptable', 'rollback', 'fork', 'compromised-kid', 'kek-downgrade', 'not-yet-active'];

/** Fails unless `error` is a RingRefusal of a documented reason that shows no secret. */
function expectRefusal(error: unknown, reasons: readonly RingRefusalReason[] = REFUSALS): RingRefusal {
  if (!(error instanceof RingRefusal)) throw new Error(`expected a RingRefusal, got ${described(error)}`);
  expect(reasons).toContain(error.reason);
  expect(secretsIn(error, SECRETS, { coerce: true })).toEqual([]);
  return error;
}

describe('fuzz: the stored key ring', () => {
  it('the fixture opens and unlocks with its meaning', async () => {
    const opened = await openRing(STORED, keks, NAMESPACE);
    expect(opened.ring.generation).toBe(fixture.meaning.generation);
    expect(opened.ring.compromised).toEqual(fixture.meaning.compromisedKids);
    const usable = await unlockRing(opened, keks, DOCUMENT.writtenAt);
    const view = viewAt(usable.ring, DOCUMENT.writtenAt);
    expect(view.active?.kid).toBe(fixture.meaning.activeKid);
    expect(view.next?.kid).toBe(fixture.meaning.nextKid);
    expect(view.next?.activatesAt).toBe(fixture.meaning.nextActivatesAt);
    expect(checkParse(DOCUMENT_TEXT)).toMatchObject({ generation: fixture.meaning.generation });
  });

  it('the ring document, mutated or random: parsed only in the documented shape, refused with an Error otherwise', () => {
    fc.assert(
      fc.property(attackerText(DOCUMENT_TEXT), (text) => {
        checkParse(text);
        expect(prototypeChanges()).toEqual([]);
      }),
      fuzzParameters(800),
    );
  });

  it('every single bound-targeted mutation of the ring document: parsed only in the documented shape, refused with an Error otherwise', () => {
    for (const text of singleMutations(DOCUMENT)) checkParse(text);
  });

  it('the stored text altered anywhere, or random: refused (a RingRefusal showing no secret), never read as another ring', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: damagedText(STORED) }, randomText(SECRETS)), async (stored) => {
        fc.pre(stored !== STORED);
        const outcome = await openRing(stored, keks, NAMESPACE).then(
          (opened) => opened,
          (error: unknown) => expectRefusal(error),
        );
        expect(outcome, 'an altered ring was accepted').toBeInstanceOf(RingRefusal);
      }),
      fuzzParameters(600),
    );
  });

  it('a mutated document authenticated under the key-encryption key: opened only in the documented shape, and unlocked or refused as a RingRefusal', async () => {
    // What only a holder of the key-encryption key can write: the parser and unlockRing behind the authentication.
    const jwe = DOCUMENT.keys[0]!.privateJwe;
    const documents = fc.oneof(
      { weight: 4, arbitrary: mutatedJson(DOCUMENT, [jwe]) },
      { weight: 1, arbitrary: fc.constantFrom(DOCUMENT_TEXT) },
    );
    let unlocked = 0;
    await fc.assert(
      fc.asyncProperty(documents, async (text) => {
        const stored = await kek.authenticate(text);
        let opened;
        try {
          opened = await openRing(stored, keks, NAMESPACE);
        } catch (error) {
          expectRefusal(error, ['invalid', 'newer-format']);
          // The parser refuses it too, for the same kind of reason.
          expect(checkParse(text)).toBeInstanceOf(Error);
          return;
        }
        expect(checkParse(text)).not.toBeInstanceOf(Error);
        try {
          const usable = await unlockRing(opened, keks, DOCUMENT.writtenAt);
          unlocked++;
          expect(viewAt(usable.ring, DOCUMENT.writtenAt).active).toBeDefined();
        } catch (error) {
          expectRefusal(error, ['undecryptable', 'unknown-kek', 'invalid', 'not-yet-active']);
        }
      }),
      fuzzParameters(120),
    );
    expect(unlocked, 'some rings were usable (the property reached unlockRing\'s success)').toBeGreaterThan(0);
  });

  it('a private key\'s JWE altered or forged (its header rewritten): KeyEncryptionKey.decrypt throws an Error naming the kid, showing no secret', () => {
    const [key] = DOCUMENT.keys;
    const [header, ...rest] = key!.privateJwe.split('.');
    const headerJson = Buffer.from(header!, 'base64url').toString('utf8');
    const forged = fc.oneof(
      damagedText(key!.privateJwe),
      // A header an attacker writes (the part jose decodes before anything is verified).
      attackerText(headerJson).map((h) => [Buffer.from(h, 'utf8').toString('base64url'), ...rest].join('.')),
    );
    fc.assert(
      fc.property(forged, (jwe) => {
        let jwk: JWK;
        try {
          jwk = kek.decrypt(jwe, key!.kid);
        } catch (error) {
          if (isUnexpectedError(error)) throw new Error(`decrypt threw ${described(error)} (documented: a message naming the kid)`);
          expect(secretsIn(error, SECRETS, { coerce: true })).toEqual([]);
          // The kid, and a header value cut to 64 characters, each escaped to at most 6 (unverifiedText).
          expect((error as Error).message.length).toBeLessThanOrEqual(600);
          return;
        }
        // Only the exact text written decrypts (one spelling: compact-reader's canonical base64url).
        expect(jwe).toBe(key!.privateJwe);
        expect(jwk.kty).toBe('RSA');
      }),
      fuzzParameters(600),
    );
  });

  it('unverifiedText shows any header value (even one that cannot be made a string) in at most 64 printable characters, never throwing', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string({ unit: 'binary' }), fc.constantFrom({ toString: 1 }, { toString: () => { throw new Error('no'); } }, Object.create(null) as object)), (value) => {
        const shown = unverifiedText(value);
        expect(shown).toMatch(/^[\x20-\x7e…]*$/);
        expect(shown.length).toBeLessThanOrEqual(64 * 6 + 40);
      }),
      fuzzParameters(300),
    );
  });
});

describe('fuzz: the key ring\'s event log (RingLog.newest)', () => {
  /** What RingLog needs of a connection for newest(): the namespace its tags are bound to. */
  const connection = { keyPrefix: NAMESPACE, key: (name: string) => `${NAMESPACE}{fixture-prod}:${name}` } as unknown as KccRedis;
  const ringLog = new RingLog(connection, 3_600_000);
  /** The fixture's tagged records: generation → [kek, tag]. */
  const tagged = new Map(
    LOG.flatMap(([, fields]) => {
      const data = (JSON.parse(fields[fields.indexOf('e') + 1]!) as { data: { generation?: number; kek?: string; tag?: string } }).data;
      return data.generation === undefined ? [] : [[data.generation, [data.kek, data.tag]] as const];
    }),
  );
  const messages = LOG.map(([, fields]) => fields[fields.indexOf('e') + 1]!);

  /** The newest generation a log shows, read from the documented record: a tag of the fixture's, for its generation. */
  function expectedGeneration(entries: NewestEntries): number {
    let newest = 0;
    for (const [, fields] of entries) {
      if (fields[0] !== 'e') continue;
      const data = (parsedOrUndefined(fields[1]!) as { data?: unknown } | null | undefined)?.data;
      if (!isObject(data) || typeof data.generation !== 'number') continue;
      const record = tagged.get(data.generation);
      if (record && record[0] === data.kek && record[1] === data.tag) newest = Math.max(newest, data.generation);
    }
    return newest;
  }

  it('the fixture log reads generation 3; mutated entries and random ones never raise it, nor throw', async () => {
    expect((await ringLog.newest(keks, Promise.resolve(LOG.map(([id, fields]) => [id, ['e', fields[fields.indexOf('e') + 1]!]] as const)))).generation).toBe(fixture.meaning.generation);
    // As the read script hands entries over: `[id, ['e', message]]`, or `[id, []]` for one without a message it passes on.
    const message = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...messages).chain((m) => attackerText(m)) }, fc.constantFrom(...messages), randomText());
    const entry = fc.tuple(fc.oneof(fc.constantFrom('1796649390015-0', '0-1'), fc.string()), fc.option(message, { freq: 6 })).map(([id, m]) => [id, m === null ? [] : ['e', m]] as const);
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), async (entries) => {
        const newest = await ringLog.newest(keks, Promise.resolve(entries));
        expect(newest.generation).toBe(expectedGeneration(entries));
        expect(newest.position).toBe(entries[0]?.[0] ?? '0-0');
      }),
      fuzzParameters(500),
    );
  });
});
