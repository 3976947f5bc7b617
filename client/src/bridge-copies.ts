import { createHash } from 'node:crypto';

/** The two ways a message reaches a subscriber in bridge mode. */
export type PubSubPath = 'classic' | 'sharded';

/** Messages remembered per path while their twin has not arrived (beyond it, the oldest is forgotten). */
const REMEMBERED = 10_000;

/**
 * In bridge mode a bridging publisher sends each message both ways (SPUBLISH and PUBLISH) and a
 * bridging subscriber hears it twice. Each copy heard on one path cancels one copy heard earlier on
 * the other: so a twin is dropped, while a message published twice on purpose (or one only an
 * instance on classic pub/sub sent) is still delivered as often as it was sent. Messages are kept as
 * digests, so a burst of large messages costs little memory.
 */
export class BridgeCopies {
  private readonly unmatched: Record<PubSubPath, Map<string, number>> = { classic: new Map(), sharded: new Map() };

  constructor(private readonly limit = REMEMBERED) {}

  /** True when this copy is the twin of one already delivered from the other path (drop it). */
  isTwin(path: PubSubPath, channel: string, message: string): boolean {
    const digest = createHash('sha256').update(channel).update('\n').update(message).digest('base64');
    const other = this.unmatched[path === 'classic' ? 'sharded' : 'classic'];
    const waiting = other.get(digest);
    if (waiting !== undefined) {
      if (waiting > 1) other.set(digest, waiting - 1);
      else other.delete(digest);
      return true;
    }
    const own = this.unmatched[path];
    own.set(digest, (own.get(digest) ?? 0) + 1);
    if (own.size > this.limit) own.delete(own.keys().next().value!);
    return false;
  }
}
