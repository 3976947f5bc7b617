import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_ALLOWANCE_MS, MAX_KEYS, RING_FORMAT_VERSION, NewerRingFormatError, parseStoredRing, planRotation, viewAt } from '../../../client/src/keyring/ring-data.js';

const key = (kid: string, extra: Record<string, unknown> = {}) => ({
  kid,
  alg: 'ES256',
  publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
  privateJwe: 'a.b.c.d.e',
  createdAt: 1,
  activatesAt: 1,
  retiresAt: null,
  expiresAt: null,
  ...extra,
});
const doc = (extra: Record<string, unknown> = {}) => ({ v: 1, namespace: 'shop-prod:', generation: 3, writtenAt: 5, keys: [key('k1')], compromised: [], ...extra });
const parse = (value: unknown, namespace = 'shop-prod:') => parseStoredRing(JSON.stringify(value), namespace);

describe('ring document: strict parsing', () => {
  it.each([
    ['another namespace', doc({ namespace: 'other-prod:' }), /ring belongs to namespace "other-prod:", not "shop-prod:"/],
    ['no generation', doc({ generation: undefined }), /generation must be a whole number of at least 1/],
    ['generation 0', doc({ generation: 0 }), /generation must be a whole number of at least 1/],
    ['a key listed as compromised', doc({ compromised: ['k1'] }), /keys\[0\]\.kid "k1" is listed as compromised/],
    ['compromised not a list', doc({ compromised: 'k1' }), /"compromised" must list at most 64 kids/],
    ['no version', doc({ v: undefined }), /ring format version undefined is not 1/],
  ])('refuses %s', (_name, value, message) => {
    expect(() => parse(value)).toThrow(message);
  });

  // From an attack review: a kid went into these two refusals raw (control and bidi characters included).
  it('a refusal naming a kid shows it escaped', () => {
    const kid = 'k\u0007\u202e1';
    const refusals = [() => parse(doc({ keys: [key(kid), key(kid)] })), () => parse(doc({ keys: [key(kid)], compromised: [kid] }))];
    for (const refuse of refusals) {
      expect(refuse).toThrow(/kid "k\\u0007\\u202e1" (appears twice|is listed as compromised)/);
      expect(refuse).not.toThrow(/[\u0007\u202e]/);
    }
  });

  it('a refusal shows a value of the document bounded, and names a deeply nested one instead of overflowing the stack', () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const text = (field: string, value: string) => JSON.stringify(doc({ [field]: '@' })).replace('"@"', value);
    expect(() => parseStoredRing(text('v', deep), 'shop-prod:')).toThrow(/^ring format version \(an array\) is not 1$/);
    expect(() => parseStoredRing(text('namespace', deep), 'shop-prod:')).toThrow(/^ring belongs to namespace \(an array\), not "shop-prod:"$/);
    expect(() => parseStoredRing(text('namespace', JSON.stringify('n'.repeat(100_000))), 'shop-prod:')).toThrow(/^ring belongs to namespace "n{64}… \(100000 characters\)", not "shop-prod:"$/);
    const deepAlg = JSON.stringify(doc({ keys: [key('k1', { alg: '@' })] })).replace('"@"', deep);
    expect(() => parseStoredRing(deepAlg, 'shop-prod:')).toThrow(/^keys\[0\]\.alg \(an array\) is not one of /);
  });

  it('says when a newer release wrote the ring', () => {
    expect(() => parse(doc({ v: RING_FORMAT_VERSION + 1 }))).toThrow(NewerRingFormatError);
  });

  it('keeps fields it does not know, at the top and in each key, so a rewrite does not drop them', () => {
    const ring = parse(doc({ addedLater: { x: 1 }, keys: [key('k1', { hint: 'kept' })] }));
    expect(ring).toMatchObject({ addedLater: { x: 1 }, keys: [{ kid: 'k1', hint: 'kept' }] });
    const next = planRotation(ring, { kid: 'k2', alg: 'ES256', publicJwk: {}, privateJwe: 'p' }, { mode: 'scheduled', now: 10, activationDelayMs: 5, retireGraceMs: 5 });
    expect(next.keys[0]).toMatchObject({ kid: 'k1', hint: 'kept' });
  });
});

