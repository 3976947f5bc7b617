/**
 * The committed samples of every stored format and message (test/fixtures/formats/), and what the
 * format tests do with them: read one, load its Redis keys into a server as they were stored, dump
 * what the current writers stored, and reduce either to its structure (field names, types, versions)
 * for comparison.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export const FIXTURES_DIR = fileURLToPath(new URL('../../fixtures/formats/', import.meta.url));

/** The app-env every fixture was written in: a stored ring is bound to its namespace, and key names carry it. */
export const FIXTURE_APP_ENV = { app: 'fixture', env: 'prod' } as const;
export const FIXTURE_USER = 'fixture-prod';
export const FIXTURE_PREFIX = 'fixture-prod:';
/** The instance id the fixtures' writers ran as (envelope `sender`, heartbeat entry). */
export const FIXTURE_INSTANCE_ID = 'fixture-instance';
/** The key-encryption key of the fixtures: generated for them, protects nothing else. */
export const FIXTURE_KEK = 'fixture-kek-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEF';

/** One Redis key as stored: its type, its value in that type's natural shape, and its remaining TTL when written (ms; -1 none). */
export type StoredValue =
  | { readonly type: 'string'; readonly value: string; readonly pttl: number }
  | { readonly type: 'hash'; readonly value: Readonly<Record<string, string>>; readonly pttl: number }
  | { readonly type: 'zset'; readonly value: readonly (readonly [member: string, score: string])[]; readonly pttl: number }
  | { readonly type: 'stream'; readonly value: readonly (readonly [id: string, fields: readonly string[]])[]; readonly pttl: number };

/** Full key name → stored value. */
export type StoredKeys = Readonly<Record<string, StoredValue>>;

/** What every fixture file has: which format and version, written by which release, and why it exists. */
export interface FixtureHeader {
  readonly format: string;
  readonly version: number;
  readonly writtenBy: string;
  readonly note: string;
}

/** A committed fixture, parsed. */
export function readFixture<T>(file: string): T {
  return JSON.parse(readFileSync(`${FIXTURES_DIR}${file}`, 'utf8')) as T;
}

/**
 * Writes a fixture file once, when `KCC_WRITE_FORMAT_FIXTURES=1` is set and the file does not exist
 * yet: how a new format version gets its fixtures. An existing fixture is never written over.
 */
export function writeFixtureIfAsked(file: string, fixture: unknown): void {
  if (process.env.KCC_WRITE_FORMAT_FIXTURES !== '1') return;
  const path = `${FIXTURES_DIR}${file}`;
  if (existsSync(path)) return;
  writeFileSync(path, `${JSON.stringify(fixture, null, 2)}\n`);
}

/** Every key of `prefix` (side keys, `!…`, left out: no format of their own), as stored now. */
export async function dumpKeys(admin: Redis, prefix: string, include: (name: string) => boolean = () => true): Promise<Record<string, StoredValue>> {
  const names = (await admin.keys(`${prefix}*`)).filter((name) => !name.includes('}!') && include(name)).sort();
  const out: Record<string, StoredValue> = {};
  for (const name of names) {
    const type = await admin.type(name);
    const pttl = await admin.pttl(name);
    if (type === 'string') out[name] = { type, value: (await admin.get(name))!, pttl };
    else if (type === 'hash') out[name] = { type, value: await admin.hgetall(name), pttl };
    else if (type === 'zset') {
      const flat = await admin.zrange(name, 0, -1, 'WITHSCORES');
      const pairs: [string, string][] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
      out[name] = { type, value: pairs, pttl };
    } else if (type === 'stream') out[name] = { type, value: (await admin.xrange(name, '-', '+')) as [string, string[]][], pttl };
    else throw new Error(`${name}: type ${type} has no fixture form`);
  }
  return out;
}

/**
 * Loads `keys` as they were stored: the same types, values, stream ids. A key that had a TTL gets
 * `ttlMs` (default: what it had left when written), so that it is alive while the test reads it.
 */
export async function loadKeys(admin: Redis, keys: StoredKeys, options: { ttlMs?: (name: string, stored: StoredValue) => number | undefined } = {}): Promise<void> {
  for (const [name, stored] of Object.entries(keys)) {
    await admin.del(name);
    if (stored.type === 'string') await admin.set(name, stored.value);
    else if (stored.type === 'hash') await admin.hset(name, stored.value);
    else if (stored.type === 'zset') await admin.zadd(name, ...stored.value.flatMap(([member, score]) => [score, member]));
    else for (const [id, fields] of stored.value) await admin.xadd(name, id, ...fields);
    const ttl = options.ttlMs?.(name, stored) ?? (stored.pttl > 0 ? stored.pttl : undefined);
    if (ttl !== undefined) await admin.pexpire(name, ttl);
  }
}

