/**
 * Cluster mode: the log's slot is found on another primary, one the reader was already connected to
 * (as after a failover to a replica ioredis had a connection to: no reconnect, no event), and that
 * primary never got an entry whose message the reader heard (replication is asynchronous). Then one
 * entry whose message is lost and one whose message is heard bring the log's count back to what the
 * reader heard, with the newest entry heard. The reader must not take the counts for it on the new
 * server: it reads the log and finds the lost entry. (Found by review: the poll confirmed and the
 * entry was never read by that instance.)
 */
import type { Cluster } from 'ioredis';
import { expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { LOG_HEAD } from '../../../client/src/event-log.js';
import { LUA_LOSE_NEWEST_ENTRY, interceptScript } from '../../support/redis.js';
import { slotOwner, startSlotMigration, useTestCluster } from '../../support/test-cluster.js';

const user = 'pollmove-prod';
const { cluster } = useTestCluster([{ app: 'pollmove', env: 'prod' }]);
const closeLater = closeAfterEach();

/** Classic pub/sub: the slot's move does not touch the reader's subscription (a sharded one would be moved, which makes the next poll read anyway). */
async function instance(): Promise<{ redis: KccRedis; revocations: Revocations }> {
  const c = cluster();
  const redis = closeLater(await KccRedis.connect({ url: c.url, tls: { ca: c.ca, servername: 'localhost' }, username: user, password: c.users.get(user)!.password, clusterMode: true, pubSub: 'classic', env: {} }, ['subscriber']));
  return { redis, revocations: closeLater(await Revocations.start(redis, { maxStalenessMs: 300 })) };
}

const entry = (sid: string) => encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 60_000 }] }, 64 * 1024);

it('after the log\'s slot is found on another primary, a poll reads the log instead of trusting the counts', async () => {
  const reader = await instance();
  const writer = await instance();
  await Promise.all((reader.redis.client as Cluster).nodes('master').map((node) => node.ping()));
  const logKey = reader.redis.key(REVOCATION_KEYS.log);
  await writer.revocations.revokeSession('before');
  await until(() => reader.revocations.check({ sid: 'before' }) === 'revoked', 'before on the reader');
  const confirmed = reader.revocations.stats.logPolls.confirmed;
  await until(() => reader.revocations.stats.logPolls.confirmed > confirmed, 'a poll confirmed from the counts');
  await writer.revocations.revokeSession('heard-then-lost');
  await until(() => reader.revocations.check({ sid: 'heard-then-lost' }) === 'revoked', 'the heard revocation on the reader');

  // The reader's polls wait while the slot moves to a primary whose log lacks the heard entry, and
  // the two writes happen there.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  interceptScript(reader.redis, LOG_HEAD, async (_keys, _args, send) => {
    await gate;
    return send();
  });
  const from = await slotOwner(cluster(), logKey);
  const to = cluster().nodes.find((node) => node !== from)!;
  await (await startSlotMigration(cluster(), logKey, from, to)).finish();
  const [lost, after] = [entry('lost'), entry('after')];
  const admin = await to.admin();
  try {
    await admin.eval(
      `${LUA_LOSE_NEWEST_ENTRY}
      redis.call('XADD', KEYS[1], '*', 'i', ARGV[1], 'e', ARGV[2])
      redis.call('XADD', KEYS[1], '*', 'i', ARGV[3], 'e', ARGV[4])
      return 1`,
      1, logKey, lost.envelope.id, lost.json, after.envelope.id, after.json,
    );
    await admin.publish(reader.redis.channel(REVOCATION_KEYS.channel), after.json);
  } finally {
    await admin.quit();
  }
  await until(() => reader.revocations.check({ sid: 'after' }) === 'revoked', 'the heard message on the reader');
  const polls = reader.revocations.stats.logPolls.read + reader.revocations.stats.logPolls.confirmed;
  release();
  await until(() => reader.revocations.stats.logPolls.read + reader.revocations.stats.logPolls.confirmed >= polls + 3, 'three more polls');
  expect(reader.revocations.check({ sid: 'lost' })).toBe('revoked');
});
