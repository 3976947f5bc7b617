/**
 * Generated input for the decoders an attacker can feed (test/unit/fuzz/): what a holder of the
 * app-env's Redis credentials, or a Redis administrator, can write into its keys or publish on its
 * channels. Seeds are the committed fixtures (test/fixtures/formats/), mutated structurally (fields
 * dropped, added, retyped; huge, negative and non-integer numbers; long strings; lone surrogates;
 * deep nesting; duplicate keys; `__proto__`, `constructor` and `prototype` keys) and as text
 * (truncated, characters flipped or inserted), besides fully random values.
 *
 * Deterministic: every property runs with {@link fuzzParameters}' fixed seed and a bounded number of
 * runs. To explore more: `KCC_FUZZ_RUNS=<factor>` multiplies every property's runs, and
 * `KCC_FUZZ_SEED=<integer>` replaces the seed; on a failure fast-check prints the seed and the path
 * that replay it (pass them as `KCC_FUZZ_SEED` and fast-check's `path` to reproduce).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

/** The seed every property runs with unless `KCC_FUZZ_SEED` says otherwise. */
export const FUZZ_SEED = 20_260_501;

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new Error(`${name}=${text} must be a whole number`);
  return value;
}

/** The most characters of a counterexample a failure shows (deep nesting makes ones of megabytes). */
const SHOWN_COUNTEREXAMPLE = 2_000;

/**
 * fast-check's parameters for a property whose suite default is `runs` runs. A failure reports what
 * fast-check's default does (the seed, the path that replays it, the counterexample, the error),
 * with the counterexample cut to {@link SHOWN_COUNTEREXAMPLE} characters.
 */
export function fuzzParameters<Ts>(runs: number): fc.Parameters<Ts> {
  const factor = envInteger('KCC_FUZZ_RUNS') ?? 1;
  if (factor < 1) throw new Error('KCC_FUZZ_RUNS must be at least 1 (a factor on each property\'s runs)');
  return {
    seed: envInteger('KCC_FUZZ_SEED') ?? FUZZ_SEED,
    numRuns: runs * factor,
    reporter: (details) => {
      if (!details.failed) return;
      const shown = fc.stringify(details.counterexample);
      const example = shown.length > SHOWN_COUNTEREXAMPLE ? `${shown.slice(0, SHOWN_COUNTEREXAMPLE)}… (${shown.length} characters)` : shown;
      const error = details.errorInstance instanceof Error ? `${details.errorInstance.constructor.name}: ${details.errorInstance.message}` : String(details.errorInstance);
      throw new Error(
        `Property failed after ${details.numRuns} tests\n{ seed: ${details.seed}, path: "${details.counterexamplePath ?? ''}", endOnFailure: true }\n` +
          `(replay: KCC_FUZZ_SEED=${details.seed}, or pass seed and path to fc.assert)\nCounterexample: ${example}\nShrunk ${details.numShrinks} time(s)\nGot error: ${error.slice(0, 4_000)}`,
        { cause: details.errorInstance },
      );
    },
  };
}

/** A committed fixture, parsed (test/fixtures/formats/). */
export function formatFixture<T>(file: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/formats/${file}`, import.meta.url)), 'utf8')) as T;
}

// ---------------------------------------------------------------------------------------------
// JSON text with what JSON.stringify cannot write: raw number spellings, duplicate keys, depth.

/** A value serialized as this exact JSON text (`1e400`, `-0`, `1.0`, deep nesting). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object written with these entries in this order, duplicates included (JSON.parse keeps the last). */
export class Entries {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

/** JSON text of `value`, {@link RawJson} and {@link Entries} included; own `__proto__` keys are written as keys. */
export function jsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof Entries) return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  if (Array.isArray(value)) return `[${value.map((v) => jsonText(v === undefined ? null : v)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${jsonText((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Sets `key` on `target` as an own enumerable property, `__proto__` included (assignment would set the prototype). */
function defineKey(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Values.

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const controlCharacter = fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c));
const oneCharacter = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: controlCharacter },
  { weight: 1, arbitrary: fc.constantFrom('"', '\\', '.', '{', '}', '[', ']', ':', ',', '\u2028', '\ufeff', '\u202e', '=', '-', '_') },
);

/** Keys that reach prototypes when code assigns or merges naively. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Strings an attacker would try: unicode with lone surrogates and control characters, names of prototype members, long ones. */
export const evilString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: oneCharacter, maxLength: 24 }) },
  { weight: 2, arbitrary: fc.constantFrom('', ...PROTOTYPE_KEYS, 'toString', 'valueOf', 'hasOwnProperty', 'toJSON', 'then', '1', '-1', 'NaN', 'Infinity', 'null', 'true') },
  // Past every length bound of the formats (ids 64 to 256, actions 8,192, entries 4,096 and 16,384 bytes).
  { weight: 1, arbitrary: fc.constantFrom(64, 65, 128, 129, 256, 257, 4_097, 8_193, 16_385, 70_000).chain((n) => fc.constantFrom('x'.repeat(n), '\u00e9'.repeat(n), '\ud800'.repeat(n))) },
);

