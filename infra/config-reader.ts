/** Field readers for the config parser: each records a problem and returns the default when a value is invalid. */

export type Check<T> = (value: T) => string | undefined;

/** Reads one field at a time, recording a problem (and returning the default) when it is invalid. */
export class Reader {
  /** `prefix` names a nested object in messages, e.g. "alarms." */
  constructor(
    private readonly input: Record<string, unknown>,
    private readonly problems: string[],
    private readonly prefix = '',
  ) {}

  private fail<T>(field: string, value: unknown, rule: string, fallback: T): T {
    this.problems.push(`${this.prefix}${field}: ${show(value)} ${rule}`);
    return fallback;
  }

  /** A number from min to max, or the default. */
  number(field: string, fallback: number, min: number, max: number): number {
    const value = this.input[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      return this.fail(field, value, `must be a number from ${min} to ${max}`, fallback);
    }
    return value;
  }

  string(field: string, fallback: string, check: Check<string>): string {
    const value = this.input[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'string') return this.fail(field, value, 'must be a string', fallback);
    const problem = check(value);
    return problem ? this.fail(field, value, problem, fallback) : value;
  }

  optionalString(field: string, check: Check<string>): string | undefined {
    if (this.input[field] === undefined) return undefined;
    const value = this.string(field, '', check);
    return value === '' ? undefined : value;
  }

  boolean(field: string, fallback: boolean): boolean {
    const value = this.input[field];
    if (value === undefined) return fallback;
    return typeof value === 'boolean' ? value : this.fail(field, value, 'must be true or false', fallback);
  }

  integer(field: string, fallback: number, min: number, max: number): number {
    const value = this.input[field];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(field, value, `must be a whole number from ${min} to ${max}`, fallback);
    }
    return value;
  }

  oneOf<T extends string | number>(field: string, fallback: T, allowed: readonly T[]): T {
    const value = this.input[field];
    if (value === undefined) return fallback;
    return allowed.includes(value as T)
      ? (value as T)
      : this.fail(field, value, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, fallback);
  }

  stringList(field: string, fallback: readonly string[], check: Check<string>): readonly string[] {
    return this.list(field, fallback, (item, where) => {
      if (typeof item !== 'string') return { problem: `${where}: ${show(item)} must be a string` };
      const problem = check(item);
      return problem ? { problem: `${where}: ${show(item)} ${problem}` } : { value: item };
    });
  }

  list<T>(field: string, fallback: readonly T[], parse: (item: unknown, where: string) => { value?: T; problem?: string }): readonly T[] {
    const value = this.input[field];
    if (value === undefined) return fallback;
    if (!Array.isArray(value)) return this.fail(field, value, 'must be a list', fallback);
    const out: T[] = [];
    value.forEach((item: unknown, i) => {
      const parsed = parse(item, `${this.prefix}${field}[${i}]`);
      if (parsed.problem) this.problems.push(parsed.problem);
      else if (parsed.value !== undefined) out.push(parsed.value);
    });
    return out;
  }
}

export function show(value: unknown): string {
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

/** The known key closest to a misspelt one (edit distance ≤ 3), for "did you mean" hints. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d <= 3 && (!best || d < best.distance)) best = { name, distance: d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
