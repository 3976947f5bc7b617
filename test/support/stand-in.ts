/**
 * An object that stands for a value a hook sets (a server a `beforeAll` starts), so that a test file
 * can name it at its top level: property reads go to `current()` (methods bound to it). Reading it
 * while `current()` is undefined (at the top level, or after a failed start) throws, naming `what`
 * and the field read. It forwards property reads only: not `instanceof`, `in`, spreading or
 * assignment, which no test needs.
 */
export function standIn<T extends object>(what: string, current: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, field) {
      const value = current();
      if (value === undefined) throw new Error(`${what}: ".${String(field)}" was read before it was started (read it inside a test or hook)`);
      const read: unknown = Reflect.get(value, field, value);
      return typeof read === 'function' ? read.bind(value) : read;
    },
  });
}