/** Numbers at and past every bound: non-integers, negatives, unsafe integers, a Date's limits, and spellings JSON.stringify never writes. */
export const evilNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, -1, 2, 0.5, 1.000_000_1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 8.64e15, 8.64e15 + 1, 1e21, 1e308, 5e-324),
  fc.constantFrom('1e400', '-1e400', '-0', '1.0', '1E3', '0.0000001', '123456789012345678901234567890').map((t) => new RawJson(t)),
);

/** Nesting deeper than a recursive walk survives (JSON.stringify and String() overflow the stack at under 5,000 levels). */
export const deepNesting: fc.Arbitrary<RawJson> = fc
  .tuple(fc.constantFrom(100, 20_000), fc.constantFrom('array', 'object'))
  .map(([depth, kind]) => new RawJson(kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** An object holding own `__proto__`, `constructor` or `prototype` keys (as JSON.parse makes them). */
const prototypeKeyed: fc.Arbitrary<unknown> = fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.jsonValue({ maxDepth: 2 })).map(([key, value]) => {
  const holder = {};
  defineKey(holder, key, typeof value === 'object' && value !== null ? value : { polluted: value ?? true });
  return holder;
});

/** Any value a mutation puts in place of another (`secrets`: strings that must never show in an error, put anywhere). */
export function evilValue(secrets: readonly string[] = []): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: evilString },
    { weight: 4, arbitrary: evilNumber },
    { weight: 1, arbitrary: fc.constantFrom(true, false, null, {}, [], [null], { toString: 1 }, { valueOf: {} }, { toJSON: 1 }) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: prototypeKeyed },
    { weight: 1, arbitrary: deepNesting },
    ...(secrets.length > 0 ? [{ weight: 2, arbitrary: fc.constantFrom(...secrets) }] : []),
  );
}

/** Fully random JSON text: a random value, any text, or a JSON value cut or spliced. */
export function randomText(secrets: readonly string[] = []): fc.Arbitrary<string> {
  return fc.oneof(
    evilValue(secrets).map(jsonText),
    fc.string({ unit: oneCharacter, maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? ''),
  );
}

// ---------------------------------------------------------------------------------------------
// Structural mutation of a seed.

type Path = readonly (string | number)[];

/** Every path in `value` (the root too), depth-first. */
export function pathsOf(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (value instanceof RawJson || value instanceof Entries) return out;
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (typeof value === 'object' && value !== null) for (const k of Object.keys(value)) out.push(...pathsOf((value as Record<string, unknown>)[k], [...prefix, k]));
  return out;
}

/** A deep copy of plain JSON data, own `__proto__` keys kept as keys (mutations never share an object: constants would grow into cycles). */
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (value instanceof RawJson || value instanceof Entries) return value;
  if (typeof value === 'object' && value !== null) {
    const out = {};
    for (const k of Object.keys(value)) defineKey(out, k, cloneJson((value as Record<string, unknown>)[k]));
    return out;
  }
  return value;
}

type Mutation =
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'nudge'; readonly at: number; readonly choice: number }
  | { readonly op: 'grow'; readonly at: number; readonly length: number }
  | { readonly op: 'stretch'; readonly at: number; readonly length: number; readonly wide: boolean }
  | { readonly op: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly op: 'add'; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly op: 'wrap'; readonly at: number }
  | { readonly op: 'duplicate'; readonly at: number; readonly value: unknown; readonly last: boolean };

/** Names the formats give a meaning to (and JOSE header extensions, private JWK members): what an added field is most likely to confuse. */
const FORMAT_NAMES = ['v', 'kind', 'data', 'x', 't', 'i', 'd', 'k', 'p', 'oth', 'crit', 'zip', 'b64', 'upTo', 'kek', 'tag', 'generation', 'revocations', 'keyRing', 'activeKid'] as const;

