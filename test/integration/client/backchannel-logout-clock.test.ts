/**
 * A logout token stamped by a Keycloak whose clock runs ahead of the instances' (a clock review,
 * medium): refused 400 `bad_iat` past 5 s, and Keycloak does not send it again, so the logout was
 * lost on every instance. Now accepted within the 60 s every other not-before input allows, applied
 * cluster-wide, and its jti remembered in Redis for as long as any instance could accept it again.
 * A real TLS redis-server with the stack's ACL users; two instances of one app-env.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../support/closing.js';
import { logoutInstance } from '../../support/logout-instance.js';
import { until } from '../../support/events.js';
import { FORM_TYPE, type RealmKey, form, logoutClaims, realmKey, signToken } from '../../support/logout-tokens.js';
import { connectAs, useTestRedis } from '../../support/redis.js';

const USERS = ['bcclock0-prod', 'bcclock1-prod'];
const server = useTestRedis({ appEnvs: [{ app: 'bcclock0', env: 'prod' }, { app: 'bcclock1', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const ISSUER = 'https://sso.example.test/realms/shop';
const nowS = () => Math.floor(Date.now() / 1000);
let key: RealmKey;

beforeAll(async () => {
  key = await realmKey('realm-1', 'ES256');
});

const instance = (user: string) => logoutInstance(server, user, key, ISSUER, closeLater);

/** A logout token as Keycloak's DefaultTokenManager.initLogoutToken stamps it on a clock `aheadS` ahead: exp = iat + 2 min. */
async function keycloakLogout(aheadS: number, claims: Record<string, unknown> = {}) {
  const iat = nowS() + aheadS;
  const all = logoutClaims(ISSUER, { iat, exp: iat + 120, ...claims });
  return { claims: all, request: { contentType: FORM_TYPE, body: form(await signToken(key, all)) } };
}

describe('Keycloak\'s clock 45 s ahead of the instances\'', () => {
  it('a logout of a session: accepted, revoked on the other instance, and a replay there refused for as long as it could be accepted', async () => {
    const [a, b] = [await instance(USERS[0]!), await instance(USERS[0]!)];
    const { claims, request } = await keycloakLogout(45, { sid: 'kc-session-1' });
    expect((await a.logout(request)).status).toBe(200);
    await until(() => b.revocations.check({ sid: 'kc-session-1', sub: 'user-1', iat: nowS() - 10 }) === 'revoked', 'the logout heard by b');
    // Acceptable until exp + clockToleranceMs (60 s) on an instance's clock: the record must last that long.
    const raw = closeLater(await connectAs(server, USERS[0]!));
    const digest = createHash('sha256').update(claims.jti as string).digest('base64url');
    const lastAcceptedS = (claims.exp as number) + 60;
    expect(await raw.pttl(a.redis.key(`jti:${digest}`))).toBeGreaterThan((lastAcceptedS - nowS() - 5) * 1000);
    const replay = await b.logout(request);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body)).toEqual({ error: 'invalid_request', error_description: 'invalid logout_token: "jti" already used' });
  });

  it('a logout naming only the user: the not-before is Keycloak\'s iat, so the tokens it issued before the logout are refused and those after it accepted, on every instance', async () => {
    const [a, b] = [await instance(USERS[1]!), await instance(USERS[1]!)];
    const { claims, request } = await keycloakLogout(45, { sid: undefined, sub: 'alice' });
    const logoutAt = claims.iat as number;
    expect((await a.logout(request)).status).toBe(200);
    await until(() => b.revocations.check({ sub: 'alice', sid: 's-1', iat: logoutAt - 1 }) === 'revoked', 'the logout heard by b');
    // Keycloak's tokens carry its clock: one refreshed 30 s before the logout lies 15 s ahead of the instances' clock.
    expect(b.revocations.check({ sub: 'alice', sid: 's-1', iat: logoutAt - 30 })).toBe('revoked');
    expect(b.revocations.check({ sub: 'alice', sid: 's-2', iat: logoutAt })).toBe('active');
  });
});
