import type { RedisOptions } from 'ioredis';
import { loadAll } from '../aws/load-sdk.js';
import type { KccLogger } from '../logger.js';
import { loadSigner } from './auth-token.js';
import { loadCredentialsPeer } from './aws-credentials.js';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { socketConnector } from '../socket-connector.js';
import type { ResolvedIamAuth } from './resolve-iam-options.js';
import { IamTokenSource } from './token-source.js';

/**
 * Loads the optional packages IAM authentication needs: the signer's, and the default credential
 * chain's when no credentials are given. A missing package is permanent: loaded before the first
 * connection, it fails `connect` at once with a `KccConfigError` naming it, instead of failing
 * every connection attempt until `connectTimeoutMs`.
 */
export async function loadIamPeers(config: ResolvedIamAuth): Promise<void> {
  await loadAll([loadSigner(), loadCredentialsPeer(config.credentials)]);
}

/**
 * IAM authentication of one `KccRedis`: the token source and the ioredis options that make every
 * connection (and reconnect, and cluster node connection) authenticate with a freshly signed token.
 */
export class IamAuth {
  readonly tokens: IamTokenSource;
  private readonly connector: ReturnType<typeof socketConnector>;

  constructor(
    readonly config: ResolvedIamAuth,
    logger: KccLogger,
    openTls?: (options: ConnectionOptions) => TLSSocket,
  ) {
    this.tokens = new IamTokenSource({
      cacheName: config.cacheName,
      userId: config.userId,
      region: config.region,
      serverless: config.serverless,
      credentials: config.credentials,
      now: config.now,
      refreshAfterMs: config.tokenRefreshAfterMs,
      checkIntervalMs: config.checkIntervalMs,
      credentialsTimeoutMs: config.credentialsTimeoutMs,
      credentialRefreshMinIntervalMs: config.credentialRefreshMinIntervalMs,
      logger,
    });
    // Each socket is opened with a token signed moments before: every connection, reconnect or
    // cluster node connection. ioredis reads the password (the source's stand-in) when it sends
    // AUTH, after the socket is up.
    this.connector = socketConnector({ prepare: () => this.tokens.refresh(), openTls });
  }

  /** ioredis options: the user id as user name, the token stand-in as password, the signing connector. */
  redisOptions(): Pick<RedisOptions, 'username' | 'password' | 'Connector'> {
    // ioredis turns the password into a string when it sends AUTH: the stand-in yields the newest token then.
    return { username: this.config.userId, password: this.tokens.password as unknown as string, Connector: this.connector };
  }

  /** Why the server refuses tokens, and what to check; names no token. */
  rejection(code: string): string {
    const { userId, cacheName, region, serverless } = this.config;
    return (
      `Redis refused the IAM token of user "${userId}" for ${serverless ? 'serverless cache' : 'replication group'} "${cacheName}" in ${region} (${code}): ` +
      'check that the user exists with authentication mode "iam" and is in the cache\'s user group, that the credentials\' role is allowed ' +
      `elasticache:Connect on the cache and on user "${userId}", and the cache name, region and serverless setting`
    );
  }

  close(): void {
    this.tokens.stop();
  }
}