/** Array lengths at and just past the formats' bounds (ring keys 16, kept keys 12, compromised kids 64, a batch 256). */
const BOUNDARY_LENGTHS = [0, 12, 13, 16, 17, 64, 65, 256, 257] as const;
/**
 * String lengths at the formats' limits and one past (ids 64, senders and kids 128, ids and
 * heartbeat names 256, members 768, signed actions 8,192): an attack review loosened six of these by
 * one and no fuzz test noticed, the generators never making a string of exactly that length.
 */
const STRING_LIMITS = [64, 65, 128, 129, 256, 257, 768, 769, 8_192, 8_193] as const;

/** `value` stretched or cut to exactly `length` UTF-16 units, repeating its own characters (so it keeps their kind); `wide`: 'é' (two bytes in UTF-8) in place of its last character, for limits in bytes. */
function stretched(value: string, length: number, wide: boolean): string {
  const base = value.length > 0 ? value : 'a';
  const text = base.repeat(Math.ceil(length / base.length)).slice(0, length);
  return wide ? `${text.slice(0, -1)}\u00e9` : text;
}

/** Values next to `value`: where a check's bound or type is most likely off by one. */
function nudged(value: unknown, choice: number): unknown {
  const pick = (options: readonly unknown[]) => options[choice % options.length];
  if (typeof value === 'number') return pick([0, -0, -1, 1, value - 1, value + 1, -value, value + 0.5, value * 1_000, 2 ** 53, 8.64e15 + 1, String(value), new RawJson(`${value}.0`), new RawJson('1e400')]);
  if (typeof value === 'string') return pick(['', value.slice(1), value.slice(0, -1), `${value}${value}`, value.toUpperCase(), `${value}\u0000`, `\ud800${value}`, value.length > 0 ? [value] : null, Number(value)]);
  if (typeof value === 'boolean') return pick([!value, Number(value), String(value), null]);
  if (value === null) return pick([0, '', false, {}, []]);
  if (Array.isArray(value)) return pick([[], value.slice(1), [...value, ...value], value.length > 0 ? value[0] : null, {}]);
  return pick([{}, [], null, JSON.stringify(value) ?? '']);
}

function mutation(secrets: readonly string[]): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  return fc.oneof(
    at.map((a) => ({ op: 'delete' as const, at: a })),
    { weight: 3, arbitrary: fc.record({ op: fc.constant('replace' as const), at, value: evilValue(secrets) }) },
    fc.record({ op: fc.constant('add' as const), at, key: fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, ...FORMAT_NAMES), evilString), value: evilValue(secrets) }),
    at.map((a) => ({ op: 'wrap' as const, at: a })),
    { weight: 3, arbitrary: fc.record({ op: fc.constant('nudge' as const), at, choice: fc.nat() }) },
    fc.record({ op: fc.constant('grow' as const), at, length: fc.constantFrom(...BOUNDARY_LENGTHS) }),
    fc.record({ op: fc.constant('stretch' as const), at, length: fc.constantFrom(...STRING_LIMITS), wide: fc.boolean() }),
    fc.record({ op: fc.constant('duplicate' as const), at, value: evilValue(secrets), last: fc.boolean() }),
  );
}

