/**
 * The product's promise, from outside: losing a Redis node causes zero failed logins and zero
 * missed logouts. A 3 primaries × 1 replica TLS cluster (the stack's default: a replica per shard,
 * automatic failover) and four app instances under a steady load of logouts (`revokeSession` on a
 * random instance), checks on every instance and logins (client assertions signed with the key
 * ring). The primary that owns the app-env's slot is killed (SIGKILL) while its replica lags
 * behind, as asynchronous replication allows (ElastiCache's docs: acknowledged writes can be lost
 * in a failover): the cluster promotes the replica, which lacks the last acknowledged logouts.
 * Every logout must end up refused by every instance and by one started afterwards; then the
 * killed node comes back as a replica and nothing breaks. The same without cluster mode: a primary
 * and a replica behind a proxy standing in for the primary endpoint's DNS name, moved on failover.
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { type JSONWebKeySet, createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { LOCAL_ADMIN_USER, type LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';
import { slotOwner, useTestCluster } from '../../support/test-cluster.js';

const USER = 'nodeloss-prod';
const PREFIX = `${USER}:`;
const SESSIONS_KEY = `${PREFIX}{${USER}}:${REVOCATION_KEYS.sessions}`;
const CHANNEL = `${PREFIX}revocations`;
const KEK = 'node-loss-test-key-encryption-key-0123456789abcdefghijklmnopq';
const AUDIENCE = 'https://sso.example.test/realms/main';
const INSTANCES = 4;

const closeLater = closeAfterEach();
const testCluster = useTestCluster([{ app: 'nodeloss', env: 'prod' }], { replicasPerPrimary: 1, clusterNodeTimeoutMs: 1_000 });

interface App {
  readonly index: number;
  readonly redis: KccRedis;
  readonly revocations: Revocations;
  readonly ring: KeyRing;
  /** Envelope ids of revocation messages heard on this instance's own subscriber (pub/sub only). */
  readonly heard: string[];
  /** When (performance.now()) each session id arrived over pub/sub, and when it was applied at all. */
  readonly heardSids: Map<string, number>;
  readonly appliedSids: Map<string, number>;
}

/** One logout of the load: which instance took it and what its `revokeSession` promise did. */
interface Logout {
  readonly sid: string;
  readonly by: number;
  state: 'pending' | 'acknowledged' | 'rejected';
  settledAt?: number;
}

/** An app instance of the cluster whose seed node is `seed`. */
async function startApp(index: number, seed: LocalRedis): Promise<App> {
  const cluster = testCluster.cluster();
  const redis = closeLater(
    await KccRedis.connect(
      { url: seed.url, tls: { ca: cluster.ca, servername: 'localhost' }, username: USER, password: cluster.users.get(USER)!.password, clusterMode: true, env: {} },
      ['subscriber'],
    ),
  );
  return startInstance(index, redis);
}

/** What an app instance runs on its connection: the revocation index, the key ring, and a listener on the revocation channel. */
async function startInstance(index: number, redis: KccRedis): Promise<App> {
  const revocations = closeLater(await Revocations.start(redis, { maxStalenessMs: 10_000 }));
  const ring = closeLater(await KeyRing.start(redis, { keyEncryptionKey: KEK, algorithm: 'ES256', env: {} }));
  const heard: string[] = [];
  const heardSids = new Map<string, number>();
  const appliedSids = new Map<string, number>();
  revocations.on('applied', (event) => {
    if (event.kind === 'session' && !appliedSids.has(event.sid)) appliedSids.set(event.sid, performance.now());
  });
  await redis.subscribe(CHANNEL, (message) => {
    const envelope = JSON.parse(message) as { id: string; data?: { revocations?: { sid?: string }[] } };
    heard.push(envelope.id);
    for (const r of envelope.data?.revocations ?? []) if (r.sid !== undefined && !heardSids.has(r.sid)) heardSids.set(r.sid, performance.now());
  });
  return { index, redis, revocations, ring, heard, heardSids, appliedSids };
}

/** Runs `command` as the admin on `node` (a fresh connection each time: nodes die in this file). */
async function onNode<T>(node: LocalRedis, command: (admin: Awaited<ReturnType<LocalRedis['admin']>>) => Promise<T>): Promise<T> {
  const admin = await node.admin();
  try {
    return await command(admin);
  } finally {
    admin.disconnect();
  }
}

