/**
 * Loading the stored state on a host whose clock runs behind the Redis server's (a clock review,
 * low-medium): the loader judged a "future" not-before by this host's clock, so an instance 120 s
 * behind (a VM resumed after a pause, a host before NTP's first step) refused an honest user-wide
 * or client-wide not-before and removed it from Redis, and instances started later with a correct
 * clock missed it too. Now it judges by the server's clock, measured with TIME as the load begins;
 * without a measurement (the server refuses TIME) it refuses by this host's clock but removes
 * nothing. A forged far-future not-before, written with the app's credentials, is still refused
 * and removed: by the loader with a measurement, by the next write without one.
 *
 * A real TLS redis-server with the stack's ACL users; this host's clock is put behind by replacing
 * Date.now for the start of one instance.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { asAdmin, connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const USERS = ['snapclock0-prod', 'snapclock1-prod', 'snapclock2-prod', 'snapclock3-prod'] as const;
const server = useTestRedis({ appEnvs: USERS.map((user) => ({ app: user.replace('-prod', ''), env: 'prod' })), persistence: 'none' });
const closeLater = closeAfterEach();
const realNow = Date.now.bind(Date);
const nowS = () => Math.floor(realNow() / 1000);
const YEAR_S = 365 * 86_400;

afterEach(() => void vi.restoreAllMocks());

/** An instance of `user`'s app-env; its start (and load of the stored state) runs with this host's clock `behindMs` behind. */
async function instance(user: string, behindMs = 0, warnings: string[] = []): Promise<{ redis: KccRedis; revocations: Revocations }> {
  const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };
  const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger }), ['subscriber']));
  const clock = behindMs === 0 ? undefined : vi.spyOn(Date, 'now').mockImplementation(() => realNow() - behindMs);
  try {
    return { redis, revocations: closeLater(await Revocations.start(redis)) };
  } finally {
    clock?.mockRestore();
  }
}

describe('an instance starting with its clock 120 s behind the Redis server\'s', () => {
  it('loads an honest session revoked up to a logout as that (offline tokens after it pass), judged by the server\'s clock; one forged a year ahead is held whole, for the lifetime only (a review: judged by this host\'s clock alone, the honest one was held whole)', async () => {
    const writer = await instance(USERS[3]);
    const logoutAt = nowS() - 10;
    await writer.revocations.revokeSession('browser', { issuedUpTo: logoutAt });
    const raw = closeLater(await connectAs(server, USERS[3]));
    await raw.zadd(writer.redis.key(REVOCATION_KEYS.sessionsUpTo), logoutAt + YEAR_S, 'forged');
    const lagging = await instance(USERS[3], 600_000);
    const offline = (sid: string, iat: number) => lagging.revocations.check({ sid, iat, scope: 'openid offline_access' });
    expect([offline('browser', logoutAt), offline('browser', logoutAt + 60)]).toEqual(['revoked', 'active']);
    expect(offline('forged', logoutAt + 60)).toBe('revoked');
    expect(lagging.revocations.stats.refused.snapshot).toBe(0);
  });

  it('loads an honest user-wide not-before and leaves it in Redis; refuses and removes a forged one a year ahead, saying which clock judged', async () => {
    const writer = await instance(USERS[0]);
    const logoutAt = nowS();
    await writer.revocations.revokeSubject('alice', logoutAt);
    const raw = closeLater(await connectAs(server, USERS[0]));
    const subjects = writer.redis.key(REVOCATION_KEYS.subjects);
    await raw.zadd(subjects, logoutAt + YEAR_S, 'mallory'); // the app's credentials suffice
    const aliceBefore = { sub: 'alice', sid: 'a-1', iat: logoutAt - 60 };

    const warnings: string[] = [];
    const lagging = await instance(USERS[0], 120_000, warnings);
    expect(lagging.revocations.check(aliceBefore)).toBe('revoked');
    expect(lagging.revocations.check({ sub: 'mallory', sid: 'm-1', iat: logoutAt })).toBe('active');
    expect(lagging.revocations.stats.refused.snapshot).toBe(1);
    expect(await raw.zrange(subjects, 0, -1)).toEqual(['alice']);
    expect(warnings).toContainEqual(expect.stringMatching(
      /^1 stored not-before more than 90 s ahead of the Redis server's clock \(measured with TIME during the load; this host's clock is 120 s behind it: check NTP\) refused and removed from Redis: no honest writer stores one/,
    ));
    const fresh = await instance(USERS[0]);
    expect(fresh.revocations.check(aliceBefore)).toBe('revoked');
  });

  it('loads an honest client-wide not-before and leaves it in Redis; refuses and removes a forged one', async () => {
    const writer = await instance(USERS[1]);
    const logoutAt = nowS();
    await writer.revocations.revokeAllBefore(logoutAt);
    const raw = closeLater(await connectAs(server, USERS[1]));
    const clientKey = writer.redis.key(REVOCATION_KEYS.clientNotBefore);

    const lagging = await instance(USERS[1], 120_000);
    expect(lagging.revocations.check({ sub: 'bob', sid: 'b-1', iat: logoutAt - 1 })).toBe('revoked');
    expect(lagging.revocations.stats.refused.snapshot).toBe(0);
    expect(await raw.get(clientKey)).toBe(String(logoutAt));

    await raw.set(clientKey, String(logoutAt + YEAR_S));
    const next = await instance(USERS[1], 120_000);
    expect(next.revocations.check({ sub: 'bob', sid: 'b-2', iat: logoutAt + 1 })).toBe('active');
    expect(next.revocations.stats.refused.snapshot).toBe(1);
    expect(await raw.get(clientKey)).toBeNull();
  });

  it('with the server refusing TIME: refuses the honest not-before by this host\'s clock but leaves it in Redis, and says why; the next write removes the forged one', async () => {
    await asAdmin(server, (admin) => admin.call('ACL', 'SETUSER', USERS[2], '-time'));
    const writer = await instance(USERS[2]);
    const logoutAt = nowS();
    await writer.revocations.revokeSubject('carol', logoutAt);
    const raw = closeLater(await connectAs(server, USERS[2]));
    const subjects = writer.redis.key(REVOCATION_KEYS.subjects);
    await raw.zadd(subjects, logoutAt + YEAR_S, 'mallory');
    const carolBefore = { sub: 'carol', sid: 'c-1', iat: logoutAt - 60 };

    const warnings: string[] = [];
    const lagging = await instance(USERS[2], 120_000, warnings);
    expect(lagging.revocations.check(carolBefore)).toBe('active'); // nothing to judge by but its own clock
    expect(lagging.revocations.stats.refused.snapshot).toBe(2);
    expect(await raw.zrange(subjects, 0, -1)).toEqual(['carol', 'mallory']);
    expect(warnings).toContainEqual(expect.stringMatching(
      /^2 stored not-befores more than 90 s ahead of this host's clock refused here but left in Redis: this host's clock could not be compared with the Redis server's \(the server refuses TIME\)/,
    ));

    const fresh = await instance(USERS[2]);
    expect(fresh.revocations.check(carolBefore)).toBe('revoked');
    expect(fresh.revocations.check({ sub: 'mallory', sid: 'm-1', iat: logoutAt })).toBe('active');
    await fresh.revocations.revokeSession('any-session');
    expect(await raw.zrange(subjects, 0, -1)).toEqual(['carol']);
  });
});