/** `seed` after `mutations`, each at one of its paths (picked modulo how many there are then). */
function applyMutations(seed: unknown, mutations: readonly Mutation[]): unknown {
  let root: unknown = cloneJson(seed);
  for (const m of mutations) {
    const paths = pathsOf(root);
    const path = paths[m.at % paths.length]!;
    const parentPath = path.slice(0, -1);
    const key = path.at(-1);
    const parent = parentPath.reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], root) as Record<string | number, unknown> | unknown[] | undefined;
    const target = key === undefined ? root : (parent as Record<string | number, unknown>)[key];
    const put = (value: unknown) => {
      if (key === undefined) root = value;
      else if (Array.isArray(parent)) parent[key as number] = value;
      else defineKey(parent as object, key as string, value);
    };
    switch (m.op) {
      case 'delete':
        if (key === undefined) root = undefined;
        else if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, unknown>)[key];
        break;
      case 'replace':
        put(cloneJson(m.value));
        break;
      case 'add':
        if (Array.isArray(target)) target.push(cloneJson(m.value));
        else if (typeof target === 'object' && target !== null && !(target instanceof RawJson) && !(target instanceof Entries)) defineKey(target, m.key, cloneJson(m.value));
        else put(cloneJson(m.value));
        break;
      case 'wrap':
        put([target]);
        break;
      case 'nudge':
        put(nudged(target instanceof RawJson || target instanceof Entries ? null : target, m.choice));
        break;
      case 'stretch':
        // A string at a format's limit or one past it; other values are left as they are.
        if (typeof target === 'string') put(stretched(target, m.length, m.wide));
        break;
      case 'grow':
        // An array (or the value, as its only element) at a boundary length, its elements repeated.
        if (Array.isArray(target) && target.length > 0) put(Array.from({ length: m.length }, (_, i) => cloneJson(target[i % target.length])));
        else put(Array.from({ length: m.length }, () => cloneJson(target ?? null)));
        break;
      case 'duplicate':
        // The object at the path written with one of its keys twice: JSON.parse takes the last.
        if (typeof target === 'object' && target !== null && !Array.isArray(target) && !(target instanceof RawJson) && !(target instanceof Entries) && Object.keys(target).length > 0) {
          const entries = Object.entries(target);
          const [dupKey] = entries[m.at % entries.length]!;
          put(new Entries(m.last ? [...entries, [dupKey, cloneJson(m.value)]] : [[dupKey, cloneJson(m.value)], ...entries]));
        } else put(cloneJson(m.value));
        break;
    }
  }
  return root;
}

/**
 * Every single mutation of `seed` that targets a bound, as JSON text: each value nudged each way
 * ({@link nudged}), each field deleted, each field name a format gives a meaning to (and each
 * prototype key) added to each object, each array grown to each boundary length. Random mutations
 * rarely hit one exact field with one exact value; this sweep hits every one, deterministically.
 */
export function singleMutations(seed: unknown): string[] {
  const paths = pathsOf(seed);
  const out: string[] = [];
  const objectAdds = [...PROTOTYPE_KEYS, ...FORMAT_NAMES].flatMap((key) => [1, 'x', {}].map((value) => ({ key, value })));
  paths.forEach((_, at) => {
    for (let choice = 0; choice < 14; choice++) out.push(jsonText(applyMutations(seed, [{ op: 'nudge', at, choice }])));
    if (at > 0) out.push(jsonText(applyMutations(seed, [{ op: 'delete', at }])));
    const target = paths[at]!.reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], seed);
    if (typeof target === 'object' && target !== null && !Array.isArray(target)) for (const { key, value } of objectAdds) out.push(jsonText(applyMutations(seed, [{ op: 'add', at, key, value }])));
    if (Array.isArray(target)) for (const length of BOUNDARY_LENGTHS) out.push(jsonText(applyMutations(seed, [{ op: 'grow', at, length }])));
    if (typeof target === 'string') for (const length of STRING_LIMITS) out.push(jsonText(applyMutations(seed, [{ op: 'stretch', at, length, wide: false }])));
  });
  return [...new Set(out)];
}

/** Text-level damage: cut short, one character replaced, one inserted. */
type TextDamage = { readonly op: 'truncate' | 'flip' | 'insert'; readonly at: number; readonly character: string };

const textDamage: fc.Arbitrary<TextDamage> = fc.record({ op: fc.constantFrom('truncate', 'flip', 'insert'), at: fc.nat(), character: oneCharacter });

/** `text` damaged (`at` modulo its length). */
export function damage(text: string, d: TextDamage): string {
  if (text.length === 0) return d.op === 'insert' ? d.character : text;
  const at = d.at % text.length;
  if (d.op === 'truncate') return text.slice(0, at);
  if (d.op === 'insert') return `${text.slice(0, at)}${d.character}${text.slice(at)}`;
  return `${text.slice(0, at)}${d.character}${text.slice(at + 1)}`;
}

/** JSON text of `seed` mutated: 1 to 4 structural mutations, then sometimes text damage. */
export function mutatedJson(seed: unknown, secrets: readonly string[] = []): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(mutation(secrets), { minLength: 1, maxLength: 4 }), fc.option(textDamage, { freq: 5 }))
    .map(([mutations, d]) => {
      const text = jsonText(applyMutations(seed, mutations));
      return d === null ? text : damage(text, d);
    });
}

