import type { CredentialsProvider, RedisCredentials } from './options.js';
import { secretStandIn } from './secret-stand-in.js';

/**
 * Holds the credentials in use and re-reads them on demand: one read at a time for all callers
 * (single-flight), and no more often than `minIntervalMs` (a caller arriving sooner waits for the
 * next allowed read instead of hammering Secrets Manager).
 */
export class CredentialRefresher {
  // Private fields (#) stay out of console.log / util.inspect dumps of this object.
  #current: RedisCredentials;
  private inFlight: Promise<void> | undefined;
  private lastReadAt = Number.NEGATIVE_INFINITY;
  private generation = 0;
  /**
   * What connections are given as their password: it reads as the current password only when a
   * connection sends AUTH, and as `[redacted]` when printed or serialized, so no options object,
   * connection state or error argument holds the password itself, and a re-read needs no copying.
   */
  readonly password: object = secretStandIn(() => this.#current.password);

  constructor(
    initial: RedisCredentials,
    private readonly read: CredentialsProvider | undefined,
    private readonly minIntervalMs: number,
  ) {
    this.#current = initial;
  }

  get credentials(): RedisCredentials {
    return this.#current;
  }

  /** Whether credentials can change at all (a secret or provider backs them). */
  get refreshable(): boolean {
    return this.read !== undefined;
  }

  /** Counts credential changes; lets a caller tell whether a refresh it waited for changed anything. */
  get version(): number {
    return this.generation;
  }

  /** Re-reads the credentials (single-flight, rate-limited). Resolves true when they changed. */
  async refresh(): Promise<boolean> {
    return (await this.refreshAndTell()).changed;
  }

  /**
   * {@link refresh}, also telling whether this call started the read (`joined: false`) or joined one
   * already in flight: several connections failing at once are one failure, not several.
   */
  async refreshAndTell(): Promise<{ readonly changed: boolean; readonly joined: boolean }> {
    if (!this.read) return { changed: false, joined: false };
    const before = this.generation;
    const joined = this.inFlight !== undefined;
    this.inFlight ??= this.readOnce().finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
    return { changed: this.generation !== before, joined };
  }

  private async readOnce(): Promise<void> {
    const wait = this.lastReadAt + this.minIntervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.lastReadAt = performance.now();
    const next = await this.read!();
    if (next.username !== this.#current.username || next.password !== this.#current.password) {
      this.#current = next;
      this.generation++;
    }
  }
}
