import type { RedisOptions } from 'ioredis';
import type { KccLogger } from '../logger.js';
import { tokenSigningConnector } from './connector.js';
import type { ResolvedIamAuth } from './resolve-iam-options.js';
import { IamTokenSource } from './token-source.js';

/**
 * IAM authentication of one `KccRedis`: the token source and the ioredis options that make every
 * connection (and reconnect, and cluster node connection) authenticate with a freshly signed token.
 */
export class IamAuth {
  readonly tokens: IamTokenSource;
  private readonly connector: ReturnType<typeof tokenSigningConnector>;

  constructor(
    readonly config: ResolvedIamAuth,
    logger: KccLogger,
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
    this.connector = tokenSigningConnector(this.tokens);
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
