import { SidDigester } from './sid-digest.js';

/** Entries per slot at most before the table grows. Linear probing at 3/4: ~2.5 slots read per hit, ~8.5 per miss (one cache line of tags). */
const MAX_LOAD = 0.75;
/** Growth factor: small, so that the table stays near {@link MAX_LOAD} (memory) at the price of more frequent rehashing (amortised O(1)). */
const GROWTH = 1.2;
/** Below this load after pruning, the table shrinks (to half full). */
const MIN_LOAD = 0.2;
const MIN_CAPACITY = 1_024;
/** Answers remembered by id before the memory of them is dropped and begun anew. */
const RECENT_ANSWERS = 8_192;
/** Bytes per slot: the tag (4), the rest of the digest (12), the time (4). */
export const SESSION_SLOT_BYTES = 20;
/** The bit of digest word 3 that holds the entry's kind (set: up-to); digests keep the other 127 bits. */
const UP_TO_BIT = 1;
/** Digest word 3 without {@link UP_TO_BIT}, as a signed 32-bit integer (compare it with `rest[k] & WORD3_MASK`). */
const WORD3_MASK = ~UP_TO_BIT;

/** {@link SessionTable.issuedUpTo}: the id is not held. */
export const NOT_HELD = -1;
/** {@link SessionTable.issuedUpTo}: every token of the id is revoked. Above any time the table stores. */
export const ALL = 2 ** 32;

/**
 * Revoked session ids as 127-bit digests (see {@link SidDigester}) in typed arrays: an
 * open-addressing hash table with linear probing, no strings and no per-entry objects, so a million
 * sessions cost about 27 to 31 MB and nothing for the garbage collector to trace.
 *
 * An entry is of one of two kinds. "All": every token of the id is revoked, until the entry expires.
 * "Up-to": only tokens issued (`iat`) up to a time T (an offline session shares the `sid` of the
 * browser session logged out, and goes on issuing tokens after T). For one id, all beats up-to and
 * two up-tos keep the later T.
 *
 * Layout per slot `i`: `tags[i]` holds digest word 0 (0 marks an empty slot; a digest whose word 0
 * is 0 is stored as 1), `rest[3i..3i+2]` words 1 to 3, `times[i]` seconds since {@link EPOCH_BASE_S}:
 * an all entry's expiry, an up-to entry's T. The kind takes the lowest bit of word 3 (set: up-to),
 * dropped from the digest, so that a slot stays 20 bytes. A slot's home is word 1 scaled to the
 * capacity (any capacity, not only powers of two), so a lookup compares tags in one contiguous run
 * and reads the rest of the digest only on a tag match (for an id not in the table: once in 2^32
 * tags compared). Moving an entry (backward-shift deletion, rehashing) carries its kind.
 *
 * Digesting an id in JavaScript costs a few times a `Map` lookup, whose string hash V8 computes
 * natively (and keeps in the string). The ids of live sessions come back request after request, so
 * the last {@link RECENT_ANSWERS} answers are kept in a `Map` by id: a repeated id costs what a
 * `Map` of every revoked id cost, a new one a digest and a probe. An answer is forgotten when its id
 * is added (either kind), and all of them when pruning removes anything, so the `Map` never answers
 * otherwise than the table would.
 */
export class SessionTable {
  private readonly digester: SidDigester;
  private tags: Uint32Array;
  private rest: Uint32Array;
  private times: Uint32Array;
  private capacity: number;
  private size = 0;
  private readonly recent = new Map<string, number>();

