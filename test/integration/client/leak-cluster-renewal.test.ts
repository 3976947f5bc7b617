/**
 * Leaks per IAM renewal in cluster mode (a local 3-primary TLS cluster, each node behind the
 * ElastiCache IAM stand-in, which the nodes announce in CLUSTER SLOTS; a fake clock for the
 * connections' age): every 9 to 10.8 hours the client replaces each of its clusters (commands; the
 * subscriber, whose channels are moved to the successor before the old one closes; the reader a log
 * tail blocks on), node connections and all. 5 rollovers (the clock 11 hours on, the three clusters
 * renewed, the replaced ones retired, and every connection open before it closed), then 15 more:
 * every count must come back to what it was after the first 5: the KccRedis' clients, renewal
 * schedule and hooks, retiring set, TLS sessions (one per node), outages, the listeners on it and on
 * each cluster, its subscriptions' channels and sharded names, the process' listeners, the timers
 * (unreferenced ones too: the topology watch, PINGs, the renewal and token timers) and the sockets
 * alive beyond those of the connections open through the stand-ins.
 *
 * What it catches: a replaced cluster kept (clients, the renewal schedule, hooks, the topology
 * watch's followers), a listener per renewal on what stays (the KccRedis, the successor), a timer or
 * socket per renewal or token. Shown to fail (an edit made in client/src for the run, then undone):
 * `handOver` not removing the replaced cluster from `clients` (`kcc:clients` 18 -> 63, each role's
 * cluster listeners 6 -> 21), and an unreferenced interval made per renewal (`live:Timeout` 32 -> 76).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { EventLog } from '../../../client/src/event-log.js';
import { LocalCluster } from '../../../local/local-cluster.js';
import { until } from '../../support/events.js';
import { HOUR, fakeClock } from '../../support/fake-clock.js';
import { IamProxy } from '../../support/iam-proxy.js';
import { activeResources, addAll, baseline, connectionCounts, expectBackTo, processListeners, trackHandles, withBounds } from '../../support/leak-counts.js';

const USER = 'leakcr-prod';
const CACHE = 'kcc-leak';
const REGION = 'eu-west-1';
const KEY = { accessKeyId: 'AKIAKCCLEAKRENEWAL01', secretAccessKey: 'kcc/test/leak/renewal/secret/dddddddddddd' };
const FIRST = 5;
const MORE = 15;
const liveHandles = trackHandles();
/** The counts of sockets alive. */
const SOCKETS = ['live:TCPWRAP', 'live:TLSWRAP', 'active:TCPSocketWrap'];

describe('a long-lived cluster-mode IAM instance: nothing grows per renewal', () => {
  let dir: string;
  let cluster: LocalCluster;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-leak-renewal-'));
    cluster = await LocalCluster.start({ dir, appEnvs: [{ app: 'leakcr', env: 'prod' }], persistence: 'none' });
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('commands, subscriber (Revocations) and reader (a log tail) clusters renewed, 5 then 15 more times', async () => {
    const clock = fakeClock();
    const proxies = await Promise.all(
      cluster.nodes.map((node) => IamProxy.start({ upstream: node, cacheName: CACHE, region: REGION, serverless: false, credentials: [KEY], iamUsers: [USER], now: clock.now })),
    );
    let redis: KccRedis | undefined;
    try {
      // The nodes announce their proxies: every node connection (ioredis' own too) goes through one.
      for (const [i, node] of cluster.nodes.entries()) {
        const admin = await node.admin();
        await admin.call('CONFIG', 'SET', 'cluster-announce-tls-port', String(proxies[i]!.port)).finally(() => admin.quit());
      }
      const ports = JSON.stringify(proxies.map((p) => p.port).sort());
      for (const node of cluster.nodes) {
        const admin = await node.admin();
        try {
          for (let i = 0; ; i++) {
            const slots = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
            if (JSON.stringify(slots.map((s) => s[2][1]).sort()) === ports) break;
            if (i > 200) throw new Error('the proxies\' ports did not reach every node within 20 s');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        } finally {
          await admin.quit();
        }
      }
      const connected = await KccRedis.connect(
        {
          url: proxies[0]!.url, tls: { ca: cluster.ca, servername: 'localhost' }, clusterMode: true, auth: 'iam', username: USER, keyPrefix: `${USER}:`, region: REGION,
          iam: { cacheName: CACHE, credentials: async () => KEY, now: clock.now, checkIntervalMs: 20 }, env: {}, logger: { info: () => {}, warn: () => {} },
        },
        ['subscriber', 'reader'],
      );
      redis = connected;
      const revocations = await Revocations.start(connected);
      const tail = await new EventLog<number>(connected, { name: 'leak-renewal', maxAgeMs: 100 * HOUR }).tail(() => undefined, { blockMs: 100 });
      const retiring = (connected as unknown as { retiring: Set<unknown> }).retiring;
      const rollover = async () => {
        const renewed = connected.stats.renewals;
        const before = proxies.map((p) => new Set(p.openIds()));
        clock.advance(11 * HOUR); // past every connection's renewal point (9 to 10.8 hours), before the stand-ins' 12
        await until(() => connected.stats.renewals >= renewed + 3 && retiring.size === 0, 'the three clusters renewed and the replaced ones retired', 30_000);
        // A replaced cluster kept open (any of its node connections, ioredis' own subscribers too) fails here.
        await until(() => proxies.every((p, i) => p.openIds().every((id) => !before[i]!.has(id))), 'every connection open before the rollover closed', 30_000);
        await connected.run((r) => r.ping());
      };
      const sample = () => {
        const counts = addAll(addAll(addAll(connectionCounts(connected), activeResources()), liveHandles()), processListeners());
        // A cluster connects to a node when a command or a topology read first needs it, so each
        // successor holds one to three node connections: the sockets counted are those of no connection
        // open through a stand-in (three each in this process: the client's, the stand-in's two). Node
        // connections (and their listeners) are all new with each successor: the clusters' own counts,
        // and the wait above, cover them.
        const proxied = 3 * proxies.reduce((sum, p) => sum + p.openConnections, 0);
        for (const name of SOCKETS) counts[name] = Math.max(0, (counts[name] ?? 0) - proxied);
        for (const name of Object.keys(counts)) if (name.includes('-node:')) delete counts[name];
        return counts;
      };
      try {
        for (let i = 0; i < FIRST; i++) await rollover();
        // State with a bound is no growth: a TLS session per node (tls-sessions.ts), an outage entry per
        // role and node or seed endpoint.
        const base = withBounds(await baseline(sample), { 'kcc:tlsSessions': cluster.nodes.length, 'kcc:outages': 3 * (cluster.nodes.length + 1) });
        for (let i = 0; i < MORE; i++) await rollover();
        await expectBackTo(sample, base, `after ${FIRST + MORE} rollovers (baseline after ${FIRST})`);
      } finally {
        await tail.stop();
        await revocations.close();
      }
    } finally {
      await redis?.close();
      await Promise.all(proxies.map((p) => p.stop()));
    }
  });
});
