import { inspect } from 'node:util';

/**
 * An object that stands in for a secret string (a password, an IAM token) where a library keeps it
 * in its options: ioredis turns it into a string only when it writes AUTH to the socket. Printed,
 * inspected or serialized (`console.log`, `util.inspect`, `JSON.stringify`) it shows `label`, so
 * the secret itself never sits in an options object, a connection's state or an error's command
 * arguments.
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
