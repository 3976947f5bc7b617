/**
 * `RevocationIndex.isRevoked` in a loop, in this process, on an index of 100,000 revoked sessions:
 * 65,536 distinct probes (half revoked) and 1,024 that come back, as `is_revoked_per_s` and
 * `is_revoked_distinct_per_s` probe it, but without their baseline: for comparing two versions of
 * the index taken in turn (swap the file between runs). Not a suite: a profiling aid,
 * `npx tsx --conditions=kcc-redis-source bench/profile/is-revoked-rates.ts`.
 */
import { randomUUID } from 'node:crypto';
import { RevocationIndex } from '../../client/src/revocation/revocation-index.js';
const index = new RevocationIndex();
const ids = Array.from({ length: 100_000 }, () => JSON.parse(JSON.stringify(randomUUID())) as string);
index.reserveSessions(ids.length);
for (const id of ids) index.revokeSession(id, Date.now() + 3_600_000);
const iat = Math.floor(Date.now() / 1000);
const distinct = Array.from({ length: 65_536 }, (_, i) => ({ sid: JSON.parse(JSON.stringify(i % 2 ? ids[(i * 7919) % ids.length]! : randomUUID())) as string, sub: 'u', iat }));
const repeated = distinct.slice(0, 1024);
/** Checks per second over `probes` for `ms`, in blocks of 1,024. */
const rate = (probes: typeof distinct, ms: number): number => {
  let checked = 0;
  let revoked = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1024; i++) if (index.isRevoked(probes[(checked + i) % probes.length]!)) revoked++;
    checked += 1024;
  }
  if (revoked === 0) throw new Error('no probe was revoked');
  return (checked / ms) * 1000;
};
rate(distinct, 200);
rate(repeated, 200);
const rates = { distinct: [] as number[], repeated: [] as number[] };
for (let round = 0; round < 5; round++) {
  rates.distinct.push(rate(distinct, 300));
  rates.repeated.push(rate(repeated, 300));
}
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`distinct ${(median(rates.distinct) / 1e6).toFixed(2)} M/s, repeated ${(median(rates.repeated) / 1e6).toFixed(2)} M/s`);
