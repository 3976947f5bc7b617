/**
 * The instrument table against OpenTelemetry's naming rules
 * (https://opentelemetry.io/docs/specs/semconv/general/naming/,
 * https://opentelemetry.io/docs/specs/otel/metrics/api/#instrument-name-syntax, units:
 * https://opentelemetry.io/docs/specs/semconv/general/metrics/#instrument-units) and against
 * docs/metrics.md, which must list the same instruments with the same kind, unit and attributes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_INSTRUMENTS, ATTRIBUTES, type InstrumentSpec } from '../../../client/src/metrics/instruments.js';

const DOCS = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');

/** The API's syntax (a letter, then up to 254 of `A-Za-z0-9_.-/`), narrowed to the conventions' lowercase, dot-separated snake_case. */
const NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+$/;
/** UCUM as the conventions use it: `s`, `1`, or a curly-brace annotation of one singular word. */
const UNIT = /^(s|1|\{[a-z]+\})$/;

/** Problems of one instrument under the naming rules; empty when it follows them. */
function namingProblems(spec: InstrumentSpec): string[] {
  const problems: string[] = [];
  const components = spec.name.split('.');
  const last = components.at(-1)!;
  if (!NAME.test(spec.name) || spec.name.length > 255) problems.push('not lowercase dot-separated snake_case');
  if (components[0] !== 'kcc_redis') problems.push('outside the kcc_redis namespace');
  if (components.some((part) => /(^|_)total$/.test(part))) problems.push('uses "total"');
  if (components.some((part) => /(^|_)(seconds|ms|milliseconds|bytes|ratio|percent)$/.test(part))) problems.push('has a unit in its name');
  if (!UNIT.test(spec.unit)) problems.push(`unit ${spec.unit} is not s, 1 or {annotation}`);
  if (/\{[a-z]+s\}$/.test(spec.unit)) problems.push(`unit ${spec.unit} is plural`);
  // Namespaces are singular: every component before the last.
  if (components.slice(1, -1).some((part) => /[^s]s$/.test(part))) problems.push('a namespace is plural');
  if (spec.kind === 'updowncounter' && last !== 'count') problems.push('an updowncounter named otherwise than <thing>.count');
  if (spec.kind === 'gauge' && spec.unit === '1' && spec.valueType !== 'int') problems.push('a 0/1 state must be an int');
  if (spec.kind === 'counter' && spec.unit.startsWith('{')) {
    // A count of discrete things: pluralized (`…rotations`) or named after what happened (`…applied`, as `system.network.packet.dropped`).
    if (!/s$/.test(last) && !/ed$/.test(last) && last !== 'written') problems.push('a counter of things neither pluralized nor named after what happened');
  }
  return problems;
}

describe('instrument names and units: OpenTelemetry naming rules', () => {
  it.each(ALL_INSTRUMENTS.map((spec) => [spec.name, spec] as const))('%s', (_name, spec) => {
    expect(namingProblems(spec)).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    const base: InstrumentSpec = { name: 'kcc_redis.revocation.applied', kind: 'counter', unit: '{revocation}', valueType: 'int', attributes: [], description: '' };
    expect(namingProblems(base)).toEqual([]);
    const broken: [Partial<InstrumentSpec>, string][] = [
      [{ name: 'kcc_redis.revocation.applied_total' }, 'uses "total"'],
      [{ name: 'kcc_redis.Revocation.applied' }, 'not lowercase dot-separated snake_case'],
      [{ name: 'kcc_redis.revocations.applied' }, 'a namespace is plural'],
      [{ name: 'kcc-redis.revocation.applied' }, 'not lowercase dot-separated snake_case'],
      [{ name: 'kcc_redis.revocation.staleness_seconds', kind: 'gauge', unit: 's', valueType: 'double' }, 'has a unit in its name'],
      [{ unit: '{revocations}' }, 'unit {revocations} is plural'],
      [{ unit: 'seconds' }, 'unit seconds is not s, 1 or {annotation}'],
      [{ name: 'kcc_redis.revocation.sessions', kind: 'updowncounter', unit: '{session}' }, 'an updowncounter named otherwise than <thing>.count'],
      [{ name: 'kcc_redis.revocation.apply' }, 'a counter of things neither pluralized nor named after what happened'],
      [{ name: 'revocation.applied' }, 'outside the kcc_redis namespace'],
    ];
    for (const [change, problem] of broken) expect(namingProblems({ ...base, ...change }), JSON.stringify(change)).toContain(problem);
  });

  it('names are unique; attribute keys follow the same rules and never name an id', () => {
    const names = ALL_INSTRUMENTS.map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    for (const key of Object.values(ATTRIBUTES)) {
      expect(key).toMatch(NAME);
      expect(key.startsWith('kcc_redis.')).toBe(true);
      expect(key).not.toMatch(/(^|[._])(sid|sub|kid|id|user|token|password)$/);
    }
  });
});

interface DocumentedInstrument {
  readonly kind: string;
  readonly unit: string;
  readonly attributes: string[];
}

/** Rows of docs/metrics.md's instrument tables: `| \`name\` | kind | \`unit\` | attributes | meaning |`. */
function documented(): Map<string, DocumentedInstrument> {
  const rows = new Map<string, DocumentedInstrument>();
  for (const line of DOCS.split('\n')) {
    const match = /^\| `(kcc_redis\.[^`]+)` \| (counter|updowncounter|gauge) \| `([^`]+)` \| ([^|]+) \|/.exec(line);
    if (!match) continue;
    const [, name, kind, unit, attributes] = match;
    expect(rows.has(name!), `${name} documented twice`).toBe(false);
    rows.set(name!, { kind: kind!, unit: unit!, attributes: [...attributes!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!) });
  }
  return rows;
}

describe('docs/metrics.md', () => {
  it('lists every instrument, and only those, with its kind, unit and attributes', () => {
    const rows = documented();
    expect([...rows.keys()].sort()).toEqual(ALL_INSTRUMENTS.map((spec) => spec.name).sort());
    for (const spec of ALL_INSTRUMENTS) {
      expect(rows.get(spec.name), spec.name).toEqual({ kind: spec.kind, unit: spec.unit, attributes: [...spec.attributes] });
    }
  });

  it('lists every attribute key', () => {
    for (const key of Object.values(ATTRIBUTES)) expect(DOCS, key).toContain(`| \`${key}\` |`);
  });
});
