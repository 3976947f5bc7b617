/**
 * A PLANNED failover of a replication group without cluster mode (ElastiCache `TestFailover`, a
 * Multi-AZ maintenance, a node-type change): the old primary is not killed but demoted to a
 * replica and stays up. Connections already open to it stay open; reads there still work; writes
 * get `-READONLY You can't write against a read only replica`. The client answers READONLY with
 * ioredis `reconnectOnError` → 2 (reconnect through the primary endpoint, resend the command).
 *
 * What AWS documents:
 * - https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/AutoFailover.html ("Minimizing
 *   downtime in ElastiCache by using Multi-AZ"): planned maintenance may replace the primary; the
 *   primary role fails over to a read replica, and ElastiCache propagates the promoted replica's DNS
 *   name so an application writing to the primary endpoint needs no endpoint change; for cluster
 *   mode disabled with Multi-AZ on engine 5.0.6 or later, planned node replacements complete while
 *   the cluster serves incoming writes (4.0.10 and earlier: a brief write interruption of a few
 *   seconds tied to the DNS update).
 * - https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_TestFailover.html
 *   (TestFailover: "designed for testing the behavior of your application in case of ElastiCache
 *   failover"; events "Failover from primary node <id> to replica node <id> completed").
 * - https://repost.aws/knowledge-center/elasticache-correct-readonly-error (READONLY after a
 *   failover of a cluster-mode-disabled group: the client writes to a node endpoint, or a DNS cache
 *   routes traffic to the OLD primary, i.e. the old primary keeps running as a replica; AWS's advice
 *   is retry logic in the client).
 * - https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ClientConfig.DNS.html (resolve DNS
 *   names again on reconnect; persistent connections recommended).
 * Not verified (AWS does not say): whether ElastiCache closes connections already open to the old
 * primary, whether it pauses writes before promoting, or in which order it promotes, moves DNS and
 * demotes. This test assumes the worst reasonable case: open connections stay open on the demoted
 * node, and the order is pause writes → replica in sync → promote → move the endpoint → demote →
 * let the paused writes run (what Redis' own FAILOVER command does), so the writes held during the
 * switch reach the demoted node and get READONLY.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { closeAfterEach } from '../../support/closing.js';
import { until, untilAsync } from '../../support/events.js';
import { type App, type Load, revocationKeys, startInstance, startLoad, untilHeardByAll } from '../../support/logout-load.js';
import { kccOptions } from '../../support/redis.js';
import { inSync, infoField, onNode, replicaOf, startReplicationGroup, storedMembers } from '../../support/replication-group.js';

const USER = 'planned-prod';
const { sessionsKey: SESSIONS_KEY, channel: CHANNEL } = revocationKeys(USER);
const KEK = 'planned-failover-test-key-encryption-key-0123456789abcdefghij';
const INSTANCES = 4;

const closeLater = closeAfterEach();
const instanceOptions = { channel: CHANNEL, keyEncryptionKey: KEK, closeLater };

function storedSessions(node: LocalRedis): Promise<Set<string>> {
  return storedMembers(node, SESSIONS_KEY);
}

/** The names of the client connections open on `node` (CLIENT LIST: normal and pub/sub ones). */
function connectionNames(node: LocalRedis): Promise<string[]> {
  return onNode(node, async (admin) => {
    const list = String(await admin.call('CLIENT', 'LIST')).split('\n');
    return list.map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '').filter((name) => name.startsWith('kcc:'));
  });
}

/** How many READONLY errors `node` has answered (INFO errorstats). */
async function readonlyErrors(node: LocalRedis): Promise<number> {
  const info = await onNode(node, (admin) => admin.info('errorstats'));
  return Number(/errorstat_READONLY:count=(\d+)/.exec(info)?.[1] ?? 0);
}

async function startApp(index: number, server: LocalRedis, url: string): Promise<App> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { url, tls: { ca: server.ca, servername: 'localhost' } }), ['subscriber']));
  return startInstance(index, redis, instanceOptions);
}

