import { KccConfigError } from './errors.js';
import { isPlainObject } from './plain-object.js';

/** The rule a numeric option must meet. Whole numbers unless `fraction` is true. */
export interface NumberRule {
  /** Smallest accepted value. @default 0 */
  readonly min?: number;
  /** Largest accepted value. @default Number.MAX_SAFE_INTEGER */
  readonly max?: number;
  /** The unit named in the message: 'ms' → "milliseconds", 's' → "seconds", 'bytes'. @default none */
  readonly unit?: 'ms' | 's' | 'bytes';
  /** Accept fractions. @default false */
  readonly fraction?: boolean;
}

const UNIT_NAMES = { ms: 'milliseconds', s: 'seconds', bytes: 'bytes' } as const;

/**
 * Node's longest timer (2^31 - 1 ms, about 24.8 days): a longer one fires after 1 ms (with a
 * TimeoutOverflowWarning), so every duration option used as a timer's delay is at most this.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** What is wrong with `value` as option `name`, in the one message style of the client; undefined when it is fine. */
export function numberProblem(name: string, value: unknown, rule: NumberRule = {}): string | undefined {
  const min = rule.min ?? 0;
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  const kind = rule.fraction ? 'a number' : 'a whole number';
  const unit = rule.unit ? ` of ${UNIT_NAMES[rule.unit]}` : '';
  const range = max === Number.MAX_SAFE_INTEGER ? `, ${min} or more` : ` from ${min} to ${max}`;
  const fits = typeof value === 'number' && Number.isFinite(value) && (rule.fraction || Number.isSafeInteger(value)) && value >= min && value <= max;
  return fits ? undefined : `${name}: ${show(value)} must be ${kind}${unit}${range}`;
}

/**
 * The spellings of a boolean a message may show when they come as a string (from an environment
 * variable, most often): any other string is named by its kind only, as it may be a secret pasted
 * into the wrong field.
 */
const BOOLEAN_WORDS = /^(true|false|yes|no|on|off|1|0|)$/i;

/** What is wrong with `value` as boolean option `name` (true, false, or unset); undefined when it is fine. */
export function booleanProblem(name: string, value: unknown): string | undefined {
  if (value === undefined || typeof value === 'boolean') return undefined;
  if (typeof value === 'string') {
    const given = BOOLEAN_WORDS.test(value) ? JSON.stringify(value) : 'a string';
    return `${name}: ${given} must be true or false; a string is not read as a boolean (an environment variable holds text: compare it, e.g. ${name}: process.env.X === 'true')`;
  }
  return `${name}: ${show(value)} must be true or false`;
}

/**
 * Collects the problems of one options object, so that one error lists them all.
 *
 * @example
 * const check = new OptionProblems();
 * const ttl = check.number('ttlMs', options.ttlMs, 1_000, { min: 1, unit: 'ms' });
 * check.throwIfAny('kcc-redis revocation options');
 */
export class OptionProblems {
  readonly list: string[] = [];

  /** Records a problem (`"<option>: <what is wrong>"`). */
  add(problem: string): void {
    this.list.push(problem);
  }

  /** The value of a numeric option, or `fallback` when it is undefined or breaks `rule` (the problem is recorded). */
  number(name: string, value: number | undefined, fallback: number, rule: NumberRule = {}): number {
    if (value === undefined) return fallback;
    const problem = numberProblem(name, value, rule);
    if (problem) this.add(problem);
    return problem ? fallback : value;
  }

  /**
   * The value of a boolean option, or `fallback` when it is undefined or not a boolean (the problem
   * is recorded): JavaScript would take the string `'false'` as true.
   */
  boolean(name: string, value: boolean | undefined, fallback: boolean): boolean {
    const problem = booleanProblem(name, value);
    if (problem) this.add(problem);
    return problem || value === undefined ? fallback : value;
  }

  /**
   * Records each key of `options` that `known` does not name (JavaScript would ignore a misspelled
   * option silently, and the default would apply), with the closest known name when one is near.
   * `path` prefixes the names in the message (`'tls.'`). Keys whose value is undefined count too.
   */
  unknownKeys(options: unknown, known: Readonly<Record<string, true>>, path = ''): void {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) return;
    for (const key of Object.keys(options)) {
      if (Object.hasOwn(known, key)) continue;
      const near = closestName(key, Object.keys(known));
      const name = `${path}${key.length > 60 ? `${key.slice(0, 57)}...` : key}`;
      this.add(`${name}: not an option; ${near ? `did you mean ${path}${near}?` : `the options${path === '' ? '' : ` of ${path.slice(0, -1)}`} are ${Object.keys(known).join(', ')}`}`);
    }
  }

  /**
   * Records a problem when the nested options `name` are given but are not an object (a string, a
   * number, null, an array): their fields would read as unset. `usage` shows the shape, e.g.
   * `connection: { url: 'rediss://host:6379' }`. What was given is named by its kind only (see
   * {@link requireOptionsObject}).
   */
  object(name: string, value: unknown, usage: string): void {
    if (value !== undefined && !isPlainObject(value)) this.add(`${name}: ${kindOf(value)}, not an options object; give ${usage}`);
  }

  /** Throws one KccConfigError naming every problem recorded, if any. */
  throwIfAny(subject: string): void {
    if (this.list.length > 0) throw new KccConfigError(subject, this.list);
  }
}

