/**
 * The stored Keycloak push (`keycloak-push:v1`) on a host whose clock runs behind the Redis server's
 * (a review of 9227a7e, medium): 9227a7e made the load judge the stored user-wide and client-wide
 * not-befores by the server's clock, but the stored push was still verified by this host's clock. An
 * instance starting 120 s behind refused the honest "Set to now" as bad_expiration (its expiration,
 * push time + 30 s, lay more than 90 + 30 s ahead of this host's clock), and the refusal stuck: it was
 * never read again but at a start or a gap, so once the clock was right the instance still answered
 * 'active' for every token the push cut off. Now the stored push is judged by the server's clock
 * (measured with TIME as the load begins), and a push refused for its time (from the stored state,
 * the bus or the log) makes a later poll read and verify the stored push again, spaced as reloads for
 * gaps are, so that one that stays refused (a realm-signed push a year ahead, or its claims, stored
 * with the app's credentials) is never applied and is not read again at every poll.
 *
 * A real TLS redis-server with the stack's ACL users; admin actions signed with a realm key of the
 * test's. This host's clock is put behind by replacing Date.now; the schedule's monotonic clock is
 * held still by replacing performance.now (the waits below use the real one).
 */
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KccRedis, type KeycloakPushVerifier, type RevocationOptions, Revocations, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { type RealmKey, realmKey, verifiedNotBeforePush } from '../../support/logout-tokens.js';
import { asAdmin, connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const USERS = ['pushclock0-prod', 'pushclock1-prod', 'pushclock2-prod', 'pushclock3-prod', 'pushclock4-prod'] as const;
const server = useTestRedis({ appEnvs: USERS.map((user) => ({ app: user.replace('-prod', ''), env: 'prod' })), persistence: 'none' });
const closeLater = closeAfterEach();
const realNow = Date.now.bind(Date);
const realPerformanceNow = performance.now.bind(performance);
const nowS = () => Math.floor(realNow() / 1000);
const YEAR_S = 365 * 86_400;
/** Polls every 200 ms. */
const POLLING: RevocationOptions = { maxStalenessMs: 600 };

afterEach(() => void vi.restoreAllMocks());

/** Puts this host's clock `behindMs` behind; the returned spy's mockRestore() puts it right. */
const clockBehind = (behindMs: number) => vi.spyOn(Date, 'now').mockImplementation(() => realNow() - behindMs);

/** Waits for `condition` on the real monotonic clock (performance.now may be held still). */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = realPerformanceNow() + timeoutMs;
  while (!condition()) {
    if (realPerformanceNow() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const polls = (revocations: Revocations) => revocations.stats.logPolls.read + revocations.stats.logPolls.confirmed;

/** Waits until `revocations` has polled the log `count` more times. */
async function pollsMore(revocations: Revocations, count: number): Promise<void> {
  const target = polls(revocations) + count;
  await waitFor(() => polls(revocations) >= target, `${count} more polls`);
}

describe('the stored Keycloak push and clocks', () => {
  let key: RealmKey;
  let verifier: KeycloakPushVerifier;
  beforeAll(async () => {
    key = await realmKey('realm-1');
    verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.com/realms/main', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
  });

  /** An instance of `user`'s app-env; its start runs with this host's clock `behindMs` behind. */
  async function instance(user: string, options: { behindMs?: number; keycloakPushes?: KeycloakPushVerifier | null; warnings?: string[] } = {}) {
    const warnings = options.warnings ?? [];
    const logger = { info: () => {}, warn: (message: string) => void warnings.push(message) };
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger }), ['subscriber']));
    const clock = options.behindMs === undefined ? undefined : clockBehind(options.behindMs);
    const keycloakPushes = options.keycloakPushes === null ? undefined : (options.keycloakPushes ?? verifier);
    try {
      return { redis, revocations: closeLater(await Revocations.start(redis, { ...POLLING, ...(keycloakPushes ? { keycloakPushes } : {}) })) };
    } finally {
      clock?.mockRestore();
    }
  }

  it('an instance starting 120 s behind the server enforces the honest stored "Set to now" at once, with a verifier or without one', async () => {
    const writer = await instance(USERS[0]);
    const pushAt = nowS();
    await writer.revocations.applyKeycloakPush(await verifiedNotBeforePush(key, verifier, pushAt));
    const before = { sub: 'alice', sid: 'a-1', iat: pushAt - 10 };
    expect(writer.revocations.check(before)).toBe('revoked');

    const lagging = await instance(USERS[0], { behindMs: 120_000 });
    expect(lagging.revocations.check(before)).toBe('revoked');
    expect(lagging.revocations.stats.refused.snapshot).toBe(0);
    // Without a verifier the push's claims are judged (and raised to) by the same clock.
    const unverifying = await instance(USERS[0], { behindMs: 120_000, keycloakPushes: null });
    expect(unverifying.revocations.check(before)).toBe('revoked');
    expect(unverifying.revocations.stats.refused.snapshot).toBe(0);
  });

  it('a push refused on the bus by a host clock 120 s behind is verified again at a later poll, by the server\'s clock', async () => {
    const relaying = await instance(USERS[1]);
    const follower = await instance(USERS[1]);
    const pushAt = nowS();
    const push = await verifiedNotBeforePush(key, verifier, pushAt);
    const before = { sub: 'bob', sid: 'b-1', iat: pushAt - 10 };

    const clock = clockBehind(120_000); // both instances' (one process): the follower judges the bus push by it
    // The follower's last measurement of the server's clock is too old to use (nothing measured for two
    // minutes): it has this host's clock alone to judge the bus push by. (A recent one is carried on the
    // monotonic clock, which this test's step back of the wall clock does not move.)
    const estimate = vi.spyOn(follower.redis.serverClock, 'estimate').mockReturnValue(undefined);
    try {
      await relaying.revocations.applyKeycloakPush(push);
      await waitFor(() => follower.revocations.stats.refused.bus + follower.revocations.stats.refused.log > 0, 'the follower to refuse the push by its own clock');
      await waitFor(() => follower.revocations.check(before) === 'revoked', 'the follower to verify the stored push again by the server\'s clock');
    } finally {
      clock.mockRestore();
      estimate.mockRestore();
    }
    expect(follower.revocations.check({ sub: 'bob', sid: 'b-2', iat: pushAt + 1 })).toBe('active');
  });

  it('a push on the bus is judged by the later of this host\'s clock and the server\'s as last measured: a host 120 s behind since its start takes it at once', async () => {
    const relaying = await instance(USERS[4]);
    const pushAt = nowS();
    const push = await verifiedNotBeforePush(key, verifier, pushAt);
    const before = { sub: 'erin', sid: 'e-1', iat: pushAt - 10 };

    const clock = clockBehind(120_000);
    try {
      const follower = await instance(USERS[4]); // measures the server's clock 120 s ahead of this host's
      await relaying.revocations.applyKeycloakPush(push);
      await waitFor(() => follower.revocations.check(before) === 'revoked', 'the follower to apply the push');
      expect(follower.revocations.stats.refused).toEqual({ api: 0, bus: 0, log: 0, snapshot: 0 });
    } finally {
      clock.mockRestore();
    }
  });

  it('with the server refusing TIME: the stored push refused by a host clock 120 s behind is applied once the clock is right, without a restart', async () => {
    await asAdmin(server, (admin) => admin.call('ACL', 'SETUSER', USERS[2], '-time'));
    const writer = await instance(USERS[2]);
    const pushAt = nowS();
    await writer.revocations.applyKeycloakPush(await verifiedNotBeforePush(key, verifier, pushAt));
    const before = { sub: 'carol', sid: 'c-1', iat: pushAt - 10 };

    const warnings: string[] = [];
    const lagging = await instance(USERS[2], { behindMs: 120_000, warnings });
    expect(lagging.revocations.check(before)).toBe('active'); // nothing to judge by but its own clock
    expect(lagging.revocations.stats.refused.snapshot).toBe(1);
    expect(warnings).toContainEqual(expect.stringMatching(
      /^revocation refused from the snapshot \(keycloak-push bad_expiration: too far ahead of this host's clock; the stored push is verified again at a later poll\)/,
    ));
    // The clock is right again (restored after the start): a later poll reads the push again.
    await waitFor(() => lagging.revocations.check(before) === 'revoked', 'the lagging instance to verify the stored push again');
    expect(lagging.revocations.stats.refused.snapshot).toBe(1);
  });

  it('a push that stays refused for its time (realm-signed a year ahead, stored with the app\'s credentials) is never applied and is read again twice at once, then after waits that double, not at every poll', async () => {
    const user = USERS[3];
    const at = nowS();
    const forged = await new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: at + YEAR_S, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore: at + YEAR_S - 30 })))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
    const raw = closeLater(await connectAs(server, user)); // the app's credentials suffice
    await raw.set(`${user}:{${user}}:${REVOCATION_KEYS.keycloakPush}`, JSON.stringify({ v: 1, action: forged, expiration: at + YEAR_S, notBefore: at + YEAR_S - 30 }));

    // The schedule's clock held still: only the polls move.
    let monotonic = realPerformanceNow();
    vi.spyOn(performance, 'now').mockImplementation(() => monotonic);
    const verifying = await instance(user);
    const unverifying = await instance(user, { keycloakPushes: null }); // judges the push's claims
    const both = [verifying.revocations, unverifying.revocations];
    const refusals = () => both.map((r) => r.stats.refused.snapshot);
    const now = { sub: 'dave', sid: 'd-1', iat: at };

    // The start's read, then two more at once.
    await waitFor(() => refusals().every((count) => count >= 3), 'the two reads at once');
    for (const revocations of both) await pollsMore(revocations, 10);
    expect(refusals()).toEqual([3, 3]);
    // 5 s later, one more; the next wait is 10 s.
    monotonic += 5_000;
    await waitFor(() => refusals().every((count) => count >= 4), 'the read after 5 s');
    monotonic += 5_000;
    for (const revocations of both) await pollsMore(revocations, 10);
    expect(refusals()).toEqual([4, 4]);
    monotonic += 5_000;
    await waitFor(() => refusals().every((count) => count >= 5), 'the read after 10 s');
    for (const revocations of both) await pollsMore(revocations, 5);
    expect(refusals()).toEqual([5, 5]);
    expect(both.map((r) => r.check(now))).toEqual(['active', 'active']);
    vi.mocked(performance.now).mockRestore();
  });
});
