/**
 * Leaks per IAM connection renewal (real redis-server behind the ElastiCache IAM stand-in, a fake
 * clock for the connections' age): ElastiCache closes an IAM connection at 12 hours, so an instance
 * that runs for weeks replaces every connection (commands, the subscriber its Revocations listen on,
 * the reader a log tail blocks on) about twice a day, signing a new token for each. 5 rollovers
 * (each: the clock 11 hours on, all three connections renewed, the replaced ones closed), then 25
 * more. Every count must come back to what it was after the first 5: the KccRedis' clients, renewal
 * schedule (`renewal.due`), renewal hooks, connections claimed or retiring, TLS sessions, the
 * listeners on it and on each client (per role and event), its subscriptions' channels, the process'
 * listeners, the timers (unreferenced ones too) and sockets alive.
 *
 * What it catches: a replaced connection kept (in `clients`, the renewal schedule, `renewHooks`, a
 * retiring set), a successor that gets a listener per renewal (Subscriptions.listen on each
 * successor, EventLog's watch on each new reader: only the current connection's may stay), a timer or
 * a socket per renewal or per token signed. Shown to fail (each edit made in client/src for the run,
 * then undone): `handOver` not removing the replaced connection from `clients` (`kcc:clients` 18 ->
 * 93, `subscriber:ready` 12 -> 62, every role's listeners +25), and an unreferenced interval made per
 * token signed (`live:Timeout` 29 -> 97).
 */
import { describe, it } from 'vitest';
import { Revocations } from '../../../client/src/index.js';
import { EventLog } from '../../../client/src/event-log.js';
import { until } from '../../support/events.js';
import { HOUR } from '../../support/fake-clock.js';
import { useIamHarness } from '../../support/iam-harness.js';
import { activeResources, addAll, baseline, connectionCounts, expectBackTo, processListeners, trackHandles } from '../../support/leak-counts.js';

const FIRST = 5;
const MORE = 25;
const liveHandles = trackHandles();

describe('a long-lived IAM instance: nothing grows per connection renewal', () => {
  const iam = useIamHarness({ connectDefaults: { logger: { info: () => {}, warn: () => {} } } });

  it('commands, subscriber (Revocations) and reader (a log tail) renewed, 5 then 25 more times', async () => {
    const redis = await iam.connect({}, undefined, ['subscriber', 'reader']);
    const revocations = await Revocations.start(redis);
    const tail = await new EventLog<number>(redis, { name: 'leak-renewal', maxAgeMs: 100 * HOUR }).tail(() => undefined, { blockMs: 100 });
    try {
      const retiring = (redis as unknown as { retiring: Set<unknown> }).retiring;
      const rollover = async () => {
        const renewed = redis.stats.renewals;
        iam.clock.advance(11 * HOUR); // past every connection's renewal point (9 to 10.8 hours), before the stand-in's 12
        await until(() => redis.stats.renewals >= renewed + 3, 'the three connections renewed', 30_000);
        await until(() => retiring.size === 0 && iam.proxy.openConnections === 3, 'the replaced connections closed', 30_000);
      };
      const sample = () => addAll(addAll(addAll(connectionCounts(redis), activeResources()), liveHandles()), processListeners());
      for (let i = 0; i < FIRST; i++) await rollover();
      const base = await baseline(sample);
      for (let i = 0; i < MORE; i++) await rollover();
      await expectBackTo(sample, base, `after ${FIRST + MORE} rollovers (baseline after ${FIRST})`);
    } finally {
      await tail.stop();
      await revocations.close();
    }
  });
});
