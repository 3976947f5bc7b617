import { describe, expect, it } from 'vitest';
import { type KccConnectionOptions, KccRedis, RedisReplayGuard, Revocations, type RevocationOptions } from '../../../client/src/index.js';
import { nextEvent, until } from '../../support/events.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 11 }, (_, i) => ({ app: `rev${i}`, env: 'prod' })) });
let ns = 0;
const closeLater = closeAfterEach();

function namespace(): string {
  return `rev${ns++}-prod`;
}

async function instance(user: string, options: RevocationOptions = {}, url = server.url, connection: KccConnectionOptions = {}): Promise<Revocations> {
  const redis = await KccRedis.connect(kccOptions(server, user, { url, reconnectMaxDelayMs: 100, ...connection }), ['subscriber', 'reader']);
  closeLater(redis);
  return closeLater(await Revocations.start(redis, options));
}

const now = () => Math.floor(Date.now() / 1000);

describe('revocations: every instance, answered from memory', () => {
  it('a session revoked on one instance is revoked there at once and on every other instance', async () => {
    const user = namespace();
    const [a, b, c, d] = await Promise.all([instance(user), instance(user), instance(user), instance(user)]);
    const others = [b!, c!, d!].map((r) => nextEvent(r, 'applied'));
    await a!.revokeSession('session-1');
    expect(a!.check({ sid: 'session-1' })).toBe('revoked'); // before the call returned to the app
    await Promise.all(others);
    for (const r of [a!, b!, c!, d!]) {
      expect(r.check({ sid: 'session-1', sub: 'u', iat: now() })).toBe('revoked');
      expect(r.check({ sid: 'session-2', sub: 'u', iat: now() })).toBe('active');
    }
  });

  it('revokes a user\'s tokens issued before a time, and all tokens before a client-wide not-before', async () => {
    const user = namespace();
    const [a, b] = await Promise.all([instance(user), instance(user)]);
    const t = now();
    let applied = nextEvent(b!, 'applied');
    await a!.revokeSubject('alice', t);
    await applied;
    expect(b!.check({ sub: 'alice', iat: t - 10 })).toBe('revoked');
    expect(b!.check({ sub: 'alice', iat: t })).toBe('active');
    expect(b!.check({ sub: 'bob', iat: t - 10 })).toBe('active');
    applied = nextEvent(b!, 'applied');
    await a!.revokeAllBefore(t - 5);
    await applied;
    expect(b!.check({ sub: 'bob', iat: t - 10 })).toBe('revoked');
    expect(b!.check({ sub: 'bob', iat: t - 5 })).toBe('active');
    expect(b!.check({ sub: 'bob' })).toBe('revoked'); // no iat: cannot prove it is newer
  });

  it('a revocation heard on pub/sub is applied once: its copy in the event log is skipped when the log is read', async () => {
    const user = namespace();
    const b = await instance(user, { maxStalenessMs: 300 }); // reads the log every 100 ms
    const a = await instance(user);
    for (let i = 0; i < 20; i++) await a.revokeSession(`heard-${i}`);
    await until(() => b.stats.revokedSessions === 20, 'the 20 revocations on b');
    const heardAt = performance.now();
    // A log read that began after all 20 were heard has read their copies in the log.
    await until(() => performance.now() - b.stalenessMs > heardAt, 'a log read on b after the 20 were heard');
    expect(b.stats.applied).toBe(20);
    expect(b.stats.refused).toEqual({ api: 0, bus: 0, log: 0, snapshot: 0 });
  });

  it('an instance started after the revocations loads them all', async () => {
    const user = namespace();
    const a = await instance(user);
    for (let i = 0; i < 50; i++) await a.revokeSession(`s${i}`);
    await a.revokeSubject('carol', now());
    const late = await instance(user);
    expect(late.stats.revokedSessions).toBe(50);
    expect(late.check({ sid: 's49' })).toBe('revoked');
    expect(late.check({ sub: 'carol', iat: now() - 60 })).toBe('revoked');
  });

  it('rejects a replayed jti cluster-wide', async () => {
    const user = namespace();
    const connect = async () => {
      const redis = await KccRedis.connect(kccOptions(server, user));
      closeLater(redis);
      return redis;
    };
    const guardA = new RedisReplayGuard(await connect());
    const guardB = new RedisReplayGuard(await connect());
    expect(await guardA.firstUse('jti-1', 60_000)).toBe(true);
    expect(await guardB.firstUse('jti-1', 60_000)).toBe(false);
    expect(await guardB.firstUse('jti-2', 60_000)).toBe(true);
    expect(guardB.replaysRefused).toBe(1);
  });
});

