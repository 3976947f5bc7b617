import { Socket, createConnection } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AbstractConnector } from 'ioredis';

/** The part of ioredis' node options a connector uses (what its StandaloneConnector reads). */
interface ConnectorOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls?: ConnectionOptions;
  readonly disconnectTimeout?: number;
}

/** ioredis' message for a connection closed before it opened (its `CONNECTION_CLOSED_ERROR_MSG`). */
const CLOSED = 'Connection is closed.';

export interface SocketConnectorOptions {
  /**
   * Runs before each socket is opened (IAM: sign a fresh token). When it throws, the attempt fails
   * like an unreachable server: ioredis reports the error and retries with its backoff. The wait is
   * outside ioredis' `connectTimeout`: whatever `prepare` waits on must bound itself.
   */
  readonly prepare?: () => Promise<void>;
  /** Opens a TLS socket (TLS session resumption hands over its session here). @default tls.connect */
  readonly openTls?: (options: ConnectionOptions) => TLSSocket;
}

/**
 * An ioredis `Connector` (its documented option) that opens each socket as ioredis' own
 * StandaloneConnector does, with a step before it and a TLS opener of our own: one connector for
 * every connection, reconnect and cluster node connection of a `KccRedis`.
 */
export function socketConnector({ prepare, openTls = tlsConnect }: SocketConnectorOptions): new (options: unknown) => AbstractConnector {
  return class KccConnector extends AbstractConnector {
    private readonly target: ConnectorOptions;

    constructor(options: unknown) {
      const target = options as ConnectorOptions;
      super(target.disconnectTimeout ?? 2_000);
      this.target = target;
    }

    override async connect(): Promise<Socket | TLSSocket> {
      this.connecting = true;
      try {
        await prepare?.();
      } catch (error) {
        // A destroyed stream makes ioredis report firstError and schedule a reconnect.
        this.firstError = error instanceof Error ? error : new Error(String(error));
        const failed = new Socket();
        failed.destroy();
        return failed;
      }
      // disconnect() was called meanwhile.
      if (!this.connecting) throw new Error(CLOSED);
      const { host, port, tls } = this.target;
      const stream = tls ? openTls({ host, port, ...tls }) : createConnection({ host: host ?? '127.0.0.1', port: port ?? 6379 });
      stream.once('error', (error: Error) => {
        this.firstError = error;
      });
      this.stream = stream;
      return stream;
    }
  };
}
