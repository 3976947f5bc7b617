/**
 * Sessions revoked up to a time: Keycloak's offline sessions share the `sid` of the browser session
 * they came from, so a back-channel logout of the browser session revokes the tokens of that `sid`
 * issued up to the logout (with a few seconds of slack for clocks), not the offline session's later
 * ones. A session revoked whole stays whole.
 */
import { describe, expect, it } from 'vitest';
import { RevocationIndex, SESSION_UP_TO_SLACK_SECONDS } from '../../../client/src/revocation/revocation-index.js';
import { EPOCH_BASE_S } from '../../../client/src/revocation/session-table.js';

const T = 1_800_000_000; // the logout token's iat, epoch s
const SLACK = SESSION_UP_TO_SLACK_SECONDS;
const HOUR_MS = 3_600_000;
/** A token refreshed from an offline session: only such a one may pass a session revoked up to a time. */
const OFFLINE = 'openid profile offline_access';

describe('RevocationIndex.revokeSessionUpTo', () => {
  it('has a slack of 5 seconds', () => {
    expect(SLACK).toBe(5);
  });

  it.each([
    ['well before T', T - 3_600, true],
    ['at T', T, true],
    ['at T + slack', T + SLACK, true],
    ['one second past T + slack', T + SLACK + 1, false],
    ['long after T', T + 86_400, false],
    ['without iat (cannot prove it is later)', undefined, true],
  ])('refuses a token of the sid issued %s: %s', (_, iat, revoked) => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', T);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat })).toBe(revoked);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'other', iat })).toBe(false);
  });

  it('refuses a token whose iat is not a number', () => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', T);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: Number.NaN })).toBe(true);
  });

  it('a token of the sid past the up-to time is still checked against not-befores', () => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', T);
    index.revokeSubject('user', T + 100);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', sub: 'user', iat: T + 50 })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', sub: 'user', iat: T + 100 })).toBe(false);
  });

  it('rounds a fractional time up (refusing more)', () => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', T + 0.2);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 1 + SLACK })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 2 + SLACK })).toBe(false);
  });

  it('whole beats up-to, in either order: every token of the sid is refused', () => {
    const wholeFirst = new RevocationIndex();
    wholeFirst.revokeSession('sid', Date.now() + HOUR_MS);
    wholeFirst.revokeSessionUpTo('sid', T);
    const upToFirst = new RevocationIndex();
    upToFirst.revokeSessionUpTo('sid', T);
    upToFirst.revokeSession('sid', Date.now() + HOUR_MS);
    for (const index of [wholeFirst, upToFirst]) {
      expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 86_400 })).toBe(true);
      expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T - 1 })).toBe(true);
      expect(index.sessionCount).toBe(1);
    }
  });

  it('two up-to times, in either order: the later one wins', () => {
    const rising = new RevocationIndex();
    rising.revokeSessionUpTo('sid', T);
    rising.revokeSessionUpTo('sid', T + 100);
    const falling = new RevocationIndex();
    falling.revokeSessionUpTo('sid', T + 100);
    falling.revokeSessionUpTo('sid', T);
    for (const index of [rising, falling]) {
      expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 100 + SLACK })).toBe(true);
      expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 101 + SLACK })).toBe(false);
      expect(index.sessionCount).toBe(1);
    }
  });

  it.each([
    ['1970 (0)', 0],
    ['the table\'s base', EPOCH_BASE_S],
    ['not a number', Number.NaN],
  ])('keeps nothing for a time at %s (no token that old is alive)', (_, upTo) => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', upTo);
    expect(index.sessionCount).toBe(0);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: EPOCH_BASE_S })).toBe(false);
  });

  it('keeps a time one second past the table\'s base', () => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', EPOCH_BASE_S + 1);
    expect(index.sessionCount).toBe(1);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: EPOCH_BASE_S + 1 + SLACK })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: EPOCH_BASE_S + 2 + SLACK })).toBe(false);
  });

  it('holds a time past the table\'s range as the whole sid until the range\'s end, and prunes it there', () => {
    const end = EPOCH_BASE_S + 0xffff_ffff;
    const index = new RevocationIndex();
    index.revokeSessionUpTo('past', end + 10); // stored as up-to, it would wrap to 10 s past the base
    index.revokeSessionUpTo('last', end); // the range's last second: still up-to
    expect(index.isRevoked({ scope: OFFLINE, sid: 'past', iat: end + 86_400 })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'last', iat: end + SLACK + 1 })).toBe(false);
    index.prune(Date.now() + HOUR_MS, HOUR_MS);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'past', iat: T })).toBe(true);
    index.prune(end * 1000 - 1, HOUR_MS);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'past', iat: T })).toBe(true);
    index.prune(end * 1000, 0);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'past', iat: T })).toBe(false);
  });

  it('prunes an up-to session once T + the max lifetime (rounded up to seconds) + slack is past, not a second before', () => {
    const index = new RevocationIndex();
    const lifetimeMs = HOUR_MS + 500; // 3,601 s once rounded up
    index.revokeSessionUpTo('sid', T);
    const dueS = T + 3_601 + SLACK;
    index.prune(dueS * 1000 - 1, lifetimeMs); // now rounds down to dueS - 1
    expect(index.sessionCount).toBe(1);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T })).toBe(true);
    index.prune(dueS * 1000, lifetimeMs);
    expect(index.sessionCount).toBe(0);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T })).toBe(false);
  });

  it('prunes a whole session at its expiry, not at T + lifetime, after an up-to arrived for it', () => {
    const index = new RevocationIndex();
    const expiresS = T + 10 * 3_600;
    index.revokeSession('sid', expiresS * 1000);
    index.revokeSessionUpTo('sid', T);
    index.prune((T + 3_600 + SLACK) * 1000, HOUR_MS);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 3_600 })).toBe(true);
    index.prune(expiresS * 1000, HOUR_MS);
    expect(index.sessionCount).toBe(0);
  });

  it('an up-to revocation arriving now over a whole one in force holds that one until whole.untilMs at least (as the write script extends it in Redis), and only then', () => {
    const index = new RevocationIndex();
    const wholeS = T + 60;
    index.revokeSession('sid', wholeS * 1000);
    index.revokeSessionUpTo('sid', T, { nowMs: T * 1000, untilMs: (T + 10 * 3_600) * 1000 });
    index.prune((wholeS + 1) * 1000, 10 * HOUR_MS);
    // Before: pruned at the whole one's own expiry, so tokens issued up to T passed from then on.
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 3_600 })).toBe(true); // still whole
    index.prune((T + 10 * 3_600) * 1000, 10 * HOUR_MS);
    expect(index.sessionCount).toBe(0);
  });

  it('an up-to revocation arriving now over a whole one that expired (not pruned yet) takes its place, as in Redis (an attack review: it was extended whole for a lifetime)', () => {
    const index = new RevocationIndex();
    index.revokeSession('sid', (T - 10) * 1000);
    index.revokeSessionUpTo('sid', T, { nowMs: T * 1000, untilMs: (T + 10 * 3_600) * 1000 });
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T })).toBe(true);
    expect(index.isRevoked({ scope: OFFLINE, sid: 'sid', iat: T + 60 })).toBe(false);
  });

  it('lets a later token through only when its scope holds offline_access: Keycloak sends the logout before it removes the online session, and one refreshed from it meanwhile is later (an attack review)', () => {
    const index = new RevocationIndex();
    index.revokeSessionUpTo('sid', T);
    const later = T + SLACK + 60;
    expect(index.isRevoked({ sid: 'sid', iat: later })).toBe(true);
    expect(index.isRevoked({ sid: 'sid', iat: later, scope: 'openid profile' })).toBe(true);
    expect(index.isRevoked({ sid: 'sid', iat: later, scope: 'openid no_offline_access offline_access_x' })).toBe(true);
    expect(index.isRevoked({ sid: 'sid', iat: later, scope: 'offline_access' })).toBe(false);
    expect(index.isRevoked({ sid: 'sid', iat: later, scope: 'openid offline_access email' })).toBe(false);
    expect(index.isRevoked({ sid: 'sid', iat: T, scope: 'offline_access' })).toBe(true);
  });
});
