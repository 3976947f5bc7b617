/**
 * Why `is_revoked_per_s` takes each round in a fresh process and its probes decoded from JSON: a
 * bare `Set.has` over 100,000 session ids, probed with 1,024 ids (half present) either as
 * `randomUUID()` returns them (cons strings) or decoded from JSON (flat strings, as a token's claims
 * are). Prints the median of 11 rates of each. Not a suite: a profiling aid, to run once per hash
 * seed, e.g. `for s in 1 2 3 4 5 6 7 8; do node --hash-seed=$s --import tsx bench/profile/set-has-probes.ts; done`.
 */
import { randomUUID } from 'node:crypto';
import { median } from '../lib/rounds.js';
import { ownCopy, ratePerSecondSync } from '../lib/stats.js';

const STORED = 100_000;
const ids = Array.from({ length: STORED }, () => randomUUID());
const set = new Set(ids.map((id) => JSON.parse(JSON.stringify(id)) as string));
const cons = Array.from({ length: 1_024 }, (_, i) => (i % 2 ? ids[(i * 7919) % STORED]! : randomUUID()));
const flat = cons.map((id) => JSON.parse(JSON.stringify(id)) as string);
const rate = (probes: readonly string[]) => {
  const loop = ownCopy(ratePerSecondSync);
  const has = (i: number) => set.has(probes[i & 1_023]!);
  return median(Array.from({ length: 11 }, () => loop(300, has)));
};
const [consRate, flatRate] = [rate(cons), rate(flat)];
console.log(`Set.has, cons-string probes ${(consRate / 1e6).toFixed(1)} M/s, flat probes ${(flatRate / 1e6).toFixed(1)} M/s`);
