import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { inspect } from 'node:util';

const HIDDEN = '[TLS session]';

/**
 * Endpoints whose latest session is held at once (a cluster's nodes). Past it, the one whose session
 * came least recently is dropped: its next connection makes a full handshake. Node's HTTPS agent
 * keeps 100 (`maxCachedSessions`).
 */
export const MAX_ENDPOINTS = 128;

/**
 * TLS session resumption across one instance's connections, as Node's own HTTPS agent does for its
 * sockets: the latest session an endpoint (`host:port`) gave any of them is offered by the next
 * handshake with that endpoint (a connection opened later, every reconnect and renewal); in cluster
 * mode each node has its own. A resumed handshake skips the certificate exchange and its signature:
 * measured on loopback, 1.05 ms of the client's CPU against 1.6 ms for a full one (Node 20,
 * redis-server 7.0), and the server saves its signature too. A session the server no longer accepts
 * (a restarted or replaced node, an expired ticket) costs nothing but its bytes: the server answers
 * with a full handshake, certificate and all, which Node verifies as always. The connections opened
 * together at start-up do not wait for a session: measured, waiting for one cost a two-connection
 * start more than the resumed handshake saved it.
 *
 * A session holds its resumption secret: whoever has it can pose as the server to this instance on a
 * resumed handshake (and be sent the password). So it is never put in an options object: the
 * sockets are opened by {@link TlsSessions.open}, which hands `tls.connect` a copy of it and
 * wipes the copy as soon as OpenSSL has taken it (Node keeps the options it was given for the
 * socket's life); the sessions themselves are kept in a #private map, outside Node's shared buffer
 * pool, each wiped when replaced or dropped and on {@link close}, and print and serialize as a label.
 * A handshake still running at close() (ioredis ends a socket that is still connecting, it does not
 * destroy it) brings its session after that: it is wiped, not kept.
 */
export class TlsSessions {
  readonly #sessions = new Map<string, Buffer>();
  #closed = false;
  /** Handshakes that resumed a session (the others were full ones). */
  resumed = 0;

  /**
   * Opens a TLS socket offering the session held for its endpoint: `tls.connect` gets a copy, wiped
   * as soon as it returns (OpenSSL has taken it). The socket's own sessions are kept for the next
   * one. For `socketConnector`'s `openTls`.
   */
  readonly open = (options: ConnectionOptions): TLSSocket => {
    const endpoint = `${options.host ?? ''}:${options.port ?? ''}`;
    const held = this.#closed ? undefined : this.#sessions.get(endpoint);
    const offered = held && hiddenCopy(held);
    try {
      const stream = tlsConnect({ ...options, ...(offered && { session: offered }) });
      this.watch(stream, endpoint);
      return stream;
    } finally {
      offered?.fill(0);
    }
  };

  /** Endpoints whose session is held now. */
  get held(): number {
    return this.#sessions.size;
  }

  /** Wipes every session held, and keeps none from now on (the connection's close()). */
  close(): void {
    this.#closed = true;
    for (const session of this.#sessions.values()) session.fill(0);
    this.#sessions.clear();
  }

  private watch(stream: TLSSocket, endpoint: string): void {
    // Attached before the handshake: with TLS 1.2, 'session' comes right after 'secureConnect';
    // with TLS 1.3, each ticket comes after it.
    stream.on('session', (session: Buffer) => this.keep(endpoint, session));
    stream.once('secureConnect', () => {
      if (stream.isSessionReused()) this.resumed++;
    });
  }

  private keep(endpoint: string, session: Buffer): void {
    if (this.#closed) return void session.fill(0);
    const sessions = this.#sessions;
    sessions.get(endpoint)?.fill(0);
    sessions.delete(endpoint); // re-inserted last: the map's order is the order sessions came in
    sessions.set(endpoint, hiddenCopy(session));
    session.fill(0); // the copy Node made for this event: nothing else listens for it
    if (sessions.size > MAX_ENDPOINTS) {
      const [oldest, dropped] = sessions.entries().next().value!;
      dropped.fill(0);
      sessions.delete(oldest);
    }
  }
}

/** A copy of a session outside Node's shared buffer pool, that prints and serializes as a label. */
function hiddenCopy(session: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(session.length);
  session.copy(copy);
  return Object.defineProperties(copy, { [inspect.custom]: { value: () => HIDDEN }, toJSON: { value: () => HIDDEN } });
}
