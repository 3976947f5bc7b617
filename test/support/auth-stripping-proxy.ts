import { readFile } from 'node:fs/promises';
import { type Server, type TLSSocket, connect as tlsConnect, createServer } from 'node:tls';
import type { LocalRedis } from '../../local/local-redis.js';

/**
 * A TLS proxy in front of a real redis-server that answers a client's AUTH itself (`+OK`) and
 * relays everything after it to an unauthenticated connection: the server then answers every
 * command `NOAUTH Authentication required.`, as it does for a connection that never authenticated.
 */
export class AuthStrippingProxy {
  private readonly sockets = new Set<TLSSocket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstream: LocalRedis): Promise<AuthStrippingProxy> {
    const [cert, key] = await Promise.all([readFile(upstream.tls.certFile), readFile(upstream.tls.keyFile)]);
    const server = createServer({ cert, key });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new AuthStrippingProxy(server, (server.address() as { port: number }).port);
    server.on('secureConnection', (client) => proxy.accept(client, upstream));
    return proxy;
  }

  get url(): string {
    return `rediss://127.0.0.1:${this.port}`;
  }

  private accept(client: TLSSocket, upstream: LocalRedis): void {
    this.sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => this.sockets.delete(client));
    let buffered = Buffer.alloc(0);
    const onData = (data: Buffer) => {
      buffered = Buffer.concat([buffered, data]);
      const end = firstCommandEnd(buffered);
      if (end === undefined) return;
      client.off('data', onData);
      client.write('+OK\r\n'); // the AUTH, answered here and never forwarded
      const server = tlsConnect({ host: upstream.host, port: upstream.port, ca: upstream.ca, servername: 'localhost' });
      this.sockets.add(server);
      server.on('error', () => client.destroy());
      server.on('close', () => client.destroy());
      client.on('close', () => server.destroy());
      if (buffered.length > end) server.write(buffered.subarray(end));
      client.pipe(server);
      server.pipe(client);
    };
    client.on('data', onData);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The byte length of the first RESP array in `buffer`, or undefined while it is incomplete. */
function firstCommandEnd(buffer: Buffer): number | undefined {
  const header = buffer.indexOf('\r\n');
  if (header < 0) return undefined;
  const count = Number(buffer.toString('latin1', 1, header));
  let at = header + 2;
  for (let i = 0; i < count; i++) {
    const line = buffer.indexOf('\r\n', at);
    if (line < 0) return undefined;
    at = line + 2 + Number(buffer.toString('latin1', at + 1, line)) + 2;
    if (at > buffer.length) return undefined;
  }
  return at;
}
