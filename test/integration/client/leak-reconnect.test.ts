/**
 * Leaks per reconnect, in a process that runs for weeks (real redis-server, TCP proxy): a whole
 * instance (KccRedis with a prewarmed subscriber and reader, a KeyRing, Revocations holding one
 * revocation of its own) has every connection cut and healed, or its subscriber connection killed by
 * the server (CLIENT KILL TYPE pubsub), 5 times, then 25 times more. Every count must come back to
 * what it was after the first 5: the listeners on the KccRedis, on its `closing` signal and on each
 * ioredis client (per role and event); the sizes of the KccRedis' internal collections (clients,
 * outages, renewal, hooks, subscriptions' channels); the Revocations' and the KeyRing's own (writes
 * in flight, waiting callers, work, timers, listeners); the process' listeners and its active handles
 * by type (`Timeout`, `TCPWrap`, `TLSWrap`).
 *
 * What it catches: anything added per reconnect and never removed: a listener added in a `ready`,
 * `reconnecting` or `resubscribed` handler (e.g. Revocations.onReady or the subscriptions' confirm
 * registering one more listener each time), an outage entry keyed per attempt, a timer or socket
 * left behind by a reconnect or a re-subscription, a promise kept in a set that is never emptied.
 * Timers are counted through an async hook (`live:Timeout`): nearly all of the client's are
 * unreferenced, which `getActiveResourcesInfo()` leaves out. Shown to fail (each edit made in
 * client/src for the run, then undone): a `ready` listener added to the client inside KccRedis.open()'s
 * `ready` handler (cuts: `commands:ready` 7 -> 32, `subscriber:ready` and `reader:ready` 8 -> 33;
 * kills: `subscriber:ready` 8 -> 33); an unreferenced interval made per re-subscription in
 * Subscriptions.confirm (`live:Timeout` 17 -> 41, 46 -> 71); a `resubscribed` listener added to the
 * KccRedis in Revocations.onReady (`kcc:resubscribed` 6 -> 31).
 */
import type { Redis } from 'ioredis';
import { describe, it } from 'vitest';
import { KccRedis, KeyRing, Revocations } from '../../../client/src/index.js';
import type { RedisClient } from '../../../client/src/redis-client.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until } from '../../support/events.js';
import { type Counts, activeResources, addAll, baseline, connectionCounts, expectBackTo, listeners, processListeners, revocationCounts, ringCounts, trackHandles, withBounds } from '../../support/leak-counts.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const USER = 'leakre-prod';
const KEK = 'k'.repeat(20) + 'K'.repeat(20) + '0123456789abcdefghijklmnopqrstuv';
const FIRST = 5;
const MORE = 25;
/** State with a bound, not per event: an outage entry per role and endpoint (three roles, one endpoint), a TLS session per endpoint. */
const STATE_BOUNDS = { 'kcc:outages': 3, 'kcc:tlsSessions': 1 };

const server = useTestRedis({ appEnvs: [{ app: 'leakre', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const liveHandles = trackHandles();

function clientsOf(redis: KccRedis): RedisClient[] {
  return [...(redis as unknown as { clients: Map<RedisClient, string> }).clients.keys()];
}

async function instance(url: string): Promise<{ redis: KccRedis; sample: () => Counts }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100, logger: { info: () => {}, warn: () => {} } }), ['subscriber', 'reader']));
  const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' }));
  const revocations = closeLater(await Revocations.start(redis));
  // One of its own: the lost-writes check after each reconnect has something to check.
  await revocations.revokeSession('leak-reconnect-session');
  const sample = () => addAll(addAll(addAll(addAll(connectionCounts(redis), activeResources()), liveHandles()), processListeners()), { ...revocationCounts(revocations), ...ringCounts(ring) });
  return { redis, sample };
}

async function everyConnectionReady(redis: KccRedis): Promise<void> {
  await until(() => clientsOf(redis).every((client) => client.status === 'ready'), 'every connection ready again', 15_000);
  await redis.run((r) => r.ping());
}

describe('a long-lived instance: nothing grows per reconnect', () => {
  it('every connection cut and healed (TCP proxy), 5 then 25 more times', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const { redis, sample } = await instance(proxy.url);
      const cycle = async () => {
        const resubscribed = nextEvent(redis, 'resubscribed', 15_000);
        proxy.cut();
        await until(() => clientsOf(redis).every((client) => client.status !== 'ready'), 'every connection down');
        proxy.heal();
        await resubscribed;
        await everyConnectionReady(redis);
      };
      for (let i = 0; i < FIRST; i++) await cycle();
      const base = withBounds(await baseline(sample), STATE_BOUNDS);
      for (let i = 0; i < MORE; i++) await cycle();
      await expectBackTo(sample, base, `after ${FIRST + MORE} cuts (baseline after ${FIRST})`);
    } finally {
      await proxy.stop();
    }
  });

  it('the subscriber connection killed by the server (CLIENT KILL TYPE pubsub), 5 then 25 more times', async () => {
    const { redis, sample } = await instance(server.url);
    const admin: Redis = await server.admin();
    try {
      const cycle = async () => {
        const resubscribed = nextEvent(redis, 'resubscribed', 15_000);
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        await resubscribed;
        await everyConnectionReady(redis);
      };
      for (let i = 0; i < FIRST; i++) await cycle();
      const base = withBounds(await baseline(sample), STATE_BOUNDS);
      for (let i = 0; i < MORE; i++) await cycle();
      await expectBackTo(sample, base, `after ${FIRST + MORE} kills (baseline after ${FIRST})`);
    } finally {
      admin.disconnect();
    }
  });
});
