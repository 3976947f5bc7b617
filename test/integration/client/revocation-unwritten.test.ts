/**
 * A revocation is applied on the instance that received it before it is written to Redis. When the
 * write fails, nobody sends it again: Keycloak posts a logout token once and only logs a failed
 * answer. So the instance keeps the revocation and writes it again (after a reconnect, on every
 * poll, and once more at close) until Redis takes it.
 *
 * Found by an audit (2026-12-03): before, a logout received while the instance's Redis connection was
 * down (or while Redis refused writes) stayed on that instance alone; every other instance, and every
 * instance started later, accepted the session until it expired.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const server = useTestRedis({ appEnvs: [{ app: 'unwritten', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'unwritten-prod';
const claims = (sid: string) => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 60 });

async function start(options: { url?: string; logger?: KccLogger } = {}, closeTimeoutMs?: number): Promise<Revocations> {
  // Quick retries: a write through a cut connection fails after ioredis's 20 attempts, about 2 s.
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 100, ...options }), ['subscriber']));
  return closeLater(await Revocations.start(redis, { maxStalenessMs: 3_000, ...(closeTimeoutMs === undefined ? {} : { closeTimeoutMs }) }));
}

/** Closes through a connection that stays cut: a second, not the default 10 s, before giving up. */
const GIVE_UP_SOON_MS = 1_000;

/** Takes the user's script commands away (NOPERM, a plain error reply: no reconnect) or gives them back. */
async function refuseScripts(refuse: boolean): Promise<void> {
  const admin = await server.admin();
  try {
    await admin.call('ACL', 'SETUSER', USER, ...(refuse ? ['-eval', '-evalsha'] : ['+eval', '+evalsha']));
  } finally {
    admin.disconnect();
  }
}

function recordingLogger(): KccLogger & { readonly warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (message) => warnings.push(message), info: () => undefined };
}

describe('revocations Redis did not take are written again', () => {
  it('a revocation made while the connection is cut reaches the other instances, and those started later, once it is back', async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const a = await start({ url: proxy.url });
      const b = await start();
      proxy.cut();
      await expect(a.revokeSession('cut-1')).rejects.toThrow();
      expect(a.check(claims('cut-1'))).toBe('revoked');
      expect(a.stats.unwritten).toBe(1);
      expect(b.check(claims('cut-1'))).toBe('active');

      proxy.heal();
      await until(() => b.check(claims('cut-1')) === 'revoked' && a.stats.unwritten === 0, 'cut-1 written and revoked on b', 20_000);
      expect(a.stats).toMatchObject({ unwritten: 0, writtenLate: 1, unwrittenDropped: 0 });
      const c = await start();
      expect(c.check(claims('cut-1'))).toBe('revoked');
    } finally {
      await proxy.stop();
    }
  });

  it('a revocation Redis refused (NOPERM) is written on a later poll, with no reconnect', async () => {
    const a = await start();
    const b = await start();
    await refuseScripts(true);
    try {
      await expect(a.revokeSession('refused-1')).rejects.toThrow(/NOPERM/);
      expect(a.stats.unwritten).toBe(1);
    } finally {
      await refuseScripts(false);
    }
    await until(() => b.check(claims('refused-1')) === 'revoked' && a.stats.unwritten === 0, 'refused-1 written and revoked on b', 20_000);
    expect(a.stats).toMatchObject({ unwritten: 0, writtenLate: 1 });
  });

  it('close() writes what is still unwritten once more, and says what it could not write', async () => {
    const b = await start();
    const logger = recordingLogger();
    const a = await start({ logger });
    await refuseScripts(true);
    try {
      await expect(a.revokeSession('close-1')).rejects.toThrow(/NOPERM/);
    } finally {
      await refuseScripts(false);
    }
    await a.close(); // before any poll: the write at close is the one that takes it
    await until(() => b.check(claims('close-1')) === 'revoked', 'close-1 revoked on b', 20_000);

    const proxy = await TcpProxy.start(server.port);
    try {
      const d = await start({ url: proxy.url, logger }, GIVE_UP_SOON_MS);
      proxy.cut();
      await expect(d.revokeSession('close-2')).rejects.toThrow();
      await d.close();
      expect(logger.warnings.filter((w) => /closed with 1 revocations Redis did not confirm/.test(w))).toHaveLength(1);
      expect(logger.warnings.join('\n')).not.toMatch(/close-2/); // what is logged names no session
    } finally {
      await proxy.stop();
    }
  });

  it('close() while a write is still in flight waits for it, and what it says is true', async () => {
    // Found by a review (2026-12-03): close() looked only at the writes that had failed already, said
    // nothing, and the write failing after it promised "written again" with nothing left to write it.
    const proxy = await TcpProxy.start(server.port);
    try {
      const logger = recordingLogger();
      const a = await start({ url: proxy.url, logger }, GIVE_UP_SOON_MS);
      proxy.cut();
      const write = a.revokeSession('inflight-1').then(() => 'written', () => 'failed');
      await a.close();
      expect(logger.warnings.filter((w) => /closed with 1 revocations Redis did not confirm/.test(w))).toHaveLength(1);
      expect(await write).toBe('failed');
      // Nothing promises, after close(), a write that nothing will make.
      const closedAt = logger.warnings.findIndex((w) => /closed with 1 revocations/.test(w));
      expect(logger.warnings.slice(closedAt).filter((w) => /written again after a reconnect/.test(w))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});
