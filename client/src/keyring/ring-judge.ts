import type { RingRefusalReason } from './ring-seal.js';

/** What {@link judgeRing} compares of a ring. */
export interface RingFacts {
  readonly generation: number;
  /** When it was written (ms since the epoch, the writer's clock). */
  readonly writtenAt: number;
  /** SHA-256 of the stored text. */
  readonly digest: string;
  readonly kids: readonly string[];
  readonly compromised: readonly string[];
  /** Rank of the key-encryption key that authenticated it: 0 = current, 1 = the one before, …; Infinity when no longer held. */
  readonly kekRank: number;
}

/**
 * Whether an instance that holds `known` (undefined: none yet) adopts the authenticated ring
 * `candidate` read from Redis, given every kid it has seen retired as compromised. Returns undefined
 * to adopt, else why not.
 *
 * - A ring in which a compromised kid is present again is never adopted.
 * - A ring under an earlier key-encryption key than the known one is not adopted: honest writers
 *   only move to the current key (a writer must read, under the lock, the ring it replaces). This
 *   comes before the next rule: a holder of a leaked earlier key (still in the secret's `previous`)
 *   must not win by naming the known kids compromised.
 * - A ring that retires as compromised a kid of the known ring supersedes it (a write made on a
 *   rewound ring by an instance that never saw the emergency rotation loses to the rotation).
 * - Otherwise the higher generation wins. Two rings of one generation exist only after Redis lost
 *   or rewound the ring and an instance wrote one anew (a writer compares-and-sets on the ring it
 *   read): the one written earlier wins, as its keys are the ones identity providers have fetched;
 *   the one just created anew would swap every instance to a key none of them knows yet. Of two
 *   written in the same millisecond, the higher digest. Every instance compares the same facts, so
 *   all converge on one.
 */
export function judgeRing(candidate: RingFacts, known: RingFacts | undefined, compromised: ReadonlySet<string>): RingRefusalReason | undefined {
  if (candidate.kids.some((kid) => compromised.has(kid))) return 'compromised-kid';
  if (!known) return undefined;
  if (candidate.kekRank > known.kekRank) return 'kek-downgrade';
  if (known.kids.some((kid) => candidate.compromised.includes(kid))) return undefined;
  if (candidate.generation !== known.generation) return candidate.generation > known.generation ? undefined : 'rollback';
  if (candidate.digest === known.digest) return undefined;
  if (candidate.writtenAt !== known.writtenAt) return candidate.writtenAt < known.writtenAt ? undefined : 'fork';
  return candidate.digest > known.digest ? undefined : 'fork';
}
