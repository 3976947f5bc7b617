import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A loopback TCP proxy the test controls, for partitions: `cut()` destroys every connection and
 * refuses new ones until `heal()`; `blackhole()` keeps every connection open but drops every byte
 * either way (a peer that vanished without closing anything): the connections it swallowed from are
 * broken for good (their TLS streams lost bytes), new ones pass again after `heal()`. Bytes pass
 * through untouched otherwise (TLS stays end to end).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  private swallowing = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (proxy!.cutOff) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, targetHost);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        proxy!.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy!.sockets.delete(a);
          b.destroy();
        });
        // Written by hand rather than piped so that blackhole() can drop bytes; an end still passes (allowHalfOpen is off).
        a.on('data', (chunk: Buffer) => {
          if (!proxy!.swallowing) b.write(chunk);
        });
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('proxy has no address');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get url(): string {
    return `rediss://127.0.0.1:${this.port}`;
  }

  /** Drops every connection and refuses new ones. */
  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Drops every byte either way from now on, closing nothing, until {@link heal} (connections that lost bytes stay broken). */
  blackhole(): void {
    this.swallowing = true;
  }

  heal(): void {
    this.cutOff = false;
    this.swallowing = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