/** Field names whose value is part of the structure (a version, a discriminator, an algorithm), not data. */
const LITERAL_FIELDS = new Set(['v', 'type', 'kind', 'alg', 'enc', 'typ', 'cty', 'kty', 'crv', 'use', 'key_ops']);

/**
 * The structure of a stored value: objects by field name (sorted), arrays as the distinct
 * structures of their elements, numbers and strings by type. Text that is JSON, a compact JWS or a
 * compact JWE is opened (a JWS's header and payload, a JWE's header), a value sealed as `kccs1`
 * shows its prefix only. Versions and discriminators ({@link LITERAL_FIELDS}) keep their values.
 */
export function structureOf(value: unknown, field?: string): unknown {
  if (field !== undefined && LITERAL_FIELDS.has(field)) return { literal: value };
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const distinct = new Map<string, unknown>();
    for (const element of value) {
      const structure = structureOf(element);
      distinct.set(JSON.stringify(structure), structure);
    }
    return { array: [...distinct.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s) };
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = structureOf((value as Record<string, unknown>)[key], key);
    return { object: out };
  }
  if (typeof value === 'string') return structureOfText(value);
  return typeof value;
}

function structureOfText(text: string): unknown {
  if (/^kccs\d+\./.test(text)) return { sealed: text.split('.')[0] };
  const parts = text.split('.');
  if ((parts.length === 3 || parts.length === 5) && parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) {
    const header = jsonOf(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    if (header !== undefined && typeof header === 'object') {
      return parts.length === 3
        ? { jws: { header: structureOf(header), payload: structureOf(jsonOf(Buffer.from(parts[1]!, 'base64url').toString('utf8')) ?? 'string') } }
        : { jwe: { header: structureOf(header) } };
    }
  }
  const json = /^[[{]/.test(text) ? jsonOf(text) : undefined;
  return json !== undefined ? { json: structureOf(json) } : 'string';
}

function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The structure of stored keys: each key's type, and the structure of what it holds (hash fields,
 * stream entry fields, zset members and scores as types). `ignore` names hash fields and stream
 * fields that are bookkeeping of one write (a nonce), not format.
 */
export function structureOfKeys(keys: StoredKeys): unknown {
  const out: Record<string, unknown> = {};
  for (const [name, stored] of Object.entries(keys)) {
    // A replay record's name is a digest of its id: the name's form is the format, not the digest.
    const shownName = name.replace(/jti:[A-Za-z0-9_-]{43}$/, 'jti:<sha256 base64url>').replace(/instance:.+$/, 'instance:<instance id>');
    const ttl = stored.pttl > 0 ? 'ttl' : 'persistent';
    if (stored.type === 'stream') {
      out[shownName] = { type: stored.type, ttl, entries: structureOf(stored.value.map(([, fields]) => entryObject(fields))) };
    } else if (stored.type === 'zset') {
      out[shownName] = { type: stored.type, ttl, members: structureOf(stored.value.map(([member, score]) => ({ member: memberForm(member), score: scoreForm(score) }))) };
    } else {
      out[shownName] = { type: stored.type, ttl, value: structureOf(stored.value) };
    }
  }
  return out;
}

function entryObject(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

/** A sorted-set member's form: digits (a lifetime in ms), or text (an id). */
function memberForm(member: string): string {
  return /^\d+$/.test(member) ? 'digits' : 'text';
}

/** A score's form: a whole number or not. */
function scoreForm(score: string): string {
  return /^-?\d+$/.test(score) ? 'integer' : 'number';
}

/** The message a failed structure comparison gives: what changed is a format, and what to do about it. */
export function formatChangedMessage(format: string, fixture: string): string {
  return (
    `what the current writers store for "${format}" no longer has the structure of test/fixtures/formats/${fixture}. ` +
    'Formats are contracts: do not edit the fixture. Give the changed format a new version (a new `v`, key suffix or seal prefix), ' +
    'keep the reader of the old version while the previous release may still run, and add fixtures for the new version: see docs/formats.md'
  );
}
