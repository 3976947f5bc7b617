/**
 * A poll may skip reading the log when the log's count of appends rose by exactly the messages heard
 * and the newest entry is one of them. After the server behind the command connection restarts
 * without its data (or fails over to a replica missing writes), that count starts again: old and new
 * counts can agree by chance. So every reconnect of the command connection makes the next poll read.
 *
 * Found by an audit (2026-12-03): a restart, a write ioredis resent after it (the same envelope, now
 * the newest entry), and a subscriber whose half-open connection missed two revocations made the
 * counts agree; the instance confirmed the poll, moved its position past the two, and answered
 * "active" for them for good while reporting itself current.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until, untilAsync } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

// Persistence off: a restart empties the server, and the log's count of appends starts from 0.
const server = useTestRedis({ appEnvs: [{ app: 'restartpoll', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'restartpoll-prod';

async function clientList(): Promise<string[]> {
  const admin = await server.admin();
  try {
    return String(await admin.call('CLIENT', 'LIST')).split('\n').filter(Boolean);
  } finally {
    admin.disconnect();
  }
}

describe('revocations: the server restarts without its data', () => {
  it('a restart, a write ioredis resends and a half-open subscriber: the instance reads the log after its command connection is back, and misses nothing', { timeout: 120_000 }, async () => {
    const timing = { connectTimeoutMs: 60_000, reconnectBaseDelayMs: 100, reconnectMaxDelayMs: 200 };
    const proxyB = await TcpProxy.start(server.port);
    const proxyD = await TcpProxy.start(server.port);
    try {
      // B: the instance under test (it polls every 5 s). C: a writer connected directly. D: a writer whose reply gets lost.
      const start = async (instanceId: string, url?: string) =>
        closeLater(await Revocations.start(closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId, ...timing, ...(url ? { url } : {}) }), ['subscriber'])), { maxStalenessMs: 15_000 }));
      const b = await start('victim', proxyB.url);
      const c = await start('writer-c');
      const d = await start('writer-d', proxyD.url);

      // Before the restart: two revocations, heard by B, and polls of B after them.
      await c.revokeSession('p1');
      await c.revokeSession('p2');
      await until(() => b.stats.revokedSessions === 2, 'p1, p2 on b');
      const polls = () => b.stats.logPolls.confirmed + b.stats.logPolls.read;
      // B's subscriber connection stays half-open across the restart (its peer vanishes without a reset reaching it).
      const line = (await clientList()).find((l) => / name=kcc:\S*victim:subscriber( |$)/.test(l));
      const halfOpen = proxyB.halfOpen(Number(/ addr=127\.0\.0\.1:(\d+) /.exec(line ?? '')?.[1]));
      let seen = polls();
      await until(() => polls() > seen, 'a poll of b after p1, p2', 15_000);
      seen = polls();
      await until(() => polls() > seen, 'another poll of b', 15_000); // just done: the next begins 5 s after this one began
      const lastPollSeenAt = performance.now();

      // D revokes "e": the script runs (B hears it) but D's reply is lost; then the server goes down.
      proxyD.dropReplies = true;
      proxyD.hold(Number.POSITIVE_INFINITY); // D's reconnections wait
      proxyB.hold(Number.POSITIVE_INFINITY); // so do B's (its command connection's)
      const heardE = nextEvent(b, 'applied');
      const dWrite = d.revokeSession('e');
      dWrite.catch(() => undefined);
      expect(((await heardE) as [{ sid: string }])[0].sid).toBe('e');
      await server.kill();
      await server.restart(); // empty
      proxyD.dropReplies = false;

      // After the restart C revokes two more sessions: B's subscriber is half-open, it hears neither.
      await c.revokeSession('x1');
      await c.revokeSession('x2');
      // D reconnects and ioredis resends its unanswered script: "e" is appended again, now the newest entry.
      proxyD.release();
      await dWrite;

      // B's poll that began during the outage (its XINFO queued offline) runs once its command connection is back.
      await until(() => performance.now() - lastPollSeenAt > 6_000, 'a poll of b begun during the outage', 15_000);
      proxyB.release();
      // Its first poll on the new server finds counts that agree (3 − 2 appends, one message heard, the
      // newest entry heard). Confirmed, it would move B's position past x1 and x2 for good; read, B has
      // them by its next poll at the latest (a poll whose reads were queued before the restart brings
      // only what it had seen the head of).
      await until(() => b.check({ sid: 'x1' }) === 'revoked' && b.check({ sid: 'x2' }) === 'revoked', 'x1 and x2 revoked on b', 30_000);

      // And once its subscriber notices the half-open connection and comes back, nothing changes that.
      halfOpen.destroy();
      await untilAsync(async () => (await clientList()).some((l) => / name=kcc:\S*victim:subscriber( |$)/.test(l)), 'b\'s subscriber back', 30_000);
      seen = polls();
      await until(() => polls() >= seen + 2, 'two more polls of b', 30_000);
      expect([b.stale, b.check({ sid: 'x1' }), b.check({ sid: 'x2' }), b.check({ sid: 'e' })]).toEqual([false, 'revoked', 'revoked', 'revoked']);
    } finally {
      await proxyB.stop();
      await proxyD.stop();
    }
  });
});
