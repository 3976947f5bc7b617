/**
 * Each instance's heartbeat entry says, as of its last beat, its revocation state and its key ring
 * (heartbeat.ts's parts), so that `kcc-redis status` shows which instance answers 503 as stale, holds
 * logouts Redis does not have, or signs from a ring it cannot read. Before, status listed instances
 * with their version and host only: an on-call engineer had to find the stale one among the load
 * balancer's targets (the on-call review of 2026-12-07).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type ListedInstance, Revocations, listInstances } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { untilAsync } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'beatstate', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'beatstate-prod';
const KEK = 'heartbeat-state-test-key-encryption-key-0123456789abcdefghijkl';
/** The refusals below are warned of on purpose: not shown. */
const QUIET = { warn: () => undefined, info: () => undefined };
const RING = { keyEncryptionKey: KEK, algorithm: 'ES256', env: {}, activationDelayMs: 1_000, retireGraceMs: 2_000, refreshIntervalMs: 100, lockTtlMs: 2_000 } as const;

/** Runs `during` with `username` allowed only the heartbeat's keys: every other read and write is refused (NOPERM), the beats still written. */
async function onlyHeartbeatKeys<T>(admin: Redis, username: string, during: () => Promise<T>): Promise<T> {
  const acl = (await admin.call('ACL', 'GETUSER', username)) as unknown[];
  const patterns = String(acl[acl.indexOf('keys') + 1]).split(' ');
  await admin.call('ACL', 'SETUSER', username, 'resetkeys', '~*instance*');
  try {
    return await during();
  } finally {
    await admin.call('ACL', 'SETUSER', username, 'resetkeys', ...patterns);
  }
}

describe('the state an instance reports in its heartbeat', () => {
  it('current and the ring it signs from; its reads refused: stale, the logout it took not in Redis, the ring degraded; allowed again: current, written, ready', { timeout: 60_000 }, async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId: 'state-a', heartbeatIntervalMs: 100, reconnectMaxDelayMs: 100, logger: QUIET })));
    const reader = closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false })));
    const ring = closeLater(await KeyRing.start(redis, RING));
    const revocations = closeLater(await Revocations.start(redis, { maxStalenessMs: 1_000 }));
    let entry: ListedInstance | undefined;
    const until = (what: string, test: (e: ListedInstance) => boolean) =>
      untilAsync(async () => {
        entry = (await listInstances(reader)).instances.find((i) => i.instanceId === 'state-a');
        return entry !== undefined && test(entry);
      }, what, 30_000);

    // Waited for, not taken from the first entry: a beat written during the start, or a stall on a busy machine, may say otherwise for a moment.
    await until('current and ready in the entry', (e) => e.revocations?.stale === false && e.keyRing?.status === 'ready');
    expect(entry!.revocations).toEqual({ stale: false, failOpen: false, stalenessMs: expect.any(Number), unwritten: 0 });
    expect(entry!.keyRing).toEqual({ status: 'ready', generation: ring.health().generation, activeKid: ring.health().activeKid });
    expect(ring.health().activeKid).toEqual(expect.any(String));

    const admin = await server.admin();
    try {
      await onlyHeartbeatKeys(admin, USER, async () => {
        const write = revocations.revokeSession('sid-taken-while-refused');
        await expect(write).rejects.toThrow(/NOPERM/);
        await until('stale, one logout not in Redis, the ring degraded', (e) => e.revocations?.stale === true && e.revocations.unwritten === 1 && e.keyRing?.status === 'degraded');
        expect(entry!.revocations!.stalenessMs).toBeGreaterThan(1_000);
        expect(revocations.check({ sid: 'another', sub: 'u', iat: Math.floor(Date.now() / 1000) })).toBe('stale');
      });
    } finally {
      await admin.quit();
    }
    await until('current, the logout written, the ring ready', (e) => e.revocations?.stale === false && e.revocations.unwritten === 0 && e.keyRing?.status === 'ready');
    expect(revocations.stats.unwritten).toBe(0);
  });

  it('an instance that runs neither reports neither; after a close the parts are gone with the entry', { timeout: 30_000 }, async () => {
    const plain = closeLater(await KccRedis.connect(kccOptions(server, USER, { instanceId: 'plain', heartbeatIntervalMs: 100 })));
    const reader = closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false })));
    let listed: ListedInstance | undefined;
    await untilAsync(async () => {
      listed = (await listInstances(reader)).instances.find((i) => i.instanceId === 'plain');
      return listed !== undefined;
    }, 'the plain instance listed');
    expect(listed).not.toHaveProperty('revocations');
    expect(listed).not.toHaveProperty('keyRing');
    // A part whose report throws is left out; the beats go on (they failed, and the instance dropped out of the list).
    const unreport = plain.reportInHeartbeat(() => {
      throw new Error('a report that throws');
    });
    const written = plain.stats.heartbeatsWritten;
    await untilAsync(async () => plain.stats.heartbeatsWritten >= written + 3, 'three more beats');
    expect(plain.stats.heartbeatFailures).toBe(0);
    unreport();
    const revocations = await Revocations.start(plain, { maxStalenessMs: 1_000, failOpen: true });
    await untilAsync(async () => (await listInstances(reader)).instances.find((i) => i.instanceId === 'plain')?.revocations?.failOpen === true, 'the revocations part, failing open');
    // A closing Revocations no longer reports (it would say stale: closed, nothing keeps it current):
    // from the start of its close, the beats leave the part out.
    const closing = revocations.close();
    let sawStaleWhileClosing = false;
    await untilAsync(async () => {
      const again = (await listInstances(reader)).instances.find((i) => i.instanceId === 'plain');
      if (again?.revocations?.stale) sawStaleWhileClosing = true;
      return again !== undefined && again.revocations === undefined;
    }, 'the part gone after close');
    await closing;
    expect(sawStaleWhileClosing).toBe(false);
  });
});
