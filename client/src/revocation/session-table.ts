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
/** Bytes per slot: the tag (4), the rest of the digest (12), the expiry (4). */
export const SESSION_SLOT_BYTES = 20;

/**
 * Revoked session ids as 128-bit digests (see {@link SidDigester}) with an expiry, in typed arrays:
 * an open-addressing hash table with linear probing, no strings and no per-entry objects, so a
 * million sessions cost about 27 to 31 MB and nothing for the garbage collector to trace.
 *
 * Layout per slot `i`: `tags[i]` holds digest word 0 (0 marks an empty slot; a digest whose word 0
 * is 0 is stored as 1), `rest[3i..3i+2]` words 1 to 3, `expiry[i]` seconds since
 * {@link EPOCH_BASE_S}. A slot's home is word 1 scaled to the capacity (any capacity, not only
 * powers of two), so a lookup compares tags in one contiguous run and reads the rest of the digest
 * only on a tag match (for an id not in the table: once in 2^32 tags compared).
 *
 * Digesting an id in JavaScript costs a few times a `Map` lookup, whose string hash V8 computes
 * natively (and keeps in the string). The ids of live sessions come back request after request, so
 * the last {@link RECENT_ANSWERS} answers are kept in a `Map` by id: a repeated id costs what a
 * `Map` of every revoked id cost, a new one a digest and a probe. An answer is forgotten when its id
 * is added, and all of them when pruning removes anything, so the `Map` never answers otherwise
 * than the table would.
 */
export class SessionTable {
  private readonly digester = new SidDigester();
  private tags: Uint32Array;
  private rest: Uint32Array;
  private expiry: Uint32Array;
  private capacity: number;
  private size = 0;
  private readonly recent = new Map<string, boolean>();

  constructor(capacity = MIN_CAPACITY) {
    this.capacity = Math.max(MIN_CAPACITY, Math.ceil(capacity));
    this.tags = new Uint32Array(this.capacity);
    this.rest = new Uint32Array(this.capacity * 3);
    this.expiry = new Uint32Array(this.capacity);
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

  /** Whether `id` is held (expired entries count until {@link prune} removes them). */
  has(id: string): boolean {
    const known = this.recent.get(id);
    if (known !== undefined) return known;
    const found = this.lookup(id);
    if (this.recent.size >= RECENT_ANSWERS) this.recent.clear();
    this.recent.set(id, found);
    return found;
  }

  private lookup(id: string): boolean {
    const d = this.digester.out;
    this.digester.digest(id);
    const tag = d[0] === 0 ? 1 : d[0]!;
    const w1 = d[1]!;
    const w2 = d[2]!;
    const w3 = d[3]!;
    const tags = this.tags;
    const rest = this.rest;
    const capacity = this.capacity;
    let i = home(w1, capacity);
    for (;;) {
      const t = tags[i]!;
      if (t === 0) return false;
      if (t === tag && rest[3 * i] === w1 && rest[3 * i + 1] === w2 && rest[3 * i + 2] === w3) return true;
      if (++i === capacity) i = 0;
    }
  }

  /** Adds `id` until `expiresS` (seconds since {@link EPOCH_BASE_S}); for an id held, the later expiry wins. */
  add(id: string, expiresS: number): void {
    if (this.size + 1 > this.capacity * MAX_LOAD) this.rehash(Math.ceil(this.capacity * GROWTH));
    const d = this.digester.out;
    this.digester.digest(id);
    this.put(d[0] === 0 ? 1 : d[0]!, d[1]!, d[2]!, d[3]!, expiresS);
    if (this.recent.size > 0) this.recent.delete(id);
  }

  /** Removes entries whose expiry is at or before `nowS`; returns how many. Shrinks a table left mostly empty. */
  prune(nowS: number): number {
    const { tags, expiry } = this;
    let removed = 0;
    // Backward-shift deletion keeps every probe run intact without tombstones. A slot that receives
    // an entry from further on is looked at again; an entry shifted across the wrap was seen already.
    for (let i = 0; i < this.capacity; ) {
      if (tags[i] !== 0 && expiry[i]! <= nowS) {
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

  private put(tag: number, w1: number, w2: number, w3: number, expiresS: number): void {
    const { tags, rest, expiry, capacity } = this;
    let i = home(w1, capacity);
    for (;;) {
      const t = tags[i]!;
      if (t === 0) {
        tags[i] = tag;
        rest[3 * i] = w1;
        rest[3 * i + 1] = w2;
        rest[3 * i + 2] = w3;
        expiry[i] = expiresS;
        this.size++;
        return;
      }
      if (t === tag && rest[3 * i] === w1 && rest[3 * i + 1] === w2 && rest[3 * i + 2] === w3) {
        if (expiresS > expiry[i]!) expiry[i] = expiresS;
        return;
      }
      if (++i === capacity) i = 0;
    }
  }

  private removeAt(slot: number): void {
    const { tags, rest, expiry, capacity } = this;
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
      expiry[hole] = expiry[j]!;
      hole = j;
    }
    tags[hole] = 0;
    this.size--;
  }

  private rehash(capacity: number): void {
    const { tags, rest, expiry } = this;
    const old = this.capacity;
    this.capacity = Math.max(MIN_CAPACITY, capacity);
    this.tags = new Uint32Array(this.capacity);
    this.rest = new Uint32Array(this.capacity * 3);
    this.expiry = new Uint32Array(this.capacity);
    this.size = 0;
    for (let i = 0; i < old; i++) {
      const tag = tags[i]!;
      if (tag !== 0) this.put(tag, rest[3 * i]!, rest[3 * i + 1]!, rest[3 * i + 2]!, expiry[i]!);
    }
  }
}

/** Times in the table are seconds since this epoch second (2023-11-14), so they fit 32 bits until 2160. */
export const EPOCH_BASE_S = 1_700_000_000;

/** Slot where a digest whose word 1 is `w1` starts its probe: `w1` scaled to [0, capacity). */
function home(w1: number, capacity: number): number {
  return Math.floor((w1 >>> 0) * capacity / 4_294_967_296);
}
