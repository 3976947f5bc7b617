import { inspect } from 'node:util';

/**
 * An object that stands in for a secret string (a password, an IAM token) where a library keeps it
 * in its options. Printed, inspected or serialized (`console.log`, `util.inspect`, `JSON.stringify`)
 * it shows `label`, so the secret itself never sits in an options object or a connection's state.
 * It does not keep the secret out of commands: ioredis turns it into a string when it builds the
 * AUTH or HELLO command (`Command` arguments hold the secret from then on), so errors that carry a
 * command are redacted (ioredis 6.1's own `redactSensitiveArgs`, then redis-error-redaction.ts).
 *
 * @example
 * const password = secretStandIn(() => credentials.password);
 * new Redis({ username, password: password as unknown as string });
 */
export function secretStandIn(read: () => string, label = '[redacted]'): object {
  return Object.freeze({
    toString: read,
    [Symbol.toPrimitive]: read,
    toJSON: () => label,
    [inspect.custom]: () => label,
  });
}
