import { MESSAGE_MAX_AGE_MS } from './connector-seal.js';

/**
 * How much longer than {@link MESSAGE_MAX_AGE_MS} an id is kept: the estimate of the server's time a
 * message is judged by may step back by this much (measured again, a round trip's half off) without
 * an id let go too early passing again.
 */
const CLOCK_STEP_SLACK_MS = 5_000;

/**
 * The ids of the messages a listener took, each kept until {@link MESSAGE_MAX_AGE_MS} (and a slack)
 * after it was sent, past which the message is refused for its age anyway: so a message heard on two
 * channels (the current and the previous key-encryption key's), or sent again by a writer of Redis,
 * is taken once, however many others come meanwhile.
 */
export class HeardMessages {
  /** Id → the server time (ms) past which it need not be kept; in the order heard. */
  private readonly kept = new Map<string, number>();

  /** True the first time `id` (sent at server time `sentAt`) is heard; `now`: the server time. */
  hear(id: string, sentAt: number, now: number): boolean {
    for (const [keptId, until] of this.kept) {
      if (until >= now) break; // heard in about the order sent: the rest are later
      this.kept.delete(keptId);
    }
    if (this.kept.has(id)) return false;
    this.kept.set(id, sentAt + MESSAGE_MAX_AGE_MS + CLOCK_STEP_SLACK_MS);
    return true;
  }
}
