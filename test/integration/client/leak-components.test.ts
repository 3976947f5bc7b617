/**
 * Leaks per component cycle on one long-lived connection (real redis-server): an app that starts and
 * closes a Revocations, a KeyRing, the Fastify plugin (with the connection passed in) or
 * keycloak-connector's cluster provider on the same KccRedis, rotates its ring, or revokes, 5 times
 * and then 25 times more. Every count must come back
 * to what it was after the first 5: the listeners on the KccRedis (per event), on its `closing`
 * signal and on each ioredis client; the KccRedis' internal collections (`closeFirst`,
 * `heartbeatReports`, clients, renewal hooks, subscriptions' channels and their listeners, outages);
 * the process' listeners; the timers (unreferenced ones too) and sockets alive; and the closed
 * components still reachable after garbage collection (none may be held by the connection).
 *
 * What it catches: a component whose close leaves its `beforeClose` or `reportInHeartbeat` hook, a
 * listener on the connection (`ready`, `node-ready`, `resubscribed`), a channel subscription, a
 * dedicated reader connection, an interval, or anything that keeps the closed component itself
 * reachable from the connection; per rotation or revocation batch, a set of writes or callers, a
 * timer or a listener that is not let go. Shown to fail (each edit made in client/src for the run,
 * then undone): Revocations.close() not removing its `ready` listener (`kcc:ready` 5 -> 30, closed
 * Revocations reachable 5 -> 30); KeyRing.close() not calling its unhook (`kcc:closeFirst` and
 * `kcc:heartbeatReports` 5 -> 30, closed rings reachable 5 -> 30, in the KeyRing and the Fastify
 * tests); a revoke leaving its write in `writesInFlight` (`rev:writesInFlight` 15 -> 90); a listener
 * on the ring's keeper added per rotate() (`keeper:adopted` 6 -> 31); the cluster provider's
 * disconnect not detaching its connection events (`kcc:ready`, `kcc:resubscribed`, … 5 -> 30).
 */