/** Text of `seed` damaged once or a few times: for sealed, signed and base64url values. */
export function damagedText(seed: string): fc.Arbitrary<string> {
  const flip = fc.record({ op: fc.constant('flip' as const), at: fc.nat(), character: fc.oneof(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.='), oneCharacter) });
  return fc.array(fc.oneof({ weight: 3, arbitrary: flip }, textDamage), { minLength: 1, maxLength: 3 }).map((ds) => ds.reduce(damage, seed));
}

/** `seed` (JSON text) mutated or damaged, or fully random text: what every decoder property draws from. */
export function attackerText(seed: unknown, secrets: readonly string[] = []): fc.Arbitrary<string> {
  const seedText = typeof seed === 'string' ? seed : jsonText(seed);
  return fc.oneof({ weight: 5, arbitrary: mutatedJson(typeof seed === 'string' ? JSON.parse(seed) : seed, secrets) }, { weight: 1, arbitrary: damagedText(seedText) }, { weight: 2, arbitrary: randomText(secrets) });
}

// ---------------------------------------------------------------------------------------------
// Checks every property makes.

const WATCHED_PROTOTYPES: readonly [string, object][] = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
  ['Number.prototype', Number.prototype],
  ['Promise.prototype', Promise.prototype],
  ['Error.prototype', Error.prototype],
];

type PrototypeSnapshot = readonly (readonly [string, object | null, ReadonlyMap<string | symbol, PropertyDescriptor>])[];

function snapshotPrototypes(): PrototypeSnapshot {
  return WATCHED_PROTOTYPES.map(([name, proto]) => [name, Object.getPrototypeOf(proto) as object | null, new Map(Reflect.ownKeys(proto).map((k) => [k, Object.getOwnPropertyDescriptor(proto, k)!]))] as const);
}

const PRISTINE = snapshotPrototypes();

/** What changed on the built-in prototypes since this module loaded: an own property added, removed or changed, or the prototype itself. Empty when nothing did. */
export function prototypeChanges(): string[] {
  const changes: string[] = [];
  const now = snapshotPrototypes();
  PRISTINE.forEach(([name, parent, before], i) => {
    const [, parentNow, after] = now[i]!;
    if (parentNow !== parent) changes.push(`${name}'s prototype changed`);
    for (const [key, d] of after) {
      const was = before.get(key);
      if (!was) changes.push(`${name}.${String(key)} added`);
      else if (was.value !== d.value || was.get !== d.get || was.set !== d.set || was.writable !== d.writable || was.enumerable !== d.enumerable) changes.push(`${name}.${String(key)} changed`);
    }
    for (const key of before.keys()) if (!after.has(key)) changes.push(`${name}.${String(key)} removed`);
  });
  return changes;
}

/** Errors a decoder must never let escape: they come from a bug, not from a refusal (a stack overflow, a property of undefined, a value that cannot be converted). */
export function isUnexpectedError(error: unknown): boolean {
  return !(error instanceof Error) || error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError || error instanceof EvalError || error instanceof URIError;
}

/** Whether two JSON values are equal (-0 and 0 apart), without recursion: deep nesting overflows recursive comparisons. */
export function sameJson(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (Object.is(x, y)) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null || Array.isArray(x) !== Array.isArray(y)) return false;
    const xKeys = Object.keys(x);
    const yKeys = Object.keys(y);
    if (xKeys.length !== yKeys.length) return false;
    for (const k of xKeys) {
      if (!Object.hasOwn(y, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** Describes a thrown value for an assertion message. */
export function described(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message.slice(0, 300)}` : `non-Error ${typeof error}`;
}

/** Whether `value` or anything reachable from it is an object whose prototype is not Object.prototype or Array.prototype (or null): what an assignment to `__proto__` would make. */
export function foreignPrototypes(root: unknown): string[] {
  const seen = new Set<object>();
  const out: string[] = [];
  // Iterative: the value may nest deeper than the stack.
  const queue: unknown[] = [root];
  while (queue.length > 0) {
    const value = queue.pop();
    if (typeof value !== 'object' || value === null || seen.has(value)) continue;
    seen.add(value);
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null && !(value instanceof Map) && !(value instanceof Buffer)) {
      out.push(`an object with prototype ${String((proto as { constructor?: { name?: string } }).constructor?.name)}`);
    }
    for (const k of Object.keys(value)) queue.push((value as Record<string, unknown>)[k]);
  }
  return out;
}
