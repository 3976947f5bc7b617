/**
 * A starting instance's reads of the stored revocation state, intercepted: to restart a server, move
 * a slot or change the set between two reads, and to count them. The one place that knows how each
 * read goes out (a range by rank: the script READ_RANK_RANGE, keys `[key]`, arguments
 * `['w', start, stop, longest]`; a page after an entry: READ_AFTER_ENTRY through
 * `callBuffer('EVAL', …)`, arguments `['w', score, member, count, longest]`).
 */
import type { Cluster, Redis } from 'ioredis';
import type { KccRedis } from '../../client/src/index.js';
import { READ_AFTER_ENTRY, READ_RANK_RANGE } from '../../client/src/revocation/revocation-snapshot.js';
import { interceptScript } from './redis.js';

/** A read of the stored state: by rank, or a page after an entry. */
export type ReadKind = 'rank' | 'entry';

/** Where a read starts: a rank, or the entry (score and member, as sent: bytes after the first page) a page reads after; undefined for a read's first command. */
type Start = { readonly rank: string } | { readonly score: Buffer | string; readonly member: Buffer | string } | undefined;

/**
 * Routes every range by rank that `redis` reads (of any key) through `hook`, with what `ZRANGE` gets
 * in the script: the key, the first rank and the last (as strings).
 */
export function interceptRankRanges(redis: KccRedis, hook: (range: [key: string, first: string, last: string], send: () => Promise<unknown>) => Promise<unknown>): void {
  interceptScript(redis, READ_RANK_RANGE, (keys, args, send) => hook([String(keys[0]), String(args[1]), String(args[2])], send));
}

/** Routes every read of `key` that `redis` sends through `hook`, with its kind and where it starts. */
function interceptReads(redis: KccRedis, key: string, hook: (kind: ReadKind, start: Start, send: () => Promise<unknown>) => Promise<unknown>): void {
  interceptRankRanges(redis, ([read, first], send) => (read === key ? hook('rank', first === '0' ? undefined : { rank: first }, send) : send()));
  interceptScript(redis, READ_AFTER_ENTRY, (keys, args, send) => {
    if (keys[0] !== key) return send();
    return hook('entry', args[1] === '' ? undefined : { score: args[1] as Buffer, member: args[2] as Buffer }, send);
  });
}

/** One string per place a read starts, to tell a command sent again (after LOADING, say) from the next. */
const placeOf = (start: Start) => (start === undefined ? '' : 'rank' in start ? start.rank : `${start.score.toString('hex')}:${start.member.toString('hex')}`);

/**
 * Runs `hook` before every read of `key` of the kind `kind` but the first of a read (each later
 * range, or each page after an entry, with that entry's member), once per place a read starts.
 */
export function beforeLaterReads(redis: KccRedis, key: string, kind: ReadKind, hook: (after: Buffer | string | undefined) => Promise<void>): void {
  let last: string | undefined;
  interceptReads(redis, key, async (read, start, send) => {
    if (read !== kind) return send();
    if (start === undefined) last = undefined;
    else if (placeOf(start) !== last) {
      last = placeOf(start);
      await hook('member' in start ? start.member : undefined);
    }
    return send();
  });
}

/** Counts the pages of reads after an entry of `key` that `redis` sends (a page sent again counts once). */
export function countEntryReads(redis: KccRedis, key: string): () => number {
  let reads = 0;
  let last: string | undefined;
  interceptReads(redis, key, (read, start, send) => {
    if (read === 'entry' && placeOf(start) !== last) {
      reads++;
      last = placeOf(start);
    }
    return send();
  });
  return () => reads;
}

/**
 * Before every range after the first of each read by rank of `key`, removes the top member through
 * `raw`: everything unread moves up a rank, the range does not begin with an entry the one before
 * held, and after each of three reads by rank fails so, the loader reads each page after the last
 * entry read. (Only a purge of poison entries or a holder of the app's credentials removes members
 * above the read position.) Returns how many it removed.
 */
export function shiftUpEachRange(redis: KccRedis, raw: Redis | Cluster, key: string): () => number {
  let removed = 0;
  beforeLaterReads(redis, key, 'rank', async () => {
    const [top] = await raw.zrevrange(key, 0, 0);
    removed += await raw.zrem(key, top!);
  });
  return () => removed;
}
