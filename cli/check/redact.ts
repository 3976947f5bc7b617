/** What stands in a report where a secret was. */
export const REDACTED = '[redacted]';

/**
 * The shortest start of a secret looked for. A server may echo what it was sent, cut: Redis' reply
 * to a command it does not have repeats its first arguments, up to 128 characters in all ("unknown
 * command 'AUTH', with args beginning with: 'user' '<password>'"): all of a password, the start of
 * an IAM token (a presigned URL, `<cacheName>/?Action=connect&User=…`, whose secret part comes
 * last). Long enough that harmless text (a cache or user name alone) is not taken for one.
 */
const MIN_PIECE = 16;

/**
 * `text` with every appearance of a secret replaced by {@link REDACTED}: the whole secret, and any
 * start of it at least 16 characters long (a secret shorter than that only whole).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    const piece = secret.slice(0, MIN_PIECE);
    let from = 0;
    for (let at = out.indexOf(piece, from); at >= 0; at = out.indexOf(piece, from)) {
      let length = piece.length;
      while (length < secret.length && out[at + length] === secret[length]) length++;
      out = `${out.slice(0, at)}${REDACTED}${out.slice(at + length)}`;
      from = at + REDACTED.length;
    }
  }
  return out;
}