/** The revoked session ids stored on `node` (a replica is read with READONLY). */
function storedSessions(node: LocalRedis): Promise<Set<string>> {
  return onNode(node, async (admin) => {
    await admin.call('READONLY').catch(() => undefined); // a cluster replica serves reads only after it (standalone: not needed)
    return new Set(await admin.zrange(SESSIONS_KEY, '0', '-1'));
  });
}

/**
 * The steady load on `apps`: a logout (`revokeSession`) on a random instance every 20 ms, not
 * awaited (each records what its promise did); a login every 25 ms (a client assertion signed with
 * an instance's ring, in turn, and verified with its JWKS); checks on every instance every 20 ms.
 */
function startLoad(apps: readonly App[]) {
  const logouts: Logout[] = [];
  const logins = { ok: 0, failed: [] as string[] };
  const checks = { total: 0, stale: 0, notRevokedOnWriter: 0 };
  let n = 0;
  const revoke = (app: App) => {
    const logout: Logout = { sid: `sid-${n++}-${randomBytes(4).toString('hex')}`, by: app.index, state: 'pending' };
    logouts.push(logout);
    app.revocations.revokeSession(logout.sid).then(
      () => Object.assign(logout, { state: 'acknowledged', settledAt: performance.now() }),
      () => Object.assign(logout, { state: 'rejected', settledAt: performance.now() }),
    );
  };
  let loginTurn = 0;
  const login = async () => {
    const app = apps[loginTurn++ % apps.length]!;
    try {
      const assertion = await app.ring.signClientAssertion({ clientId: 'shop', audience: AUDIENCE });
      await jwtVerify(assertion, createLocalJWKSet(app.ring.jwks() as JSONWebKeySet), { issuer: 'shop', audience: AUDIENCE });
      logins.ok++;
    } catch (error) {
      logins.failed.push(`instance ${app.index}: ${(error as Error).message}`);
    }
  };
  const check = () => {
    for (const app of apps) {
      checks.total++;
      if (app.revocations.check({ sid: 'never-revoked' }) === 'stale') checks.stale++;
      // An instance refuses at once what it revoked itself, Redis or not.
      const own = logouts.filter((l) => l.by === app.index).at(-1);
      if (own && app.revocations.check({ sid: own.sid }) !== 'revoked') checks.notRevokedOnWriter++;
    }
  };
  const timers = [
    setInterval(() => revoke(apps[Math.floor(Math.random() * apps.length)]!), 20),
    setInterval(() => void login(), 25),
    setInterval(check, 20),
  ];
  return {
    logouts,
    logins,
    checks,
    acknowledged: () => logouts.filter((l) => l.state === 'acknowledged').length,
    /** Whether every logout of `list` has settled (the load goes on: each step checks what was settled by then). */
    settled: (list: readonly Logout[]) => list.every((l) => l.state !== 'pending'),
    stop: () => timers.forEach((t) => clearInterval(t)),
  };
}

/**
 * The replica falls behind, as asynchronous replication allows: its link to the primary is cut and
 * it cannot authenticate again (a wrong masterauth), so what the primary acknowledges from here never
 * reaches it. Resolves once the link is down.
 */
async function cutReplication(replica: LocalRedis): Promise<void> {
  await onNode(replica, async (admin) => {
    await admin.call('CONFIG', 'SET', 'masterauth', randomBytes(24).toString('hex'));
    await admin.call('CLIENT', 'KILL', 'TYPE', 'master');
  });
  await untilAsync(async () => (await onNode(replica, (admin) => admin.info('replication'))).includes('master_link_status:down'), 'the replica cut off from its primary');
}

/**
 * Once 30 logouts are acknowledged, makes `replica` lag (cutReplication) until `primary` has
 * acknowledged 15 more it never got, then kills `primary`: those 15 are lost with it. Resolves when it
 * was killed and the logouts lost.
 */
async function killWhileReplicaLags(load: ReturnType<typeof startLoad>, replica: LocalRedis, primary: LocalRedis): Promise<{ killedAt: number; lost: Logout[] }> {
  await until(() => load.acknowledged() >= 30, 'logouts acknowledged before the failover', 20_000);
  await cutReplication(replica);
  const lagFrom = load.acknowledged();
  await until(() => load.acknowledged() >= lagFrom + 15, 'logouts the primary acknowledged and the replica never got', 20_000);
  const onReplica = await storedSessions(replica);
  const killedAt = performance.now();
  await primary.kill();
  return { killedAt, lost: load.logouts.filter((l) => l.state === 'acknowledged' && l.settledAt! < killedAt && !onReplica.has(l.sid)) };
}

