import { createHash } from 'node:crypto';

/** Copies remembered per side while their twin has not arrived (beyond it, the oldest is forgotten). */
const REMEMBERED = 10_000;

/**
 * One message that can arrive two ways, each delivered once: bridge mode's two pub/sub paths (a
 * bridging publisher sends each message by SPUBLISH and PUBLISH), a subscriber renewal's old and new
 * connection while both listen. Each copy heard on one side cancels one copy heard earlier on the
 * other, so a twin is dropped while a message published twice on purpose (or one only one side was
 * sent) is delivered as often as it was sent. Kept as digests, at most {@link REMEMBERED} per side: a
 * burst of large messages costs little memory.
 */
export class PairedCopies<Side> {
  private readonly unmatched = new Map<Side, Map<string, number>>();

  constructor(
    private readonly one: Side,
    private readonly other: Side,
    private readonly limit = REMEMBERED,
  ) {
    this.unmatched.set(one, new Map()).set(other, new Map());
  }

  /** True when this copy, heard on `side`, is the twin of one already delivered from the other side (drop it). */
  isTwin(side: Side, channel: string, message: string): boolean {
    const own = this.unmatched.get(side);
    if (!own) return false;
    const digest = createHash('sha256').update(channel).update('\n').update(message).digest('base64');
    const other = this.unmatched.get(side === this.one ? this.other : this.one)!;
    const waiting = other.get(digest);
    if (waiting !== undefined) {
      if (waiting > 1) other.set(digest, waiting - 1);
      else other.delete(digest);
      return true;
    }
    own.set(digest, (own.get(digest) ?? 0) + 1);
    if (own.size > this.limit) own.delete(own.keys().next().value!);
    return false;
  }
}
