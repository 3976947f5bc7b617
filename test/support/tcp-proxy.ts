import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A loopback TCP proxy the test controls, for partitions: `cut()` destroys every connection and
 * refuses new ones until `heal()`; `blackhole()` keeps every connection open but drops every byte
 * either way (a peer that vanished without closing anything): the connections it swallowed from are
 * broken for good (their TLS streams lost bytes), new ones pass again after `heal()`; `vanish()`
 * does that to the connections open now only, while new ones pass at once. `hold()`
 * parks new connections, unconnected upstream, until `release()` (a handshake that has not got
 * through yet). `dropReplies` loses what the server sends (a reply lost on the way) while requests
 * still pass; `halfOpen(port)` keeps one connection's client side open and silent once its server
 * side closes (a peer that vanished without a reset reaching the client). Bytes pass through
 * untouched otherwise (TLS stays end to end).
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;
  private swallowing = false;
  private holding = { skip: 0, count: 0 };
  private readonly held: Socket[] = [];
  /** Client sockets by the local port of their upstream socket (what the server's CLIENT LIST shows as addr). */
  private readonly byUpstreamPort = new Map<number, Socket>();
  private readonly halfOpenClients = new Set<Socket>();
  /** Sockets whose bytes are dropped for good (vanish()), both sides of each connection. */
  private readonly vanished = new Set<Socket>();
  /** While true, bytes from the server to the clients are dropped (requests still pass). */
  dropReplies = false;

  private constructor(
    private readonly server: Server,
    private readonly forward: (client: Socket) => void,
  ) {}

  /** Where new connections go (see {@link retarget}). */
  private target = { port: 0, host: '127.0.0.1' };

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const forward = (client: Socket) => {
      const upstream = connect(proxy!.target.port, proxy!.target.host);
      upstream.on('connect', () => proxy!.byUpstreamPort.set(upstream.localPort!, client));
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        proxy!.sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          proxy!.sockets.delete(a);
          if (!(a === upstream && proxy!.halfOpenClients.has(client))) b.destroy();
        });
        // Written by hand rather than piped so that blackhole() can drop bytes; an end still passes (allowHalfOpen is off).
        a.on('data', (chunk: Buffer) => {
          if (!proxy!.swallowing && !proxy!.vanished.has(a) && !(a === upstream && proxy!.dropReplies)) b.write(chunk);
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
    proxy.target = { port: targetPort, host: targetHost };
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `rediss://127.0.0.1:${this.port}`;
  }

  /** Sends new connections to another server from now on (the endpoint's name moved); open ones stay where they are. */
  retarget(port: number, host = '127.0.0.1'): void {
    this.target = { port, host };
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
   * Every connection open now drops every byte either way from now on, for good, and closes nothing;
   * new connections pass. What a client sees when the node it was connected to vanishes (a host
   * failure: no reset reaches it) and the endpoint's name moves on to a healthy node.
   */
  vanish(): void {
    for (const socket of this.sockets) this.vanished.add(socket);
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

  /**
   * The connection whose upstream socket has local port `upstreamPort` (the port in the server's
   * `CLIENT LIST` addr) stays open on the client's side, silent, once the server closes it. Returns
   * that client socket: destroy it to let the client notice at last.
   */
  halfOpen(upstreamPort: number): Socket {
    const client = this.byUpstreamPort.get(upstreamPort);
    if (!client) throw new Error(`no connection whose upstream port is ${upstreamPort}`);
    this.halfOpenClients.add(client);
    return client;
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
