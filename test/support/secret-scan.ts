import { formatWithOptions, inspect } from 'node:util';

/** How many objects the deep walk visits at most (an ioredis client with its sockets is large). */
const MAX_OBJECTS = 300_000;

/**
 * Every way `subject` can be shown or reached that contains one of `secrets`, described; empty when
 * none does. Looks at: `util.inspect` (with hidden properties, with and without custom inspection),
 * what `console.log` prints, `JSON.stringify`, `String()` and the stack of an error, and a deep walk
 * of every own property (non-enumerable and symbol-keyed too, no getters run), Map and Set entries
 * and the bytes of typed arrays and buffers, through `cause` chains, AggregateError members and
 * whatever else is reachable. A secret a stand-in object only yields when coerced is not reachable
 * this way, unless `coerce`: then every object with its own `toString` or `Symbol.toPrimitive` is
 * also turned into a string (what `String(arg)` or a template literal would show). Use it for errors:
 * they must not even hold a stand-in. Private class fields (#) are not reachable.
 */
export function secretsIn(subject: unknown, secrets: readonly string[], options: { coerce?: boolean } = {}): string[] {
  const wanted = secrets.filter((s) => s.length > 0);
  const found: string[] = [];
  const check = (where: string, text: string) => {
    for (const secret of wanted) if (text.includes(secret)) found.push(`${where} shows a secret (${secret.length} characters, starting "${secret.slice(0, 3)}")`);
  };
  check('util.inspect', inspect(subject, { depth: 8, showHidden: true }));
  check('util.inspect without custom inspection', inspect(subject, { depth: 8, showHidden: true, customInspect: false }));
  check('console.log', formatWithOptions({ colors: false }, '%s %o', subject, subject));
  try {
    check('JSON.stringify', JSON.stringify(subject) ?? '');
  } catch {
    // A circular structure (connection internals): the walk below reaches every part of it.
  }
  if (subject instanceof Error) {
    check('String(error)', String(subject));
    check('error.stack', subject.stack ?? '');
  }
  walk(subject, check, options.coerce === true);
  return found;
}

function walk(subject: unknown, check: (where: string, text: string) => void, coerce: boolean): void {
  const seen = new Set<object>();
  const queue: [string, unknown][] = [['subject', subject]];
  for (let at = 0; at < queue.length && seen.size < MAX_OBJECTS; at++) {
    const [path, value] = queue[at]!;
    if (typeof value === 'string') {
      check(path, value);
      continue;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue;
    seen.add(value);
    if (coerce && (Object.hasOwn(value, 'toString') || Object.hasOwn(value, Symbol.toPrimitive))) {
      try {
        check(`String(${path})`, String(value));
      } catch {
        // not convertible
      }
    }
    if (ArrayBuffer.isView(value)) {
      check(path, Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1'));
      continue;
    }
    if (value instanceof ArrayBuffer) {
      check(path, Buffer.from(value).toString('latin1'));
      continue;
    }
    if (value instanceof Map) for (const [k, v] of value) queue.push([`${path}<key>`, k], [`${path}[${String(k).slice(0, 40)}]`, v]);
    if (value instanceof Set) for (const v of value) queue.push([`${path}<entry>`, v]);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) queue.push([`${path}.${String(key)}`, descriptor.value]);
    }
  }
}
