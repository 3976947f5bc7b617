import type { KccLogger } from '../logger.js';
import type { RingKeeper } from './ring-keeper.js';

/** How soon the kept keys are looked at again when the ring's lock was taken; doubled up to the read interval. */
const RETRY_FIRST_MS = 250;

/**
 * The retired keys an instance keeps in the JWKS past their grace ({@link KeyRing.keepPublished}), and
 * the looks that move their leaving on. A kept key with less than half the grace left (at least two
 * `refreshIntervalMs`) is moved a grace later (at least four) under the ring's lock: one write for the
 * whole fleet. Looked at on each periodic read and each ring adopted (a rotation by another instance
 * may leave a kept key less time than the next read is away), and again soon when someone else held
 * the lock, backing off while they do.
 */
export class KeptKeys {
  /** Kids kept, with how many keep each. */
  private readonly counts = new Map<string, number>();
  private retry: NodeJS.Timeout | undefined;
  private retryMs = RETRY_FIRST_MS;
  private stopped = false;

  constructor(
    private readonly keeper: RingKeeper,
    private readonly options: { readonly retireGraceMs: number; readonly refreshIntervalMs: number },
    private readonly logger: KccLogger,
    /** Runs a look in the background (tracked, its failure logged). */
    private readonly background: (look: Promise<void>) => void,
  ) {}

  get size(): number {
    return this.counts.size;
  }

  /** Keeps `kid` until the returned function is called (idempotent). */
  keep(kid: string): () => void {
    this.counts.set(kid, (this.counts.get(kid) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(kid) ?? 1) - 1;
      if (left > 0) this.counts.set(kid, left);
      else this.counts.delete(kid);
    };
  }

  /** Moves the leaving of each kept key that is due to leave the JWKS soon, or that left it while still stored. */
  async look(): Promise<void> {
    const grace = this.options.retireGraceMs;
    if (this.stopped || this.counts.size === 0 || grace <= 0) return;
    const margin = Math.max(grace / 2, 2 * this.options.refreshIntervalMs);
    let lockTaken = false;
    for (const kid of [...this.counts.keys()]) {
      const now = Date.now();
      const key = this.keeper.ring?.usable.ring.keys.find((k) => k.kid === kid);
      if (!key || key.expiresAt === null || key.expiresAt - now >= margin || this.keeper.cannotKeep(kid)) continue;
      try {
        if (!(await this.keeper.keepPublishedUntil(kid, now + Math.max(grace, 2 * margin), now + margin))) lockTaken = true;
      } catch (error) {
        // The other kept keys are still looked at; this one again at the next read.
        this.logger.warn(`key ring: could not keep kid ${kid} published; will retry`, { error: String(error) });
      }
    }
    // The back-off lasts only while the lock stays taken: a look that found it free, or nothing due,
    // starts over from a quarter second.
    if (lockTaken) this.lookAgainSoon();
    else this.retryMs = RETRY_FIRST_MS;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  /** The lock was held by someone else (the rotation just adopted, as often as not): a look soon, not at the next read, which may come after the key left the JWKS. */
  private lookAgainSoon(): void {
    if (this.stopped || this.retry !== undefined) return;
    const delay = this.retryMs;
    // A lock held for long (a dead holder, until lockTtlMs) is not asked 4 times a second.
    this.retryMs = Math.min(delay * 2, Math.max(RETRY_FIRST_MS, this.options.refreshIntervalMs));
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.background(this.look());
    }, delay);
    this.retry.unref();
  }
}
