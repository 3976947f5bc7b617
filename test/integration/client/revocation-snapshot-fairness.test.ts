/**
 * A starting instance's read of the stored state leaves room for every other client: Redis runs the
 * commands one client has sent back to back, in one turn, and a logout's write on another instance
 * waits for it. So a start keeps at most two reads of a set unanswered, each of at most 2,000
 * entries (one past the range's end, for the check of the next range). Bounds of the commands, not
 * of time: `bench/profile/fleet-start.ts` measures what they buy. Real redis-server, TLS, the stack's
 * ACL user.
 */
import { expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { interceptRankRanges } from '../../support/snapshot-reads.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'fair-prod';
const server = useTestRedis({ appEnvs: [{ app: 'fair', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

it('a start reads each stored set at most two ranges of at most 2,000 entries at a time', async () => {
  const raw = await connectAs(server, USER);
  closeLater(raw);
  const redis = await KccRedis.connect(kccOptions(server, USER), ['subscriber']);
  closeLater(redis);
  const far = Date.now() + 3_600_000;
  const nowS = Math.floor(Date.now() / 1000);
  const sets = { sessions: redis.key(REVOCATION_KEYS.sessions), upTo: redis.key(REVOCATION_KEYS.sessionsUpTo) };
  for (let i = 0; i < 20_000; i += 1_000) {
    await raw.zadd(sets.sessions, ...Array.from({ length: 1_000 }, (_, j) => [far - i - j, `session-${i + j}`]).flat());
    if (i < 9_000) await raw.zadd(sets.upTo, ...Array.from({ length: 1_000 }, (_, j) => [nowS - 1, `up-to-${i + j}`]).flat());
  }
  const unanswered = new Map<string, number>();
  const most = new Map<string, number>();
  const ranges = new Map<string, number>();
  let widest = 0;
  let together = 0;
  let mostTogether = 0;
  interceptRankRanges(redis, async ([key, first, last], send) => {
    widest = Math.max(widest, Number(last) - Number(first));
    ranges.set(key, (ranges.get(key) ?? 0) + 1);
    unanswered.set(key, (unanswered.get(key) ?? 0) + 1);
    most.set(key, Math.max(most.get(key) ?? 0, unanswered.get(key)!));
    mostTogether = Math.max(mostTogether, ++together);
    try {
      return await send();
    } finally {
      unanswered.set(key, unanswered.get(key)! - 1);
      together--;
    }
  });
  const revocations = await Revocations.start(redis, { maxStalenessMs: 30_000 });
  closeLater(revocations);
  expect(revocations.stats.revokedSessions).toBeGreaterThanOrEqual(20_000);
  // Enough ranges of each set for a window of more than two to show.
  expect(ranges.get(sets.sessions)).toBeGreaterThanOrEqual(10);
  expect(ranges.get(sets.upTo)).toBeGreaterThanOrEqual(5);
  expect(Math.max(...most.values())).toBeLessThanOrEqual(2);
  // What all the sets have unanswered together on the one connection, as the server sees a turn.
  expect(mostTogether).toBeLessThanOrEqual(6);
  expect(widest).toBeLessThanOrEqual(2_000);
});