  /** `seeds` only for tests, to place ids in chosen slots (see {@link SidDigester}); random otherwise. */
  constructor(capacity = MIN_CAPACITY, seeds?: readonly [number, number, number, number]) {
    this.digester = new SidDigester(seeds);
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(capacity));
    this.tags = new Uint32Array(this.capacity);
    this.rest = new Uint32Array(this.capacity * 3);
    this.times = new Uint32Array(this.capacity);
  }

  /** Entries held. */
  get count(): number {
    return this.size;
  }

  /** Bytes of the typed arrays. */
  get bytes(): number {
    return this.capacity * SESSION_SLOT_BYTES;
  }

  /** Makes room for `entries` in all without growing on the way (e.g. before loading a snapshot). */
  reserve(entries: number): void {
    const needed = Math.ceil(entries / MAX_LOAD) + 1;
    if (needed > this.capacity) this.rehash(needed);
  }

  /**
   * What is held for `id`: {@link NOT_HELD}, {@link ALL}, or the T of an up-to entry (seconds since
   * {@link EPOCH_BASE_S}). Entries past their time count until {@link prune} removes them.
   */
  issuedUpTo(id: string): number {
    const known = this.recent.get(id);
    if (known !== undefined) return known;
    const found = this.lookup(id);
    if (this.recent.size >= RECENT_ANSWERS) this.recent.clear();
    this.recent.set(id, found);
    return found;
  }

  private lookup(id: string): number {
    const d = this.digester.out;
    this.digester.digest(id);
    const tag = d[0] === 0 ? 1 : d[0]!;
    const w1 = d[1]!;
    const w2 = d[2]!;
    const w3 = d[3]! & WORD3_MASK;
    const tags = this.tags;
    const rest = this.rest;
    const capacity = this.capacity;
    let i = home(w1, capacity);
    for (;;) {
      const t = tags[i]!;
      if (t === 0) return NOT_HELD;
      if (t === tag && rest[3 * i] === w1 && rest[3 * i + 1] === w2) {
        const r3 = rest[3 * i + 2]!;
        if ((r3 & WORD3_MASK) === w3) return (r3 & UP_TO_BIT) === 0 ? ALL : this.times[i]!;
      }
      if (++i === capacity) i = 0;
    }
  }

  /**
   * Revokes every token of `id` until `expiresS` (seconds since {@link EPOCH_BASE_S}). Over an
   * all entry the later expiry wins; an up-to entry becomes all, with `expiresS`.
   */
  add(id: string, expiresS: number): void {
    this.insert(id, false, expiresS);
  }

  /**
   * Revokes the tokens of `id` issued up to `upToS` (seconds since {@link EPOCH_BASE_S}). Over an
   * up-to entry the later T wins; an all entry stays as it is, or with `whole`: one that expired by
   * `whole.nowS` (not pruned yet) is replaced by this one, and one still in force is kept until
   * `whole.untilS` at least (as the write script does in Redis).
   */
  addUpTo(id: string, upToS: number, whole?: { readonly nowS: number; readonly untilS: number }): void {
    this.insert(id, true, upToS, whole?.nowS ?? -1, whole?.untilS ?? 0);
  }

  /**
   * Removes all entries whose expiry is at or before `nowS`, and up-to entries whose T is at or
   * before `nowS - upToLifetimeS`; returns how many. Shrinks a table left mostly empty.
   */
  prune(nowS: number, upToLifetimeS: number): number {
    const { tags, rest, times } = this;
    const upToBefore = nowS - upToLifetimeS;
    let removed = 0;
    // Backward-shift deletion keeps every probe run intact without tombstones. A slot that receives
    // an entry from further on is looked at again; an entry shifted across the wrap was seen already.
    for (let i = 0; i < this.capacity; ) {
      if (tags[i] !== 0 && times[i]! <= ((rest[3 * i + 2]! & UP_TO_BIT) === 0 ? nowS : upToBefore)) {
        this.removeAt(i);
        removed++;
      } else {
        i++;
      }
    }
    if (removed > 0) this.recent.clear();
    if (this.capacity > MIN_CAPACITY && this.size < this.capacity * MIN_LOAD) this.rehash(Math.max(MIN_CAPACITY, this.size * 2));
    return removed;
  }

  private insert(id: string, upTo: boolean, time: number, nowS = -1, untilS = 0): void {
    if (this.size + 1 > this.capacity * MAX_LOAD) this.rehash(Math.ceil(this.capacity * GROWTH));
    const d = this.digester.out;
    this.digester.digest(id);
    this.put(d[0] === 0 ? 1 : d[0]!, d[1]!, d[2]!, d[3]! & WORD3_MASK, upTo, time, nowS, untilS);
    if (this.recent.size > 0) this.recent.delete(id);
  }

  /** Stores an entry, merged with the one held for the same digest; `w3` without {@link UP_TO_BIT}; `nowS`, `untilS`: see {@link addUpTo}. */
  private put(tag: number, w1: number, w2: number, w3: number, upTo: boolean, time: number, nowS = -1, untilS = 0): void {
    const { tags, rest, times, capacity } = this;
    let i = home(w1, capacity);
    for (;;) {
      const t = tags[i]!;
      if (t === 0) {
        tags[i] = tag;
        rest[3 * i] = w1;
        rest[3 * i + 1] = w2;
        rest[3 * i + 2] = upTo ? w3 | UP_TO_BIT : w3;
        times[i] = time;
        this.size++;
        return;
      }
      if (t === tag && rest[3 * i] === w1 && rest[3 * i + 1] === w2 && (rest[3 * i + 2]! & WORD3_MASK) === w3) {
        const heldUpTo = (rest[3 * i + 2]! & UP_TO_BIT) !== 0;
        if (!upTo && heldUpTo) {
          rest[3 * i + 2] = w3;
          times[i] = time;
        } else if (upTo === heldUpTo) {
          if (time > times[i]!) times[i] = time;
        } else if (times[i]! <= nowS) {
          rest[3 * i + 2] = w3 | UP_TO_BIT;
          times[i] = time;
        } else if (untilS > times[i]!) {
          times[i] = untilS;
        }
        return;
      }
      if (++i === capacity) i = 0;
    }
  }

  private removeAt(slot: number): void {
    const { tags, rest, times, capacity } = this;
    let hole = slot;
    let j = slot;
    for (;;) {
      if (++j === capacity) j = 0;
      if (tags[j] === 0) break;
      const h = home(rest[3 * j]!, capacity);
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (stays) continue;
      tags[hole] = tags[j]!;
      rest[3 * hole] = rest[3 * j]!;
      rest[3 * hole + 1] = rest[3 * j + 1]!;
      rest[3 * hole + 2] = rest[3 * j + 2]!;
      times[hole] = times[j]!;
      hole = j;
    }
    tags[hole] = 0;
    this.size--;
  }

  private rehash(capacity: number): void {
    const { tags, rest, times } = this;
    const old = this.capacity;
    this.capacity = Math.max(MIN_CAPACITY, capacity);
    this.tags = new Uint32Array(this.capacity);
    this.rest = new Uint32Array(this.capacity * 3);
    this.times = new Uint32Array(this.capacity);
    this.size = 0;
    for (let i = 0; i < old; i++) {
      const tag = tags[i]!;
      if (tag === 0) continue;
      const w3 = rest[3 * i + 2]!;
      this.put(tag, rest[3 * i]!, rest[3 * i + 1]!, w3 & WORD3_MASK, (w3 & UP_TO_BIT) !== 0, times[i]!);
    }
  }
}

/** Times in the table are seconds since this epoch second (2023-11-14), so they fit 32 bits until 2160. */
export const EPOCH_BASE_S = 1_700_000_000;

/** Slot where a digest whose word 1 is `w1` starts its probe: `w1` scaled to [0, capacity). */
function home(w1: number, capacity: number): number {
  return Math.floor((w1 >>> 0) * capacity / 4_294_967_296);
}