describe('a planned failover without cluster mode (old primary demoted to a replica and still up)', () => {
  it.each([
    { pauseWrites: true, what: 'writes held, then READONLY' }, // the order of Redis' FAILOVER command,
    { pauseWrites: false, what: 'no write pause' }, // writes land on the old primary until it is demoted: some can be lost,
  ])('$what: no logout lost or rejected, no stale check, no failed login', { timeout: 90_000 }, async ({ pauseWrites }) => {
    const { primary: oldPrimary, replica: newPrimary, endpoint } = closeLater(await startReplicationGroup([{ app: 'planned', env: 'prod' }], USER)); // closed last: after the instances
    let load: Load | undefined;
    try {
      const apps: App[] = [];
      for (let i = 0; i < INSTANCES; i++) apps.push(await startApp(i, oldPrimary, endpoint.url));
      const names = apps.map((a) => a.redis.config.connectionName);
      const before = await connectionNames(oldPrimary);
      for (const name of names) expect(before, 'every instance starts on the old primary').toContain(`${name}:commands`);
      const kid = apps[0]!.ring.signingKey().kid;
      const readonlyBefore = await readonlyErrors(oldPrimary);

      load = startLoad(apps, { checkEveryMs: 100 });
      const { logouts, logins, checks, acknowledged, settled } = load;
      await until(() => acknowledged() >= 30, 'logouts acknowledged before the failover', 20_000);

      // --- the planned failover -------------------------------------------------------------
      // 1. Writes held on the primary (clients stay connected; their writes wait), replica catches up.
      //    Without the pause: the replica has what the primary had a moment ago.
      if (pauseWrites) await onNode(oldPrimary, (admin) => admin.call('CLIENT', 'PAUSE', '20000', 'WRITE'));
      const heldFrom = logouts.length;
      const offset = async (node: LocalRedis, field: string) => Number(infoField(await onNode(node, (a) => a.info('replication')), field) ?? NaN);
      const target = await offset(oldPrimary, 'master_repl_offset');
      await untilAsync(async () => {
        const replicaOffset = await offset(newPrimary, 'slave_repl_offset');
        return pauseWrites ? replicaOffset === (await offset(oldPrimary, 'master_repl_offset')) : replicaOffset >= target;
      }, 'the replica caught up with the primary', 20_000);
      if (pauseWrites) await new Promise((resolve) => setTimeout(resolve, 300)); // logouts pile up on the paused primary
      // 2. Promote the replica; 3. the endpoint's name now resolves to it (new connections only).
      await onNode(newPrimary, (admin) => admin.call('REPLICAOF', 'NO', 'ONE'));
      endpoint.point(newPrimary.port);
      // 4. Demote the old primary (then, if paused, let the held writes run: they meet a replica).
      await replicaOf(oldPrimary, newPrimary, pauseWrites ? (admin) => admin.call('CLIENT', 'UNPAUSE') : undefined);
      const heldLogouts = logouts.slice(heldFrom);
      const demotedAt = performance.now();
      const heardAtDemotion = apps.map((a) => a.heard.length);
      const subscribersBefore = apps.map((a) => a.reconnects.subscriber ?? 0);
      await inSync(oldPrimary);

      // --- under load, after the failover (about 3 s of it) -----------------------------------
      const ackAtDemotion = acknowledged();
      await until(() => acknowledged() >= ackAtDemotion + 150, 'logouts acknowledged after the failover', 40_000).catch((error: unknown) => {
        const rejected = logouts.filter((l) => l.state === 'rejected');
        throw new Error(`${(error as Error).message}: ${acknowledged() - ackAtDemotion} acknowledged since the demotion, ${rejected.length} rejected ` +
          `(first: ${rejected[0]?.error ?? '-'}), ${logouts.filter((l) => l.state === 'pending').length} pending; unwritten per instance ${apps.map((a) => a.revocations.stats.unwritten).join('/')}`);
      });
      load.stop();
      await until(() => settled() && apps.every((a) => a.revocations.stats.unwritten === 0), 'every logout settled and none left unwritten', 30_000);
      const readonlyAfter = await readonlyErrors(oldPrimary);

      expect(logouts.filter((l) => l.state === 'rejected').map((l) => `${l.sid} by ${l.by}: ${l.error}`), 'logout calls that rejected').toEqual([]);
      await until(() => logouts.every((l) => apps.every((a) => a.revocations.check({ sid: l.sid }) === 'revoked')), 'every logout refused by every instance', 20_000).catch(() => {
        const missing = logouts.flatMap((l) => apps.filter((a) => a.revocations.check({ sid: l.sid }) !== 'revoked').map((a) => `${l.sid} (by ${l.by}) on ${a.index}`));
        throw new Error(`logouts not refused everywhere: ${missing.slice(0, 20).join(', ')} (${missing.length})`);
      });
      const onNew = await storedSessions(newPrimary);
      expect(logouts.filter((l) => !onNew.has(l.sid)).map((l) => l.sid), 'logouts missing on the new primary').toEqual([]);
      const onOld = await storedSessions(oldPrimary); // the demoted node replicates them back
      await untilAsync(async () => (await storedSessions(oldPrimary)).size >= onNew.size, 'the demoted node caught up', 10_000);

      // Where each instance's connections are now.
      const [namesOnNew, namesOnOld] = await Promise.all([connectionNames(newPrimary), connectionNames(oldPrimary)]);
      const where = (role: string) =>
        names.map((name) => `${namesOnNew.filter((n) => n === `${name}:${role}`).length}/${namesOnOld.filter((n) => n === `${name}:${role}`).length}`).join(' ');
      for (const name of names) {
        expect(namesOnNew, 'the command connection moved to the new primary').toContain(`${name}:commands`);
        expect(namesOnOld, 'no command connection left on the demoted node').not.toContain(`${name}:commands`);
      }
      // Subscribers: whichever node they are on, every instance heard the logouts published (on the
      // new primary) after the demotion; one that stayed on the demoted node heard them through replication.
      const subscribersOnOld = names.filter((name) => namesOnOld.includes(`${name}:subscriber`)).length;
      expect(apps.map((a, i) => a.heard.length > heardAtDemotion[i]!), 'every instance heard logouts published after the demotion').toEqual(apps.map(() => true));

      // Pub/sub after the failover: a logout written now (on the new primary) is heard by every instance,
      // whether its subscriber moved or stayed on the demoted node (PUBLISH propagates to replicas).
      const heardAfter = await untilHeardByAll(apps, (attempt) => apps[attempt % INSTANCES]!);
      await until(() => apps.every((a) => !a.revocations.stale && a.revocations.check({ sid: 'never-revoked' }) === 'active'), 'every instance fresh');

      // A new instance started now (through the endpoint, so on the new primary) refuses every logout.
      const newcomer = await startApp(INSTANCES, newPrimary, endpoint.url);
      expect(logouts.filter((l) => newcomer.revocations.check({ sid: l.sid }) !== 'revoked').map((l) => l.sid), 'an instance started after the failover accepts logged-out sessions').toEqual([]);
      expect(newcomer.ring.signingKey().kid).toBe(kid);

      expect(checks.stale, 'stale answers for a never-revoked session').toEqual([]);
      expect(logins.failed).toEqual([]);
      if (pauseWrites) expect(readonlyAfter, 'the demoted node answered READONLY (else this test proved nothing about it)').toBeGreaterThan(readonlyBefore);
      expect(apps.map((a) => [a.ring.signingKey().kid, a.ring.health().status])).toEqual(apps.map(() => [kid, 'ready']));

      console.log(
        [
          `planned failover without cluster mode (${pauseWrites ? 'writes paused, ' : 'no write pause, '}replica promoted, endpoint moved, old primary demoted and kept up):`,
          `  logouts: ${logouts.length} (${acknowledged()} acknowledged, ${logouts.filter((l) => l.state === 'rejected').length} rejected); ` +
            `taken during the switch: ${heldLogouts.length}; rewrittenAfterLoss ${apps.reduce((n, a) => n + a.revocations.stats.rewrittenAfterLoss, 0)}; READONLY answered by the demoted node: ${readonlyAfter - readonlyBefore}`,
          `  stored on the new primary: ${onNew.size}; on the demoted node right after: ${onOld.size}`,
          `  logins: ${logins.ok} ok, ${logins.failed.length} failed; never-revoked checks: ${checks.total}, of which stale ${checks.stale.length}`,
          `  connections per instance, new/demoted node: commands ${where('commands')}; subscriber ${where('subscriber')}; reader ${where('reader')}`,
          `  reconnects per instance: ${apps.map((a) => JSON.stringify(a.reconnects)).join(' ')} (subscriber reconnects before the demotion: ${subscribersBefore.join('/')})`,
          `  subscribers left on the demoted node: ${subscribersOnOld}/${INSTANCES}; messages heard per instance after the demotion: ${apps.map((a, i) => a.heard.length - heardAtDemotion[i]!).join('/')}`,
          `  logouts after the failover until one was heard by all: ${heardAfter}; demotion → end ${Math.round(performance.now() - demotedAt)} ms`,
        ].join('\n'),
      );
    } finally {
      load?.stop();
    }
  });
});
