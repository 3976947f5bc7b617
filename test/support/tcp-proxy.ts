import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A loopback TCP proxy the test controls, for partitions: `cut()` destroys every connection and
 * refuses new ones until `heal()`; `blackhole()` keeps every connection open but drops every byte
 * either way (a peer that vanished without closing anything): the connections it swallowed from are
 * broken for good (their TLS streams lost bytes), new ones pass again after `heal()`. `hold()`
 * parks new connections, unconnected upstream, until `release()` (a handshake that has not got
 * through yet). Bytes pass through untouched otherwise (TLS stays end to end).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  private swallowing = false;
  private holding = { skip: 0, count: 0 };
  private readonly held: Socket[] = [];

  private constructor(
    private readonly server: Server,
    private readonly forward: (client: Socket) => void,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const forward = (client: Socket) => {
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
      client.resume();
    };
    const server = createServer({ pauseOnConnect: true }, (client) => {
      if (proxy!.cutOff) {
        client.destroy();
        return;
      }
      if (proxy!.holding.skip > 0) {
        proxy!.holding.skip--;
      } else if (proxy!.holding.count > 0) {
        proxy!.holding.count--;
        proxy!.held.push(client);
        proxy!.sockets.add(client);
        client.on('error', () => undefined);
        client.on('close', () => proxy!.sockets.delete(client));
        return;
      }
      forward(client);
    });
    proxy = new TcpProxy(server, forward);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
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

  /**
   * Parks `count` new connections (accepted, nothing forwarded) until {@link release}, after letting
   * the next `skip` through, in the order they reach the proxy. A parked socket is paused: it does not
   * notice its client leaving until released (or the proxy stops).
   */
  hold(count: number, skip = 0): void {
    this.holding = { skip, count };
  }

  /** Connections parked by {@link hold} and not yet released. */
  get heldCount(): number {
    return this.held.filter((socket) => !socket.destroyed).length;
  }

  /** Forwards the parked connections (those still open) from now on. */
  release(): void {
    this.holding = { skip: 0, count: 0 };
    for (const client of this.held.splice(0)) if (!client.destroyed) this.forward(client);
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