describe('losing a Redis node (3 primaries × 1 replica, automatic failover): zero failed logins, zero missed logouts', () => {
  it('the primary owning the app-env is killed while its replica lags: every logout ends up everywhere, every login succeeds', { timeout: 100_000 }, async () => {
    const cluster = testCluster.cluster();
    const victim = await slotOwner(cluster, SESSIONS_KEY);
    const [replica] = await cluster.replicasOf(victim);
    if (!replica) throw new Error('the slot owner has no replica');
    // Seeds on the nodes that stay up, as ElastiCache's configuration endpoint resolves to live
    // nodes. Instance 0's is the replica: it already has a connection to the node that becomes
    // primary, so the promotion opens none (no node-ready) for its command connection.
    const seeds = [replica, ...cluster.nodes.filter((n) => n !== victim && n !== replica)];
    const apps: App[] = [];
    for (let i = 0; i < INSTANCES; i++) apps.push(await startApp(i, seeds[i % seeds.length]!));
    const kid = apps[0]!.ring.signingKey().kid;
    expect(apps.map((a) => a.ring.signingKey().kid)).toEqual(apps.map(() => kid));

    const load = startLoad(apps);
    const { logouts, logins, checks, acknowledged } = load;
    const stopLoad = load.stop;

    try {
      // --- the crash, while the replica lags by 15 acknowledged logouts -------------------------
      const { killedAt, lost } = await killWhileReplicaLags(load, replica, victim);
      await untilAsync(async () => (await cluster.roles()).some((r) => r.node === replica && r.role === 'primary'), 'the replica promoted', 30_000);
      const promotedAt = performance.now();
      // Its own replication settings matter again once it is a replica: set them back.
      await onNode(replica, (admin) => admin.call('CONFIG', 'SET', 'masterauth', replica.adminPassword));

      // --- recovery: every logout of the load, acknowledged or rejected (then written again by
      // the client), is refused by every instance and stored on the promoted replica.
      // The load goes on throughout: what is checked at each step is what was settled by then.
      const { settled } = load;
      const untilPromotion = logouts.slice();
      await until(() => settled(untilPromotion) && apps.every((a) => a.revocations.stats.unwritten === 0), 'every logout until the promotion settled and none left unwritten', 30_000);
      const stored = async () => {
        const onPrimary = await storedSessions(replica);
        return logouts.filter((l) => l.state !== 'pending' && !onPrimary.has(l.sid));
      };
      const rewritten = () => apps.reduce((sum, a) => sum + a.revocations.stats.rewrittenAfterLoss, 0);
      let missing: Logout[] = [];
      await untilAsync(
        async () => {
          missing = await stored();
          return missing.length === 0;
        },
        'every logout stored on the promoted replica',
        45_000,
        250,
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${missing.length} missing (${missing.filter((l) => l.state === 'acknowledged').length} acknowledged), ` +
          `${lost.length} lost in the failover, ${rewritten()} rewritten after loss, ${apps.reduce((s, a) => s + a.revocations.stats.writtenLate, 0)} written late`);
      });
      const recoveredAt = performance.now();
      /** What happened to a logout, for a failure message: who wrote it, when, what each instance heard and applied. */
      const explain = async (l: Logout, extra: App[] = []) => {
        const at = (t: number | undefined) => (t === undefined ? '-' : `${Math.round(t - killedAt)}`);
        const score = await onNode(replica, (admin) => admin.zscore(SESSIONS_KEY, l.sid));
        return `${l.sid}: by instance ${l.by}, ${l.state} at ${at(l.settledAt)} ms after the kill, ${lost.includes(l) ? 'lost in the failover' : 'not lost'}, ` +
          `stored now: ${score !== null}; per instance heard/applied (ms after the kill): ` +
          [...apps, ...extra].map((a) => `${a.index}: ${at(a.heardSids.get(l.sid))}/${at(a.appliedSids.get(l.sid))} (polls ${JSON.stringify(a.revocations.stats.logPolls)})`).join('; ');
      };
      const due = logouts.filter((l) => l.state !== 'pending');
      const notEverywhere = () => due.filter((l) => apps.some((a) => a.revocations.check({ sid: l.sid }) !== 'revoked'));
      await until(() => notEverywhere().length === 0, 'every logout refused by every running instance', 15_000).catch(async (error: unknown) => {
        throw new Error(`${(error as Error).message}:\n${(await Promise.all(notEverywhere().map((l) => explain(l)))).join('\n')}`);
      });
      await until(() => apps.every((a) => !a.revocations.stale && a.revocations.check({ sid: 'never-revoked' }) === 'active'), 'every instance fresh');
      expect(apps.map((a) => [a.ring.signingKey().kid, a.ring.health().status])).toEqual(apps.map(() => [kid, 'ready']));

      // A logout written now reaches every instance over pub/sub (their subscribers moved to the new owner).
      let heardAfter = 0;
      await untilAsync(
        async () => {
          const counts = apps.map((a) => a.heard.length);
          await apps[0]!.revocations.revokeSession(`after-failover-${heardAfter++}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
          return apps.every((a, i) => a.heard.length > counts[i]!);
        },
        'a logout after the failover heard over pub/sub by every instance',
        20_000,
        0,
      );

      // An instance started now loads everything from the promoted replica, and the same ring.
      const inRedis = logouts.filter((l) => l.state !== 'pending'); // before the newcomer reads the state
      const newcomer = await startApp(INSTANCES, replica);
      const unknown = inRedis.filter((l) => newcomer.revocations.check({ sid: l.sid }) !== 'revoked');
      if (unknown.length > 0) {
        throw new Error(`an instance started after the failover accepts logged-out sessions:\n${(await Promise.all(unknown.map((l) => explain(l, [newcomer])))).join('\n')}`);
      }
      expect(newcomer.ring.signingKey().kid).toBe(kid);

      // --- the killed node comes back, as a replica of the promoted one ------------------------
      const beforeRestart = logouts.length;
      await victim.restart();
      await cluster.waitUntilHealthy();
      const rejoined = (await cluster.roles()).find((r) => r.node === victim)!;
      expect({ role: rejoined.role, primaryPort: rejoined.primary?.port, failed: rejoined.failed }).toEqual({ role: 'replica', primaryPort: replica.port, failed: false });
      const afterRestart = acknowledged();
      await until(() => acknowledged() >= afterRestart + 20, 'logouts after the restart', 20_000);
      stopLoad();
      await until(() => settled(logouts) && apps.every((a) => a.revocations.stats.unwritten === 0), 'the last logouts settled', 30_000);
      const rejectedAfterRestart = logouts.slice(beforeRestart).filter((l) => l.state === 'rejected');
      expect(rejectedAfterRestart, 'logouts refused while a replica rejoined').toEqual([]);
      await until(() => apps.every((a) => logouts.every((l) => a.revocations.check({ sid: l.sid }) === 'revoked')), 'every logout on every instance after the restart', 20_000);

      // --- zero failed logins, zero missed logouts ----------------------------------------------
      expect(logins.failed).toEqual([]);
      expect(checks.notRevokedOnWriter).toBe(0);
      // The failover did lose acknowledged logouts (else this test proved nothing about them), and
      // the instances that wrote them wrote them again.
      expect(lost.length).toBeGreaterThan(0);
      expect(rewritten()).toBeGreaterThanOrEqual(lost.length);
      for (const app of apps) expect(app.revocations.stats.rewrittenAfterLoss, `instance ${app.index} rewrote its lost logouts`).toBeGreaterThanOrEqual(lost.filter((l) => l.by === app.index).length);

      const ms = (t: number) => `${Math.round(t)} ms`;
      console.log(
        [
          'node loss (3 primaries × 1 replica, the app-env\'s primary SIGKILLed while its replica lagged):',
          `  logouts: ${logouts.length} (${acknowledged()} acknowledged, ${logouts.filter((l) => l.state === 'rejected').length} rejected and retried by the client, ` +
            `writtenLate ${apps.reduce((s, a) => s + a.revocations.stats.writtenLate, 0)})`,
          `  acknowledged then lost in the failover: ${lost.length} (per instance ${apps.map((a) => lost.filter((l) => l.by === a.index).length).join('/')}); ` +
            `rewrittenAfterLoss: ${rewritten()} (per instance ${apps.map((a) => a.revocations.stats.rewrittenAfterLoss).join('/')})`,
          `  logins: ${logins.ok} ok, ${logins.failed.length} failed; checks: ${checks.total}, of which stale ${checks.stale}`,
          `  kill → promoted: ${ms(promotedAt - killedAt)}; kill → every logout stored again: ${ms(recoveredAt - killedAt)}; logouts after the failover until one was heard by all: ${heardAfter}`,
        ].join('\n'),
      );
    } finally {
      stopLoad();
    }
  });
});

