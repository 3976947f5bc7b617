/**
 * A cluster node whose host fails: no reset reaches the clients, their connections to it simply
 * hang, and the cluster promotes its replica. Played here by freezing the primary that owns the
 * app-env's slot with SIGSTOP: the kernel keeps its sockets open and ACKs what arrives, but nothing
 * ever answers (unlike node-loss.test.ts, where SIGKILL closes the sockets with a reset at once).
 * The instances run with the default socketTimeoutMs and maxStalenessMs (30 s).
 *
 * ElastiCache with Multi-AZ fails a failed primary over to one of its read replicas ("Minimizing
 * downtime in ElastiCache by using Multi-AZ with Valkey and Redis OSS",
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/AutoFailover.html). That a failed host
 * sends no reset, and how long ElastiCache takes to promote, those docs do not say (not verified).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { replicaOfNode, slotOwner, useTestCluster } from '../../support/test-cluster.js';

const USER = 'freeze-prod';
const PREFIX = `${USER}:`;
const SESSIONS_KEY = `${PREFIX}{${USER}}:${REVOCATION_KEYS.sessions}`;
const CHANNEL = `${PREFIX}revocations`;
const INSTANCES = 4;

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'freeze', env: 'prod' }], { replicasPerPrimary: 1, clusterNodeTimeoutMs: 1_000 });

interface App {
  readonly index: number;
  readonly redis: KccRedis;
  readonly revocations: Revocations;
  /** Session ids heard on this instance's own subscriber, and when (performance.now()). */
  readonly heardSids: Map<string, number>;
  /** The client's warnings (socket timeouts among them), with when they came. */
  readonly warnings: { at: number; message: string }[];
  /** What ioredis' cluster of the commands connection did with its node connections, with when. */
  readonly nodeEvents: { at: number; event: string }[];
}

async function startApp(index: number, seed: LocalRedis): Promise<App> {
  const cluster = testCluster.cluster();
  const warnings: App['warnings'] = [];
  const logger = { info() {}, warn: (message: string) => void warnings.push({ at: performance.now(), message }) };
  const redis = closeLater(
    await KccRedis.connect(
      {
        url: seed.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password,
        clusterMode: true, instanceId: `freeze-${index}`, logger, env: {},
      },
      ['subscriber'],
    ),
  );
  const nodeEvents: App['nodeEvents'] = [];
  const commands = redis.client as Cluster;
  commands.on('node error', (error: Error, key: string) => void nodeEvents.push({ at: performance.now(), event: `node error ${key}: ${error.message}` }));
  commands.on('+node', (node: Redis) => void nodeEvents.push({ at: performance.now(), event: `+node ${node.options.port}` }));
  commands.on('-node', (node: Redis) => void nodeEvents.push({ at: performance.now(), event: `-node ${node.options.port}` }));
  const revocations = closeLater(await Revocations.start(redis));
  const heardSids = new Map<string, number>();
  await redis.subscribe(CHANNEL, (message) => {
    const envelope = JSON.parse(message) as { data?: { revocations?: { sid?: string }[] } };
    for (const r of envelope.data?.revocations ?? []) if (r.sid !== undefined && !heardSids.has(r.sid)) heardSids.set(r.sid, performance.now());
  });
  return { index, redis, revocations, heardSids, warnings, nodeEvents };
}

/**
 * Every node's role as `via` sees it (CLUSTER NODES). Not LocalCluster.roles(): that asks the first
 * node with a pid, which may be the frozen one (a frozen node keeps its pid).
 */
async function rolesVia(cluster: ReturnType<typeof testCluster.cluster>, via: LocalRedis): Promise<{ port: number; primary: boolean; primaryPort?: number; failed: boolean }[]> {
  const admin = await via.admin();
  let text: string;
  try {
    text = String(await admin.call('CLUSTER', 'NODES'));
  } finally {
    admin.disconnect();
  }
  const rows = text.trim().split('\n').map((line) => line.split(' '));
  const portOf = new Map(rows.map(([id, address]) => [id!, Number(address!.split('@')[0]!.split(':').pop())]));
  return rows.map(([, address, flagList, primaryId]) => {
    const flags = flagList!.split(',');
    const port = Number(address!.split('@')[0]!.split(':').pop());
    if (!cluster.nodes.some((n) => n.port === port)) throw new Error(`CLUSTER NODES names port ${port}, not a node of the local cluster`);
    return { port, primary: !flags.includes('slave'), primaryPort: portOf.get(primaryId!), failed: flags.includes('fail') || flags.includes('fail?') };
  });
}

