/** `value` as one word for a POSIX shell and for `node --env-file`: as is when safe, else in single quotes. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  if (/[\n\r]/.test(value)) throw new TypeError(`cannot quote a value with a line break: ${JSON.stringify(value)}`);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Why `value` cannot be an env file's value, or undefined when it can. The env files `kcc-redis local`
 * writes are read by `node --env-file` and by a POSIX shell's `.`: their only common quotings are
 * single quotes (no `'` inside: Node's parser has no escape, `'\''` is the shell's) and double quotes
 * with none of `"`, `$`, `` ` ``, `\` inside (the shell expands those, Node keeps them, or turns `\n`
 * into a line break).
 */
export function envFileValueProblem(value: string): string | undefined {
  if (/[\n\r]/.test(value)) return 'a line break';
  if (value.includes("'") && /["$`\\]/.test(value)) return `both ' and one of " $ \` \\`;
  return undefined;
}

/** `value` as an env file's value (see {@link envFileValueProblem}, which must have found none). */
export function envFileQuote(value: string): string {
  const problem = envFileValueProblem(value);
  if (problem) throw new TypeError(`cannot write a value with ${problem} to an env file`);
  return value.includes("'") ? `"${value}"` : shellQuote(value);
}