describe('revocations: batch sizes (maxMessageBytes)', () => {
  it('instances writing larger batches than others would write: every batch applied everywhere, over pub/sub and from the log, none dropped', { timeout: 60_000 }, async () => {
    const user = namespace();
    const proxy = await TcpProxy.start(server.port);
    try {
      const writer = await instance(user, {}, server.url, { maxMessageBytes: 1_048_576 });
      const usual = await instance(user); // the default, 65536
      const smallest = await instance(user, {}, server.url, { maxMessageBytes: 16_384 });
      // Cut off while the batches are written: it reads them from the log once back.
      const cutOff = await instance(user, { maxStalenessMs: 400 }, proxy.url, { maxMessageBytes: 16_384 });
      proxy.cut();
      // One burst: the writer batches what arrives while its writes are in flight, up to 256
      // revocations of about 290 bytes each, so batches of up to about 74 KB.
      const sid = (i: number) => `${String(i).padStart(6, '0')}-${'s'.repeat(240)}`;
      await Promise.all(Array.from({ length: 600 }, (_, i) => writer.revokeSession(sid(i))));
      expect(writer.stats.batchesWritten).toBeLessThan(600 / 2);
      await until(() => usual.stats.revokedSessions === 600 && smallest.stats.revokedSessions === 600, 'all 600 on the connected instances');
      proxy.heal();
      await until(() => cutOff.stats.revokedSessions === 600, 'all 600 on the instance that was cut off', 30_000);
      for (const reader of [usual, smallest, cutOff]) {
        expect(reader.stats.messagesDropped).toBe(0);
        expect(reader.check({ sid: sid(599) })).toBe('revoked');
      }
    } finally {
      await proxy.stop();
    }
  });

  it('a burst of revocations whose ids are multi-byte characters, at the smallest limit: every one written (batches are cut by bytes, not characters)', async () => {
    const user = namespace();
    const writer = await instance(user, {}, server.url, { maxMessageBytes: 16_384 });
    const reader = await instance(user);
    // 256 characters, 512 bytes of UTF-8 each: a batch cut by characters would be twice its budget.
    const sub = (i: number) => `${String(i).padStart(4, '0')}${'é'.repeat(252)}`;
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => writer.revokeSubject(sub(i), now())));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    await until(() => reader.stats.revokedSubjects === 300, 'all 300 on the other instance');
    expect(reader.stats.messagesDropped).toBe(0);
  });
});

describe('revocations: faults (real redis-server, a TCP proxy the test controls)', () => {
  it('kill and restart Redis in the middle of 1,000 revocations: every instance ends with all 1,000', { timeout: 120_000 }, async () => {
    const user = namespace();
    const instances = await Promise.all([instance(user), instance(user), instance(user)]);
    const writer = instances[0]!;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 1_000; i++) {
      pending.push(writer.revokeSession(`kill-${i}`));
      if (i === 400) {
        await Promise.all(pending.splice(0));
        await server.kill();
        await server.restart();
      }
    }
    await Promise.all(pending);
    await until(() => instances.every((r) => r.stats.revokedSessions === 1_000), 'all 1,000 on every instance', 60_000);
    const late = await instance(user);
    expect(late.stats.revokedSessions).toBe(1_000);
  });

  it('cut off longer than maxStalenessMs while 500 revocations happen: stale during the cut, all 500 after', { timeout: 60_000 }, async () => {
    const user = namespace();
    const proxy = await TcpProxy.start(server.port);
    try {
      const writer = await instance(user, { maxStalenessMs: 400 });
      const isolated = await instance(user, { maxStalenessMs: 400 }, proxy.url);
      expect(isolated.check({ sid: 'cut-0' })).toBe('active');
      const stale = nextEvent(isolated, 'stale');
      proxy.cut();
      for (let i = 0; i < 500; i++) await writer.revokeSession(`cut-${i}`);
      await stale;
      expect(isolated.check({ sid: 'cut-0' })).toBe('stale');
      expect(isolated.rejects({ sid: 'cut-0' })).toBe(true); // fail closed by default
      expect(isolated.stats.revokedSessions).toBe(0);
      const fresh = nextEvent(isolated, 'fresh', 30_000);
      proxy.heal();
      await fresh;
      expect(isolated.stats.revokedSessions).toBe(500);
      expect(isolated.check({ sid: 'cut-499' })).toBe('revoked');
      // Fresh again is the 'fresh' event above; 'active' here would depend on the next 400 ms of a busy machine.
      expect(isolated.check({ sid: 'never-revoked' })).not.toBe('revoked');
    } finally {
      await proxy.stop();
    }
  });

  it('fail-open policy lets stale checks through, still refusing known revocations', async () => {
    const user = namespace();
    const proxy = await TcpProxy.start(server.port);
    try {
      const revocations = await instance(user, { maxStalenessMs: 300, failOpen: true }, proxy.url);
      await revocations.revokeSession('known');
      const stale = nextEvent(revocations, 'stale');
      proxy.cut();
      await stale;
      expect(revocations.rejects({ sid: 'unknown' })).toBe(false);
      expect(revocations.rejects({ sid: 'known' })).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});