import Fastify from 'fastify';
import { describe, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions, Revocations } from '../../../client/src/index.js';
import { fastifyKcc } from '../../../client/src/fastify/index.js';
import { kccClusterProvider } from '../../../client/src/keycloak-connector/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { type Counts, activeResources, addAll, baseline, connectionCounts, expectBackTo, listeners, processListeners, revocationCounts, ringCounts, trackHandles } from '../../support/leak-counts.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'leakco-prod';
const KEY_RING: KeyRingOptions = { keyEncryptionKey: 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv', env: {}, algorithm: 'ES256' };
const QUIET = { info: () => {}, warn: () => {} };
const FIRST = 5;
const MORE = 25;

const server = useTestRedis({ appEnvs: [{ app: 'leakco', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const liveHandles = trackHandles();

/** Closed components, each reachable or not (after the collections {@link expectBackTo} runs). */
function closedTracker(): { add(component: object): void; counts(): Counts } {
  const closed: WeakRef<object>[] = [];
  return {
    add: (component) => void closed.push(new WeakRef(component)),
    counts: () => ({ 'closed components reachable': closed.filter((ref) => ref.deref() !== undefined).length }),
  };
}

/** A connection, and what every test counts on it: its own counts, the process' listeners, the handles alive, and `more`. */
async function connection(more: () => Counts = () => ({})): Promise<{ redis: KccRedis; sample: () => Counts }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { logger: QUIET }), ['subscriber']));
  const sample = () => addAll(addAll(addAll(addAll(connectionCounts(redis), activeResources()), liveHandles()), processListeners()), more());
  return { redis, sample };
}

/** Runs `cycle` 5 times, takes the baseline, runs it 25 times more and expects every count back to it. */
async function expectNoGrowth(what: string, sample: () => Counts, cycle: (i: number) => Promise<void>): Promise<void> {
  let i = 0;
  for (; i < FIRST; i++) await cycle(i);
  const base = await baseline(sample);
  for (; i < FIRST + MORE; i++) await cycle(i);
  await expectBackTo(sample, base, `${what}: after ${FIRST + MORE} (baseline after ${FIRST})`);
}

/** The Revocations' counts, with what it holds (revoked sessions and subjects). */
function heldRevocationCounts(revocations: Revocations): Counts {
  return { ...revocationCounts(revocations), 'rev:revokedSessions': revocations.stats.revokedSessions, 'rev:revokedSubjects': revocations.stats.revokedSubjects };
}

/** The KeyRing's counts, with the keys it publishes. */
function publishedRingCounts(ring: KeyRing): Counts {
  return { ...ringCounts(ring), 'ring:keys': ring.jwks().keys.length };
}

describe('a long-lived connection: nothing grows per component cycle', () => {
  it('Revocations started and closed on it, 5 then 25 more times', async () => {
    const closed = closedTracker();
    const { redis, sample } = await connection(closed.counts);
    await expectNoGrowth('Revocations start/close', sample, async () => {
      const revocations = await Revocations.start(redis);
      await revocations.close();
      closed.add(revocations);
    });
  });

  it('a KeyRing started and closed on it, 5 then 25 more times', async () => {
    const closed = closedTracker();
    const { redis, sample } = await connection(closed.counts);
    await expectNoGrowth('KeyRing start/close', sample, async () => {
      const ring = await KeyRing.start(redis, KEY_RING);
      await ring.close();
      closed.add(ring);
    });
  });

  it('the Fastify plugin registered and closed with the connection passed in, 5 then 25 more times', async () => {
    const closed = closedTracker();
    const { redis, sample } = await connection(closed.counts);
    await expectNoGrowth('Fastify plugin register/close', sample, async () => {
      const app = Fastify();
      // No realm is reached: the realm's keys are fetched only to verify a logout or a push.
      await app.register(fastifyKcc, { issuer: 'http://127.0.0.1:9/realms/leak', clientId: 'leak', redis, keyRing: KEY_RING, logger: QUIET });
      await app.ready();
      closed.add(app.kcc.keyRing);
      closed.add(app.kcc.revocations);
      await app.close();
    });
  });

  it("keycloak-connector's cluster provider on the connection passed in: connected, subscribed, published to, unsubscribed and disconnected, 5 then 25 more times", async () => {
    const { redis, sample } = await connection();
    const cycleProvider = await kccClusterProvider({ redis, keyEncryptionKeys: { keyEncryptionKey: 'c'.repeat(40), env: {} } });
    await expectNoGrowth('cluster provider connect/disconnect', sample, async (i) => {
      await cycleProvider.connectOrThrow();
      let heard = 0;
      const listener = () => void heard++;
      if (!(await cycleProvider.subscribe('leak-channel', listener))) throw new Error('not subscribed');
      await cycleProvider.publish('leak-channel', { i });
      await until(() => heard === 1, 'the message heard');
      await cycleProvider.unsubscribe('leak-channel', listener);
      await cycleProvider.disconnect();
    });
  });

  it('a running KeyRing rotated (immediate, no grace), 5 then 25 more times', async () => {
    let ring: KeyRing | undefined;
    const { redis, sample } = await connection(() => (ring ? publishedRingCounts(ring) : {}));
    ring = closeLater(await KeyRing.start(redis, { ...KEY_RING, activationDelayMs: 0, retireGraceMs: 0 }));
    const started = ring;
    await expectNoGrowth('KeyRing rotations', sample, async () => {
      const { kid } = await started.rotate({ immediate: true });
      await until(() => started.signingKey().kid === kid, 'the new key active');
    });
  });

  it('revocation batches of one session, one user and the client, 5 then 25 more times', async () => {
    let revocations: Revocations | undefined;
    const { redis, sample } = await connection(() => (revocations ? heldRevocationCounts(revocations) : {}));
    revocations = closeLater(await Revocations.start(redis));
    const running = revocations;
    await expectNoGrowth('revocation batches', sample, async () => {
      const now = Math.floor(Date.now() / 1000);
      await Promise.all([running.revokeSession('leak-session'), running.revokeSubject('leak-user', now), running.revokeAllBefore(now - 3_600)]);
    });
  });
});
