import { Socket, createConnection } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AbstractConnector } from 'ioredis';
import type { IamTokenSource } from './token-source.js';

/** The part of ioredis' node options a connector uses (what its StandaloneConnector reads). */
interface ConnectorOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls?: ConnectionOptions;
  readonly disconnectTimeout?: number;
}

/** ioredis' message for a connection closed before it opened (its `CONNECTION_CLOSED_ERROR_MSG`). */
const CLOSED = 'Connection is closed.';

/**
 * An ioredis `Connector` (its documented option) that signs a fresh IAM token before it opens each
 * socket: every connection, reconnect or cluster node connection authenticates with a token
 * signed moments before. ioredis reads the password (the source's `password` stand-in) when it
 * sends AUTH, after the socket is up.
 *
 * When no usable token can be had (credentials cannot be resolved, or the provider did not answer
 * within the source's time limit), the connection attempt fails like an unreachable server: ioredis
 * reports the error and retries with its backoff. The wait before the socket is outside ioredis'
 * `connectTimeout`: the source's time limit is what bounds it.
 */
export function tokenSigningConnector(source: IamTokenSource): new (options: unknown) => AbstractConnector {
  return class TokenSigningConnector extends AbstractConnector {
    private readonly target: ConnectorOptions;

    constructor(options: unknown) {
      const target = options as ConnectorOptions;
      super(target.disconnectTimeout ?? 2_000);
      this.target = target;
    }

    override async connect(): Promise<Socket | TLSSocket> {
      this.connecting = true;
      try {
        await source.refresh();
      } catch (error) {
        // A destroyed stream makes ioredis report firstError and schedule a reconnect.
        this.firstError = error instanceof Error ? error : new Error(String(error));
        const failed = new Socket();
        failed.destroy();
        return failed;
      }
      // disconnect() was called while the token was being signed.
      if (!this.connecting) throw new Error(CLOSED);
      const { host, port, tls } = this.target;
      const stream = tls ? tlsConnect({ host, port, ...tls }) : createConnection({ host: host ?? '127.0.0.1', port: port ?? 6379 });
      stream.once('error', (error: Error) => {
        this.firstError = error;
      });
      this.stream = stream;
      return stream;
    }
  };
}