/** One logout of the steady load: which instance took it, when, and what its `revokeSession` promise did. */
interface Logout {
  readonly sid: string;
  readonly by: number;
  readonly takenAt: number;
  state: 'pending' | 'acknowledged' | 'rejected';
  settledAt?: number;
}

/** Whether the process `pid`, a redis-server (setpriv execs it), is stopped (state T in /proc/<pid>/stat). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  if (!stat.includes('(redis-server)')) throw new Error(`process ${pid} is not a redis-server: ${stat.slice(0, 60)}`);
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

/** Sets every running node's cluster-node-timeout: how long a primary may be unreachable before its replica is promoted. */
async function setNodeTimeout(cluster: ReturnType<typeof testCluster.cluster>, ms: number): Promise<void> {
  for (const node of cluster.nodes) {
    const admin = await node.admin();
    try {
      await admin.call('CONFIG', 'SET', 'cluster-node-timeout', String(ms));
    } finally {
      admin.disconnect();
    }
  }
}

/**
 * Freezes the primary owning the app-env's slot under a steady load of logouts and checks on four
 * instances, keeps it frozen past maxStalenessMs, thaws it. `nodeTimeoutMs` (the nodes'
 * cluster-node-timeout) decides how long the slot's owner is frozen before its replica is promoted.
 */
