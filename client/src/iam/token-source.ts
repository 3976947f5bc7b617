import type { KccLogger } from '../logger.js';
import { type IamAuthTokenOptions, type SignedIamToken, signIamToken } from './auth-token.js';
import { type AwsCredentialsProvider, resolveAwsCredentials } from './aws-credentials.js';
import { CONNECTION_DEFAULTS } from '../options.js';
import { pacedWarner } from '../paced-warning.js';
import { secretStandIn } from '../secret-stand-in.js';

/** What a {@link IamTokenSource} signs for. */
export interface IamTokenSourceOptions extends Pick<IamAuthTokenOptions, 'cacheName' | 'userId' | 'region' | 'serverless'> {
  readonly credentials: AwsCredentialsProvider;
  /** The clock tokens are signed with and judged by (epoch ms). */
  readonly now: () => number;
  /** Re-sign the stand-by token once it is this old. */
  readonly refreshAfterMs: number;
  /** How often to look at the stand-by token's age. */
  readonly checkIntervalMs: number;
  /**
   * How long one credential-provider call may take; past it the signature fails and the next one
   * asks the provider again. @default CONNECTION_DEFAULTS.connectTimeoutMs (10 s)
   */
  readonly credentialsTimeoutMs?: number;
  /**
   * Minimum time between two forced credential refreshes (after refused tokens). Signatures in
   * between use the provider's cached credentials. @default CONNECTION_DEFAULTS.credentialRefreshMinIntervalMs (1 s)
   */
  readonly credentialRefreshMinIntervalMs?: number;
  readonly logger: KccLogger;
}

/** A token is not handed out in its last minute: it must still be valid when the server checks it. */
const EXPIRY_MARGIN_MS = 60_000;
const REDACTED = '[IAM auth token]';

/**
 * Signs ElastiCache IAM tokens for one user and cache, and holds the newest one.
 *
 * Every new connection asks for a fresh one ({@link refresh}, single-flight: connections opening
 * together share one signature). The newest token also stands by, re-signed every
 * `refreshAfterMs`, for connections that ioredis opens on its own and that cannot wait for a
 * signature (a cluster's pub/sub subscriber). No token is handed out after it expires
 * (15 minutes, or earlier when the credentials that signed it expire). After the server refused a
 * token, the next signature asks the credential provider to resolve again (`forceRefresh`), at most
 * once per `credentialRefreshMinIntervalMs`: a reconnect loop of refused tokens does not call
 * IMDS/STS on every attempt. A provider call that does not answer within `credentialsTimeoutMs`
 * fails the signature (the shared one ends, so the next caller asks again instead of joining it).
 */
export class IamTokenSource {
  // Private fields (#) stay out of console.log / util.inspect dumps of this object.
  #newest: SignedIamToken | undefined;
  private inFlight: Promise<void> | undefined;
  private refreshCredentials = false;
  /** performance.now() of the last forced refresh. */
  private lastForcedAt = Number.NEGATIVE_INFINITY;
  /** Signing failures since the last success: said at once, then at most once a minute (every reconnect signs), and their end once. */
  private failures = 0;
  private readonly warnFailure: ReturnType<typeof pacedWarner>;
  private readonly timer: NodeJS.Timeout;
  /** Tokens signed so far. */
  signed = 0;
  /** Passed as ioredis' `password`: its string value is the newest usable token, read when AUTH is sent. */
  readonly password: object;

  constructor(private readonly options: IamTokenSourceOptions) {
    this.warnFailure = pacedWarner(options.logger);
    this.timer = setInterval(() => this.keepFresh(), options.checkIntervalMs);
    this.timer.unref();
    this.password = secretStandIn(() => this.current(), REDACTED);
  }

  /**
   * Signs a new token now (one signature for all concurrent callers). Resolves once a usable token
   * is held: also when signing failed but the previous token is still valid (a warning is logged);
   * rejects when there is none. Settles within `credentialsTimeoutMs` plus the signing itself.
   */
  async refresh(): Promise<void> {
    this.inFlight ??= this.signOnce().finally(() => {
      this.inFlight = undefined;
    });
    try {
      await this.inFlight;
    } catch (error) {
      if (this.usable() === undefined) throw error;
    }
  }

  /**
   * The newest token while it is usable, else `''` (which the server refuses like a wrong password)
   * and a new one is signed for the next attempt.
   */
  current(): string {
    const token = this.usable();
    if (token !== undefined) return token;
    this.refresh().catch(() => {
      // Logged by signOnce; the next attempt tries again.
    });
    return '';
  }

  private usable(): string | undefined {
    const newest = this.#newest;
    return newest !== undefined && this.options.now() < newest.expiresAt - EXPIRY_MARGIN_MS ? newest.token : undefined;
  }

  /** The server refused a token: the next signature forces the provider to resolve again (rate-limited). */
  rejected(): void {
    this.refreshCredentials = true;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async signOnce(): Promise<void> {
    const minIntervalMs = this.options.credentialRefreshMinIntervalMs ?? CONNECTION_DEFAULTS.credentialRefreshMinIntervalMs;
    // Too soon after the last forced refresh: sign with the provider's cached credentials and force
    // at a later signature, so that a reconnect loop of refused tokens goes on without an IMDS/STS call each time.
    const force = this.refreshCredentials && performance.now() - this.lastForcedAt >= minIntervalMs;
    if (force) {
      this.refreshCredentials = false;
      this.lastForcedAt = performance.now();
    }
    try {
      const timeoutMs = this.options.credentialsTimeoutMs ?? CONNECTION_DEFAULTS.connectTimeoutMs;
      const credentials = await resolveAwsCredentials(this.options.credentials, force, timeoutMs);
      this.#newest = await signIamToken(this.options, credentials, new Date(this.options.now()));
      this.signed++;
      if (this.failures > 0) {
        this.options.logger.warn(`signing ElastiCache IAM auth tokens works again, after ${this.failures} failures`, { cacheName: this.options.cacheName, userId: this.options.userId });
        this.failures = 0;
      }
    } catch (error) {
      // The refused credentials were not replaced: the refresh is still owed.
      if (force) this.refreshCredentials = true;
      this.failures++;
      this.warnFailure('signing', 'signing an ElastiCache IAM auth token failed; connections cannot log in until it works (docs/iam-auth.md)', { cacheName: this.options.cacheName, userId: this.options.userId, error: String(error) });
      throw error;
    }
  }

  private keepFresh(): void {
    const newest = this.#newest;
    if (newest !== undefined && this.options.now() - newest.signedAt < this.options.refreshAfterMs && this.usable() !== undefined) return;
    this.refresh().catch(() => {
      // Logged by signOnce; the next check or connection tries again.
    });
  }
}