/**
 * Stands in for ElastiCache's primary endpoint: a DNS name that AWS points at the new primary after
 * a failover. A loopback TCP proxy whose target can change; connections already open stay where
 * they were (they end when that server dies), new ones go to the current target.
 */
class PrimaryEndpoint {
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    private readonly target: { port: number },
  ) {}

  static async start(port: number): Promise<PrimaryEndpoint> {
    const sockets = new Set<Socket>();
    const target = { port };
    const server = createServer((client) => {
      const upstream = connect(target.port, '127.0.0.1');
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new PrimaryEndpoint(server, sockets, target);
  }

  get url(): string {
    return `rediss://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  point(port: number): void {
    this.target.port = port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Makes `replica` replicate `primary` over TLS as the local admin user, and waits until it is in sync. */
async function replicate(replica: LocalRedis, primary: LocalRedis): Promise<void> {
  await onNode(replica, async (admin) => {
    await admin.call('CONFIG', 'SET', 'tls-replication', 'yes');
    await admin.call('CONFIG', 'SET', 'masteruser', LOCAL_ADMIN_USER);
    await admin.call('CONFIG', 'SET', 'masterauth', primary.adminPassword);
    await admin.call('REPLICAOF', primary.host, String(primary.port));
  });
  await untilAsync(async () => {
    const info = await onNode(replica, (admin) => admin.info('replication'));
    return info.includes('master_link_status:up') && !info.includes('master_sync_in_progress:1');
  }, 'the replica in sync', 20_000);
}

describe('losing the primary of a replication group without cluster mode (primary endpoint moved to the replica)', () => {
  it('the primary is killed while its replica lags, the replica is promoted: every logout ends up everywhere, every login succeeds', { timeout: 60_000 }, async () => {
    const appEnvs = [{ app: 'nodeloss', env: 'prod' }];
    const primary = await startTestRedis({ appEnvs, persistence: 'none' });
    const replica = await startTestRedis({
      appEnvs, persistence: 'none', tlsDir: dirname(primary.tls.caFile),
      adminPassword: primary.adminPassword, defaultUserPassword: primary.defaultUserPassword, passwords: { [USER]: primary.users.get(USER)!.password },
    });
    closeLater({ close: () => Promise.all([primary.stop(), replica.stop()]) }); // closed last: after the instances
    const endpoint = closeLater(await PrimaryEndpoint.start(primary.port));
    let load: ReturnType<typeof startLoad> | undefined;
    try {
      await replicate(replica, primary);
      const apps: App[] = [];
      for (let index = 0; index < INSTANCES; index++) {
        const redis = closeLater(await KccRedis.connect(kccOptions(primary, USER, { url: endpoint.url, tls: { ca: primary.ca, servername: 'localhost' } }), ['subscriber']));
        apps.push(await startInstance(index, redis));
      }
      const kid = apps[0]!.ring.signingKey().kid;
      load = startLoad(apps);
      const { logouts, logins, checks, acknowledged, settled } = load;
      // The crash, then what ElastiCache's automatic failover does: promote the replica, move the endpoint.
      const { killedAt, lost } = await killWhileReplicaLags(load, replica, primary);
      await onNode(replica, async (admin) => {
        await admin.call('REPLICAOF', 'NO', 'ONE');
        await admin.call('CONFIG', 'SET', 'masterauth', replica.adminPassword);
      });
      endpoint.point(replica.port);

      const untilPromotion = logouts.slice();
      await until(() => settled(untilPromotion) && apps.every((a) => a.revocations.stats.unwritten === 0), 'every logout until the promotion settled and none left unwritten', 30_000);
      const rewritten = () => apps.reduce((sum, a) => sum + a.revocations.stats.rewrittenAfterLoss, 0);
      let missing: Logout[] = [];
      await untilAsync(async () => {
        const stored = await storedSessions(replica);
        missing = logouts.filter((l) => l.state !== 'pending' && !stored.has(l.sid));
        return missing.length === 0;
      }, 'every logout stored on the promoted replica', 30_000, 250).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${missing.length} missing (${missing.filter((l) => l.state === 'acknowledged').length} acknowledged: ` +
          `${missing.map((l) => `${l.sid} by ${l.by}${lost.includes(l) ? ' (lost)' : ''}`).join(', ')}), ${lost.length} lost in the failover, ${rewritten()} rewritten after loss`);
      });
      const recoveredAt = performance.now();
      const due = logouts.filter((l) => l.state !== 'pending');
      await until(() => due.every((l) => apps.every((a) => a.revocations.check({ sid: l.sid }) === 'revoked')), 'every logout refused by every instance', 15_000);
      await until(() => apps.every((a) => !a.revocations.stale && a.revocations.check({ sid: 'never-revoked' }) === 'active'), 'every instance fresh');
      let heardAfter = 0;
      await untilAsync(async () => {
        const counts = apps.map((a) => a.heard.length);
        await apps[0]!.revocations.revokeSession(`after-failover-${heardAfter++}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return apps.every((a, i) => a.heard.length > counts[i]!);
      }, 'a logout after the failover heard over pub/sub by every instance', 20_000, 0);
      const inRedis = logouts.filter((l) => l.state !== 'pending');
      const newcomer = await startInstance(INSTANCES, closeLater(await KccRedis.connect(kccOptions(replica, USER, { url: endpoint.url, tls: { ca: primary.ca, servername: 'localhost' } }), ['subscriber'])));
      expect(inRedis.filter((l) => newcomer.revocations.check({ sid: l.sid }) !== 'revoked').map((l) => l.sid), 'an instance started after the failover accepts logged-out sessions').toEqual([]);
      expect(newcomer.ring.signingKey().kid).toBe(kid);

      // The old primary comes back empty (no persistence) and becomes the new primary's replica.
      await primary.restart();
      await replicate(primary, replica);
      const afterRestart = acknowledged();
      const beforeRestart = logouts.length;
      await until(() => acknowledged() >= afterRestart + 20, 'logouts after the restart', 20_000);
      load.stop();
      await until(() => settled(logouts) && apps.every((a) => a.revocations.stats.unwritten === 0), 'the last logouts settled', 30_000);
      expect(logouts.slice(beforeRestart).filter((l) => l.state === 'rejected'), 'logouts refused while the old primary rejoined').toEqual([]);
      await until(() => apps.every((a) => logouts.every((l) => a.revocations.check({ sid: l.sid }) === 'revoked')), 'every logout on every instance after the restart', 20_000);

      expect(logins.failed).toEqual([]);
      expect(checks.notRevokedOnWriter).toBe(0);
      expect(lost.length).toBeGreaterThan(0);
      for (const app of apps) expect(app.revocations.stats.rewrittenAfterLoss, `instance ${app.index} rewrote its lost logouts`).toBeGreaterThanOrEqual(lost.filter((l) => l.by === app.index).length);
      console.log(
        [
          'primary loss without cluster mode (primary SIGKILLed while its replica lagged, replica promoted, endpoint moved):',
          `  logouts: ${logouts.length} (${acknowledged()} acknowledged, ${logouts.filter((l) => l.state === 'rejected').length} rejected and retried by the client, ` +
            `writtenLate ${apps.reduce((s, a) => s + a.revocations.stats.writtenLate, 0)})`,
          `  acknowledged then lost in the failover: ${lost.length} (per instance ${apps.map((a) => lost.filter((l) => l.by === a.index).length).join('/')}); ` +
            `rewrittenAfterLoss: ${rewritten()} (per instance ${apps.map((a) => a.revocations.stats.rewrittenAfterLoss).join('/')})`,
          `  logins: ${logins.ok} ok, ${logins.failed.length} failed; checks: ${checks.total}, of which stale ${checks.stale}`,
          `  kill → every logout stored again: ${Math.round(recoveredAt - killedAt)} ms; logouts after the failover until one was heard by all: ${heardAfter}`,
        ].join('\n'),
      );
    } finally {
      load?.stop();
    }
  });
});