async function freezeTheSlotOwner(nodeTimeoutMs: number): Promise<void> {
  const cluster = testCluster.cluster();
  await setNodeTimeout(cluster, nodeTimeoutMs);
  const victim = await slotOwner(cluster, SESSIONS_KEY);
  const replica = await replicaOfNode(cluster, victim);
  const others = cluster.nodes.filter((n) => n !== victim && n !== replica);
  // Seeds on nodes that stay up, as ElastiCache's configuration endpoint resolves to live nodes.
  const seeds = [replica, ...others];
  const apps: App[] = [];
  for (let i = 0; i < INSTANCES; i++) apps.push(await startApp(i, seeds[i % seeds.length]!));

  // What each instance answers, every 100 ms, for a session nobody revoked.
  const answers = apps.map(() => new Map<string, number>());
  const firstStale: (number | undefined)[] = apps.map(() => undefined);
  const sampler = setInterval(() => {
    apps.forEach((app, i) => {
      const answer = app.revocations.check({ sid: 'never-revoked' });
      answers[i]!.set(answer, (answers[i]!.get(answer) ?? 0) + 1);
      if (answer === 'stale') firstStale[i] ??= performance.now();
    });
  }, 100);
  // A steady load of logouts: one every 100 ms on a random instance (not awaited).
  const logouts: Logout[] = [];
  const revoke = (app: App, sid: string): Logout => {
    const logout: Logout = { sid, by: app.index, takenAt: performance.now(), state: 'pending' };
    logouts.push(logout);
    app.revocations.revokeSession(sid).then(
      () => Object.assign(logout, { state: 'acknowledged', settledAt: performance.now() }),
      () => Object.assign(logout, { state: 'rejected', settledAt: performance.now() }),
    );
    return logout;
  };
  let n = 0;
  const load = setInterval(() => void revoke(apps[Math.floor(Math.random() * apps.length)]!, `load-${n++}-${randomBytes(4).toString('hex')}`), 100);
  const refusedEverywhere = (list: readonly Logout[], among = apps) => list.every((l) => among.every((a) => a.revocations.check({ sid: l.sid }) === 'revoked'));

  const pid = victim.pid;
  if (pid === undefined) throw new Error('the slot owner is not running');
  let frozen = false;
  const t: Record<string, number> = {};
  let heardAfter: number[] = [];
  let probesSent = () => 0;
  try {
    await until(() => logouts.filter((l) => l.state === 'acknowledged').length >= 20, 'logouts acknowledged before the freeze', 20_000);

    // --- the freeze, and a logout on every instance at that moment ----------------------------
    process.kill(pid, 'SIGSTOP');
    frozen = true;
    t.frozen = performance.now();
    const atFreeze = apps.map((app) => revoke(app, `at-freeze-${app.index}-${randomBytes(4).toString('hex')}`));
    await until(() => isStopped(pid), 'the node\'s process stopped', 5_000);

    await untilAsync(async () => (await rolesVia(cluster, replica)).some((r) => r.port === replica.port && r.primary), 'the replica promoted', 30_000, 100);
    t.promoted = performance.now();

    await until(() => atFreeze.every((l) => l.state !== 'pending'), 'the logouts taken at the freeze settled', 60_000);
    t.atFreezeSettled = Math.max(...atFreeze.map((l) => l.settledAt!));
    expect(atFreeze.filter((l) => l.state !== 'acknowledged').map((l) => l.sid), 'logouts taken at the freeze that failed').toEqual([]);
    await until(() => refusedEverywhere(atFreeze), 'every logout taken at the freeze refused by every instance', 45_000);
    t.atFreezeEverywhere = performance.now();

    // --- every instance gave the frozen node up ------------------------------------------------
    // Each had its logout in flight on its commands connection to the frozen node: the periodic
    // topology read moves it once the replica is promoted, or the socket timeout closes it first
    // (the log below says which, per instance). Without either, the logouts above never settle.
    await until(() => apps.every((a) => (a.redis.client as Cluster).nodes('all').every((node) => node.options.port !== victim.port)), 'every instance\'s commands off the frozen node', 30_000);

    // --- the node stays frozen past maxStalenessMs (30 s), under the load ---------------------
    await until(() => performance.now() - t.frozen! > 35_000, 'the node frozen for longer than maxStalenessMs', 40_000);

    // Logouts taken after the failover reach every instance.
    const after = apps.map((app) => revoke(app, `after-failover-${app.index}-${randomBytes(4).toString('hex')}`));
    t.afterTaken = performance.now();
    await until(() => after.every((l) => l.state !== 'pending'), 'the logouts taken after the failover settled', 30_000);
    expect(after.filter((l) => l.state !== 'acknowledged').map((l) => l.sid), 'logouts taken after the failover that failed').toEqual([]);
    await until(() => refusedEverywhere(after), 'every logout taken after the failover refused by every instance', 30_000);
    t.afterEverywhere = performance.now();
    heardAfter = after.map((l) => apps.filter((a) => a.heardSids.has(l.sid)).length);

    // Every logout of the load so far too, and by an instance started now, on the promoted replica.
    clearInterval(load);
    await until(() => logouts.every((l) => l.state !== 'pending') && apps.every((a) => a.revocations.stats.unwritten === 0), 'every logout of the load settled', 30_000);
    expect(logouts.filter((l) => l.state !== 'acknowledged').map((l) => l.sid), 'logouts that failed').toEqual([]);
    await until(() => refusedEverywhere(logouts), 'every logout refused by every instance', 30_000);
    const newcomer = await startApp(INSTANCES, replica);
    expect(logouts.filter((l) => newcomer.revocations.check({ sid: l.sid }) !== 'revoked').map((l) => l.sid), 'logouts an instance started after the failover accepts').toEqual([]);

    // Pub/sub after the failover: every instance's sharded subscription left the frozen owner
    // for the promoted replica (on its own: logout sync reads the log meanwhile).
    let probes = 0;
    probesSent = () => probes;
    await untilAsync(
      async () => {
        const sid = `pubsub-probe-${probes++}`;
        await apps[0]!.revocations.revokeSession(sid);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return apps.every((a) => a.heardSids.has(sid));
      },
      'a logout after the failover heard over pub/sub by every instance',
      30_000,
      0,
    ).catch((error: unknown) => {
      const last = `pubsub-probe-${probes - 1}`;
      throw new Error(`${(error as Error).message}: the last probe was heard by instances [${apps.filter((a) => a.heardSids.has(last)).map((a) => a.index).join(', ')}] of ${INSTANCES}`);
    });
    expect(isStopped(pid), 'the node was frozen throughout').toBe(true);
  } finally {
    clearInterval(load);
    clearInterval(sampler);
    if (frozen) process.kill(pid, 'SIGCONT');
    t.thawed = performance.now();
  }

  // No instance ever answered 'stale' for a session nobody revoked.
  expect(answers.map((a) => [...a.keys()])).toEqual(apps.map(() => ['active']));

  // --- the frozen node comes back and rejoins as a replica of the promoted one -----------------
  await untilAsync(async () => {
    const me = (await rolesVia(cluster, replica)).find((r) => r.port === victim.port);
    return me !== undefined && !me.primary && me.primaryPort === replica.port && !me.failed;
  }, 'the thawed node a replica of the promoted one', 30_000, 200);
  t.rejoined = performance.now();
  await cluster.waitUntilHealthy(30_000);
  const afterThaw = apps.map((app) => revoke(app, `after-thaw-${app.index}-${randomBytes(4).toString('hex')}`));
  await until(() => afterThaw.every((l) => l.state === 'acknowledged') && refusedEverywhere(afterThaw), 'the logouts after the thaw refused by every instance', 30_000);

  // When each instance last missed a logout of the load over pub/sub (its sharded subscriber
  // still on the frozen node); the log brought those.
  const lastMissed = apps.map((a) => Math.max(...logouts.filter((l) => l.takenAt > t.frozen! && !a.heardSids.has(l.sid)).map((l) => l.takenAt)));
  const ms = (to: number | undefined) => (to === undefined || !Number.isFinite(to) ? '-' : `${Math.round(to - t.frozen!)} ms`);
  const timeouts = (a: App) => a.warnings.filter((w) => w.message.includes('(socketTimeoutMs)'));
  console.log(
    [
      `node freeze (3 primaries × 1 replica, cluster-node-timeout ${nodeTimeoutMs} ms, the app-env's primary SIGSTOPped, its replica promoted), times after the freeze:`,
      `  promoted: ${ms(t.promoted)}; logouts taken at the freeze settled: ${ms(t.atFreezeSettled)}, refused everywhere: ${ms(t.atFreezeEverywhere)}`,
      `  logouts after the failover (taken at ${ms(t.afterTaken)}) refused everywhere: ${ms(t.afterEverywhere)}, heard over pub/sub by ${heardAfter.join('/')} instances; pub/sub probes until heard by all: ${probesSent()}`,
      `  thawed: ${ms(t.thawed)}; rejoined as a replica: ${ms(t.rejoined)}`,
      `  load: ${logouts.length} logouts (${logouts.filter((l) => l.state === 'acknowledged').length} acknowledged); slowest after the freeze: ${Math.round(Math.max(...logouts.filter((l) => l.takenAt >= t.frozen!).map((l) => (l.settledAt ?? Infinity) - l.takenAt)))} ms`,
      ...apps.map((a, i) =>
        `  instance ${a.index}: socketTimeouts ${a.redis.stats.socketTimeouts} (${timeouts(a).map((w) => `${w.message.slice(4, w.message.indexOf(' connection'))} at ${ms(w.at)}`).join(', ')}); ` +
        `reconnects ${a.redis.stats.reconnects}; answers ${JSON.stringify(Object.fromEntries(answers[i]!))}; first stale ${ms(firstStale[i])}; ` +
        `last load logout missed over pub/sub: taken at ${ms(lastMissed[i])}; logPolls ${JSON.stringify(a.revocations.stats.logPolls)}`),
      `  instance 0's commands cluster, node events after the freeze: ${apps[0]!.nodeEvents.filter((e) => e.at >= t.frozen!).map((e) => `${ms(e.at)} ${e.event}`).join('; ')}`,
      ...apps.flatMap((a) => a.warnings.filter((w) => !w.message.includes('(socketTimeoutMs)')).map((w) => `  instance ${a.index} warned at ${ms(w.at)}: ${w.message}`)),
    ].join('\n'),
  );
}

describe('a cluster node that freezes (a host failure without a reset) while it owns the app-env\'s slot; its replica is promoted', () => {
  it('fast failover (cluster-node-timeout 1 s): every logout reaches every instance, none goes stale, the frozen node\'s connections are given up', { timeout: 150_000 }, () =>
    freezeTheSlotOwner(1_000));

  // Promoted after the instances' first socket timeout, when the topology they read still names the
  // frozen node: until the periodic topology read finds the promoted replica (before it, ioredis
  // reconnected to the frozen node, and that connect waited out connectTimeoutMs).
  it('slow failover (cluster-node-timeout 8 s): the same', { timeout: 150_000 }, () => freezeTheSlotOwner(8_000));
});