/**
 * Throws a KccConfigError headed by `subject` (`'KccRedis.connect options'`) when `options` is not
 * an options object: a string, a number, a boolean, null or an array passed from JavaScript would be
 * read as an object without fields, and reported as missing ones (or pass unchecked). What was given
 * is named by its kind only, never shown: a string may be a URL with a password in it. `usage` is the
 * call as it should be, e.g. `KccRedis.connect({ url: 'rediss://host:6379' })`.
 */
export function requireOptionsObject(options: unknown, subject: string, usage: string): void {
  if (!isPlainObject(options)) throw new KccConfigError(subject, [`options: ${kindOf(options)}, not an options object; call ${usage}`]);
}

/** What a value is, without showing it: `a string`, `a number`, `null`, `an array`. */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Checks a numeric method argument; misuse by the caller throws a TypeError naming it. */
export function checkNumberArgument(name: string, value: unknown, rule: NumberRule = {}): number {
  const problem = numberProblem(name, value, rule);
  if (problem) throw new TypeError(problem);
  return value as number;
}

/** A value as it appears in a message: strings quoted, short, never an object dump. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/**
 * The shapes a message may show a string value in: one of another shape may be a secret pasted into
 * the wrong field (a password as the user name, a token as the region), so it is described instead
 * ({@link showShaped}). The stack's generated passwords and keys mix upper and lower case letters and
 * digits: no shape below that a 20-character one could pass holds both cases and digits.
 */
export const SHAPES = {
  /** A Redis user name as the stack makes them (`my-app-prod`, `default`; an IAM user id is lower case): lower case only. */
  userName: /^[a-z][a-z0-9_.@-]{0,127}$/,
  /** A key prefix, or what was meant for one: lower case letters, digits, `-`, `_` and `:`. */
  keyPrefix: /^[a-z0-9:_-]+$/,
  /** A value meant as one word of a list (`'iam'`, `'classic'`, `'true'`): letters and `-` only. */
  word: /^[A-Za-z][A-Za-z-]{0,19}$/,
  /** A port number, or what was meant for one: digits, a sign, a point. */
  port: /^[-+0-9.]{1,12}$/,
  /** An ElastiCache identifier (replication group, cache name): a letter, then letters, digits and `-`. */
  identifier: /^[A-Za-z][A-Za-z0-9-]{0,39}$/,
  /** An AWS region (`eu-west-1`) or what was meant for one (`Europe`): letters, digits and `-`. */
  region: /^[A-Za-z][A-Za-z0-9-]{0,29}$/,
} as const;

/**
 * `value` as a message shows it when it is a string of `shape` (quoted), else described without its
 * content: `a string of 18 characters, not shown`, or for a non-string its kind (`a number: 5`).
 */
export function showShaped(value: unknown, shape: RegExp): string {
  if (value === '') return '""';
  if (typeof value === 'string') return shape.test(value) && !looksGenerated(value) ? JSON.stringify(value) : `a string of ${value.length === 1 ? '1 character' : `${value.length} characters`} (not shown: it does not have the shape of this setting; a secret pasted into the wrong field?)`;
  return show(value);
}

/**
 * A string as the stack generates passwords and keys (Secrets Manager's GetRandomPassword without
 * punctuation: upper and lower case letters and digits, each present), 20 characters or more: never
 * shown, whatever shape the field allows.
 */
export function looksGenerated(value: string): boolean {
  return /^[A-Za-z0-9]{20,}$/.test(value) && /[A-Z]/.test(value) && /[a-z]/.test(value) && /[0-9]/.test(value);
}

/** What printable ASCII without spaces is (what CLIENT SETNAME accepts): characters from '!' to '~'. */
const PRINTABLE = /^[!-~]$/;

/**
 * What a name is, without the name itself: `it is 5`, `it is an object`, `it is empty`, `it has 9 characters`,
 * `it has 9 characters, one of them U+0020` (the first outside printable ASCII).
 */
export function nameShape(value: unknown): string {
  if (typeof value !== 'string') return `it is ${show(value)}`;
  if (value.length === 0) return 'it is empty';
  const outside = [...value].find((c) => !PRINTABLE.test(c));
  return outside === undefined ? `it has ${value.length} characters` : `it has ${value.length} characters, one of them U+${outside.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The name in `names` nearest to `key`: the same but for case, the only one it is a prefix of or that is a prefix of it, or at most two edits away (a third of its length at most). */
function closestName(key: string, names: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = names.find((name) => name.toLowerCase() === lower);
  if (same) return same;
  // A name cut short, or with a unit or a word added (`jwksMaxAge`, `sessionMaxLifetime`).
  const related = key.length >= 4 ? names.filter((name) => name.toLowerCase().startsWith(lower) || lower.startsWith(name.toLowerCase())) : [];
  if (related.length === 1) return related[0];
  const limit = Math.min(2, Math.floor(key.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const name of names) {
    const distance = editDistance(lower, name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
