/**
 * An instance skips re-applying the messages of its own writes by their envelope ids, not by the
 * sender: two processes configured with one instanceId (a hostname copied across pods), or two
 * Revocations on one connection, apply each other's revocations. Found by an audit (2026-12-03):
 * before, each dropped the other's messages as its own, and skipped their log copies as heard.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'ownsame', env: 'prod' }, { app: 'ownshared', env: 'prod' }] });
const closeLater = closeAfterEach();

/** After `a` revokes, `b` knows it: at once over the bus, and across five of its log polls (every 100 ms) it stays so. */
async function revokedOnBoth(a: Revocations, b: Revocations, sid: string): Promise<void> {
  await a.revokeSession(sid);
  const polls = () => b.stats.logPolls.confirmed + b.stats.logPolls.read;
  const before = polls();
  await until(() => polls() >= before + 5, 'five log polls on b');
  expect([a.check({ sid }), b.check({ sid }), b.stale]).toEqual(['revoked', 'revoked', false]);
  // Applied once on each: the writer does not apply its own message again.
  expect([a.stats.applied, b.stats.applied]).toEqual([1, 1]);
}

describe('revocations: an instance\'s own writes', () => {
  it('two processes configured with the same instanceId apply each other\'s revocations', async () => {
    const connect = async () => closeLater(await KccRedis.connect(kccOptions(server, 'ownsame-prod', { instanceId: 'web' }), ['subscriber']));
    const a = closeLater(await Revocations.start(await connect(), { maxStalenessMs: 300 }));
    const b = closeLater(await Revocations.start(await connect(), { maxStalenessMs: 300 }));
    await revokedOnBoth(a, b, 'same-id-logout');
  });

  it('two Revocations on one KccRedis apply each other\'s revocations', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, 'ownshared-prod', { instanceId: 'shared' }), ['subscriber']));
    const a = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    const b = closeLater(await Revocations.start(redis, { maxStalenessMs: 300 }));
    await revokedOnBoth(a, b, 'shared-connection-logout');
  });
});