describe('ring document: rotations', () => {
  const added = { kid: 'new', alg: 'ES256' as const, publicJwk: {}, privateJwe: 'p' };

  it('an emergency rotation drops every earlier key and records each as compromised', () => {
    const next = planRotation({ keys: [key('a'), key('b')].map((k) => parse(doc({ keys: [k] })).keys[0]!), compromised: ['old'] }, added, { mode: 'immediate', now: 10, activationDelayMs: 5, retireGraceMs: 5 });
    expect(next.keys.map((k) => k.kid)).toEqual(['new']);
    expect(next.compromised).toEqual(['old', 'a', 'b']);
  });

  it('an emergency key signs from the allowed clock skew before now on, so an instance whose clock is behind sees it active', () => {
    const now = 1_800_000_000_000;
    const next = planRotation({ keys: parse(doc()).keys, compromised: [] }, added, { mode: 'immediate', now, activationDelayMs: 5, retireGraceMs: 5 });
    expect(next.keys[0]).toMatchObject({ kid: 'new', createdAt: now - CLOCK_SKEW_ALLOWANCE_MS, activatesAt: now - CLOCK_SKEW_ALLOWANCE_MS });
    const behind = viewAt({ ...parse(doc()), ...next }, now - CLOCK_SKEW_ALLOWANCE_MS + 1);
    expect([behind.active?.kid, behind.published.map((k) => k.kid)]).toEqual(['new', ['new']]);
  });

  it('a scheduled key is published at once and activates after the delay on the writer\'s clock (no allowance: it would shorten the delay)', () => {
    const now = 1_800_000_000_000;
    const next = planRotation({ keys: parse(doc()).keys, compromised: [] }, added, { mode: 'scheduled', now, activationDelayMs: 120_000, retireGraceMs: 5 });
    expect(next.keys.at(-1)).toMatchObject({ kid: 'new', createdAt: now, activatesAt: now + 120_000 });
    // Published wherever the ring is held, whatever the reader's clock says of createdAt: a reader
    // 2 minutes behind the writer still has the full delay before the writer signs with it.
    const behind = viewAt({ ...parse(doc()), ...next }, now - 2 * CLOCK_SKEW_ALLOWANCE_MS);
    expect([behind.active?.kid, behind.next?.kid, behind.published.map((k) => k.kid)]).toEqual(['k1', 'new', ['k1', 'new']]);
  });

  it(`holds at most ${MAX_KEYS} keys: a grace longer than the ring can hold drops the longest-retired keys early and says which`, () => {
    let ring: { keys: ReturnType<typeof parse>['keys']; compromised: readonly string[] } = { keys: parse(doc({ keys: [key('k0')] })).keys, compromised: [] };
    const dropped: string[] = [];
    // Every rotation 10 ms apart, activating 1 ms later, with a grace of 1,000 ms: 20 keys would be in their grace.
    for (let i = 1; i <= 20; i++) {
      const { kid, alg, publicJwk, privateJwe } = key(`k${i}`);
      const next = planRotation(ring, { kid, alg: alg as 'ES256', publicJwk, privateJwe }, { mode: 'scheduled', now: 10 * i, activationDelayMs: 1, retireGraceMs: 1_000 });
      dropped.push(...next.droppedEarly);
      ring = next;
      expect(ring.keys.length).toBeLessThanOrEqual(MAX_KEYS);
    }
    expect(ring.keys.map((k) => k.kid)).toEqual(Array.from({ length: MAX_KEYS }, (_, i) => `k${20 - MAX_KEYS + 1 + i}`));
    expect(dropped).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    // The key still signing until the newest activates stays.
    expect(viewAt({ ...parse(doc()), ...ring }, 200).active?.kid).toBe('k19');
    // What a reader accepts.
    expect(() => parse(doc({ keys: ring.keys }))).not.toThrow();
  });

  it('a scheduled rotation keeps the earlier keys until their grace and adds no compromised kid', () => {
    const next = planRotation({ keys: parse(doc()).keys, compromised: [] }, added, { mode: 'scheduled', now: 10, activationDelayMs: 5, retireGraceMs: 5 });
    expect(next.keys.map((k) => [k.kid, k.retiresAt, k.expiresAt])).toEqual([['k1', 15, 20], ['new', null, null]]);
    expect(next.compromised).toEqual([]);
  });
});
