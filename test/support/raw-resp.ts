import { connect as plainConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { LocalRedis } from '../../local/local-redis.js';

/** What came back on a raw connection: the first reply line, or nothing before the server closed it. */
export type RawReply = { readonly line: string } | { readonly closedWithoutReply: true };

/**
 * Opens a socket to `server` (TLS trusting its CA, or plaintext), sends `command` as RESP without
 * authenticating first, and resolves with the first reply line. Bounded: rejects after `timeoutMs`.
 */
export function rawCommand(server: LocalRedis, command: readonly string[], options: { plaintext?: boolean; timeoutMs?: number } = {}): Promise<RawReply> {
  const payload = `*${command.length}\r\n${command.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = options.plaintext
      ? plainConnect({ host: server.host, port: server.port }, () => socket.write(payload))
      : tlsConnect({ host: server.host, port: server.port, ca: server.ca, servername: 'localhost' }, () => socket.write(payload));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply to ${command[0]} and no close within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (reply: RawReply) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish({ line: received.slice(0, end) });
    });
    socket.once('close', () => finish(received ? { line: received } : { closedWithoutReply: true }));
    socket.once('error', () => undefined); // a reset is a close without reply; 'close' follows
  });
}
