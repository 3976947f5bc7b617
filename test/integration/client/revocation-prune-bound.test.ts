/**
 * A server-load review: a writer's prune (every 64th batch) removed every expired entry in one range
 * delete; a burst of a million logouts expires together, and removing a million members held the
 * server for about 280 ms, every other client waiting. One prune now removes at most 10,000 from each
 * set, the lowest-scored first (all expired); the next prunes take the rest. Real redis-server.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'prune-prod';
const server = useTestRedis({ appEnvs: [{ app: 'prune', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const EXPIRED = 25_000;

describe('pruning the stored revocations', () => {
  it('removes at most 10,000 expired sessions per prune, never one still in force, and the next prunes the rest', async () => {
    const raw = await connectAs(server, USER);
    closeLater({ close: async () => void raw.disconnect() });
    const sessions = `${USER}:{${USER}}:${REVOCATION_KEYS.sessions}`;
    const now = Date.now();
    // As a burst's sessions, expired an hour ago together; five still in force.
    for (let start = 0; start < EXPIRED; start += 5_000) {
      await raw.zadd(sessions, ...Array.from({ length: 5_000 }, (_, i) => [now - 3_600_000 + i, `expired-${start + i}`]).flat());
    }
    await raw.zadd(sessions, ...Array.from({ length: 5 }, (_, i) => [now + 3_600_000, `live-${i}`]).flat());

    // A writer's first batch prunes (then every 64th): each new instance's first revocation prunes once.
    const prunes = async (label: string) => {
      const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { heartbeat: false })));
      const revocations = closeLater(await Revocations.start(redis));
      await revocations.revokeSession(label);
      return raw.zcard(sessions);
    };
    expect(await prunes('new-1')).toBe(EXPIRED - 10_000 + 5 + 1);
    expect(await prunes('new-2')).toBe(EXPIRED - 20_000 + 5 + 2);
    expect(await prunes('new-3')).toBe(5 + 3);
    for (let i = 0; i < 5; i++) expect(await raw.zscore(sessions, `live-${i}`)).not.toBeNull();
  });
});
