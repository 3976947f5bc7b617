/** `value` as one word for a POSIX shell and for `node --env-file`: as is when safe, else in single quotes. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  if (/[\n\r]/.test(value)) throw new TypeError(`cannot quote a value with a line break: ${JSON.stringify(value)}`);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
