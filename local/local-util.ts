import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (asks the OS for one by listening on port 0, then releases it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port on 127.0.0.1');
  return address.port;
}

/** Whether `port` on 127.0.0.1 can be listened on right now. */
export async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((done) => {
    probe.once('error', () => done(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
  });
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A random alphanumeric password from crypto.randomBytes (64 characters by default, like the
 * stack's Secrets Manager passwords). Rejection sampling keeps every character equally likely.
 */
export function randomPassword(length = 64): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62];
    }
  }
  return out;
}

/**
 * What ElastiCache would refuse in a user password, or undefined: 16–128 printable ASCII
 * characters without spaces, `,`, `"`, `/` or `@`. (A space would also break the local ACL file.)
 */
export function passwordProblem(password: string): string | undefined {
  if (password.length < 16 || password.length > 128) return `must be 16–128 characters (has ${password.length})`;
  if (!/^[\x21-\x7e]+$/.test(password)) return 'must be printable ASCII without spaces';
  if (/[,"/@]/.test(password)) return 'must not contain , " / or @';
  return undefined;
}
