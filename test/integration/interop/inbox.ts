/** One message as a listener received it. */
export interface Received {
  readonly data: unknown;
  readonly sender: string;
}

/**
 * Collects what a subscriber listener receives and lets a test await a count (no polling, no
 * sleeps): `await inbox.count(2)` resolves once two messages are in, or fails after `timeoutMs`.
 */
export class Inbox {
  readonly messages: Received[] = [];
  private readonly waiters: { n: number; resolve: () => void }[] = [];

  /** The listener to subscribe. */
  readonly listener = (data: unknown, sender: string): void => {
    this.messages.push({ data, sender });
    for (const waiter of this.waiters.filter((w) => this.messages.length >= w.n)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };

  count(n: number, timeoutMs = 10_000): Promise<Received[]> {
    if (this.messages.length >= n) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inbox: ${this.messages.length} of ${n} messages after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.messages);
        },
      });
    });
  }
}
