/**
 * One round of the revocation suite's check rates (check-rates.ts), in a process of its own: an
 * instance loads the stored revoked sessions, then `Revocations.check()` and a bare `Set.has` on the
 * same ids are each timed by a measuring loop of their own, in the order the parent gives. Reports
 * `{ repeated, distinct }`, each `{ ours, baseline }` in calls per second, over IPC, and exits.
 */
import { type KccConnectionOptions, KccRedis, Revocations } from '@kcc-redis/client';
import { ownCopy, ratePerSecondSync } from './stats.js';

export interface CheckRound {
  readonly connection: KccConnectionOptions;
  /** The stored ids, each as the JSON it arrives in from Redis. */
  readonly ids: readonly string[];
  /** The probes' session ids: 1,024 coming back request after request, and 65,536 distinct ones. */
  readonly repeated: readonly string[];
  readonly distinct: readonly string[];
  /** How many revoked sessions the instance must hold before timing starts. */
  readonly populated: number;
  readonly oursFirst: boolean;
  readonly ms: number;
  readonly warmupMs: number;
}

/** One round's rates, in calls per second: the repeated probes and the distinct ones. */
export type RoundRates = Record<'repeated' | 'distinct', { readonly ours: number; readonly baseline: number }>;

process.on('disconnect', () => process.exit(0));
process.once('message', (round: CheckRound) => {
  measure(round).then(
    (result) => process.send?.({ t: 'result', result }, () => process.exit(0)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
process.send?.({ t: 'ready' });

async function measure(round: CheckRound): Promise<RoundRates> {
  const redis = await KccRedis.connect(round.connection, ['subscriber']);
  const revocations = await Revocations.start(redis);
  if (revocations.stats.revokedSessions !== round.populated) throw new Error(`the instance loaded ${revocations.stats.revokedSessions} revoked sessions, not ${round.populated}`);
  const stored = round.ids.map((json) => JSON.parse(json) as string);
  const iat = Math.floor(Date.now() / 1000);
  // Claims as an app has them, from already verified tokens.
  const claims = (sids: readonly string[]) => sids.map((sid, i) => ({ sid, sub: `user-${i}`, iat }));
  const rates = (probes: readonly { sid: string }[]) => {
    const mask = probes.length - 1;
    // The index remembers its latest answers by id, keyed by the probes' own strings, so a probe that
    // comes back is found by identity. The Set holds those same strings where a probe matches, so
    // that its lookups compare by identity too: the best case for both sides.
    const probeStrings = new Map(probes.map(({ sid }) => [sid, sid]));
    const set = new Set(stored.map((id) => probeStrings.get(id) ?? id));
    // Each side measured by a loop of its own (ownCopy), calling one function.
    const [oursLoop, setLoop] = [ownCopy(ratePerSecondSync), ownCopy(ratePerSecondSync)];
    const check = (i: number) => revocations.check(probes[i & mask]!) === 'revoked';
    const has = (i: number) => set.has(probes[i & mask]!.sid);
    const ours = (ms: number) => oursLoop(ms, check);
    const baseline = (ms: number) => setLoop(ms, has);
    const sides = round.oursFirst ? [ours, baseline] : [baseline, ours];
    for (const side of sides) side(round.warmupMs);
    const [first, second] = sides.map((side) => side(round.ms)) as [number, number];
    return round.oursFirst ? { ours: first, baseline: second } : { ours: second, baseline: first };
  };
  const result = { repeated: rates(claims(round.repeated)), distinct: rates(claims(round.distinct)) };
  await revocations.close();
  await redis.close();
  return result;
}
