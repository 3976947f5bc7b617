import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import type { Redis } from 'ioredis';

const HIDDEN = '[TLS session]';

/**
 * TLS session resumption across one instance's connections to one endpoint, as Node's own HTTPS
 * agent does for its sockets: the latest session ticket the server sent on any of them is offered by
 * the next handshake (a connection opened later, every reconnect and renewal). The connections
 * opened together at start-up do not wait for a ticket: measured, waiting for one cost a two-connection
 * start more than the resumed handshake saved it. A resumed handshake
 * skips the certificate exchange and its signature: measured on loopback, 1.05 ms of the client's
 * CPU against 1.6 ms for a full one (Node 20, redis-server 7.0), and the server saves its signature
 * too. A ticket the server no longer accepts (a restarted or replaced node, an expired ticket) costs
 * nothing but its bytes: the server answers with a full handshake, certificate and all, which Node
 * verifies as always.
 *
 * Only for a standalone endpoint: a cluster's connections go to many nodes from one set of options.
 */
export class TlsSessions {
  // A session holds its resumption secret: whoever has it can pose as the server to this instance on
  // a resumed handshake (and be sent the password). So it is kept where printing, inspecting or
  // walking the public objects cannot reach it: a #private field here, and each connect is handed a
  // copy, read through a getter, that is wiped once its handshake is over (Node keeps the options
  // it was given for the socket's life).
  #session: Buffer | undefined;
  /** Handshakes that resumed a session (the others were full ones). */
  resumed = 0;

  /**
   * TLS options for one connection, whose `session` is read at each of its connects (ioredis copies
   * `tls` into every `tls.connect`), and `watch`, which keeps the tickets that connection receives.
   */
  forConnection(base: ConnectionOptions): { readonly options: ConnectionOptions; readonly watch: (client: Redis) => void } {
    let offered: Buffer | undefined;
    const wipe = () => {
      offered?.fill(0);
      offered = undefined;
    };
    const options = Object.defineProperty({ ...base }, 'session', {
      enumerable: true,
      get: () => {
        wipe();
        offered = this.#session && hidden(Buffer.from(this.#session));
        return offered;
      },
    });
    const watch = (client: Redis) => {
      client.on('connect', () => {
        wipe(); // the handshake is done: OpenSSL holds the session it was offered
        const stream = client.stream as TLSSocket | undefined;
        if (!stream?.isSessionReused) return; // not a TLS socket (never, with a TLS endpoint)
        if (stream.isSessionReused()) this.resumed++;
        stream.on('session', (ticket: Buffer) => this.keep(ticket));
      });
      client.on('end', wipe);
    };
    return { options, watch };
  }

  private keep(ticket: Buffer): void {
    this.#session = hidden(ticket);
  }
}

/** A session's bytes print and serialize as a label. */
function hidden(bytes: Buffer): Buffer {
  return Object.defineProperties(bytes, { [inspect.custom]: { value: () => HIDDEN }, toJSON: { value: () => HIDDEN } });
}
