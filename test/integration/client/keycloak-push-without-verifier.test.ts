/**
 * Instances started without a push verifier (`Revocations.start(redis)`, no `keycloakPushes`) beside
 * the one that received Keycloak's "Set to now": they cannot follow a push downward, but they must
 * not fail open either. They raise their pushed not-before to a relayed push's, never lower it, and
 * refuse a relayed far-future one (found by review: they used to drop relayed pushes). They hold it
 * in memory only: raised by value, it was written to Redis after a reconnect (found by review).
 */
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { KccRedis, type KeycloakPushVerifier, RedisReplayGuard, Revocations, createKeycloakAdminHandlers, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { KEYCLOAK_PUSH_KIND, RELAYED_PUSH_VERSION } from '../../../client/src/revocation/admin-action-relay.js';
import { REVOCATION_BATCH_VERSION, REVOCATION_EVENT, type RevocationBatch } from '../../../client/src/revocation/revocation-event.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { until } from '../../support/events.js';
import { type RealmKey, realmKey } from '../../support/logout-tokens.js';
import { connectAs, kccOptions, startTestRedis } from '../../support/redis.js';

const user = 'noverify-prod';
let server: LocalRedis;
let key: RealmKey;
const open: (KccRedis | Revocations)[] = [];
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  server = await startTestRedis({ appEnvs: [{ app: 'noverify', env: 'prod' }], persistence: 'none' });
  key = await realmKey('realm-1');
});
afterAll(async () => {
  for (const o of open.reverse()) await o.close();
  await server?.stop();
});

async function instance(keycloakPushes?: KeycloakPushVerifier) {
  const redis = await KccRedis.connect(kccOptions(server, user, { reconnectMaxDelayMs: 100 }), ['subscriber']);
  const revocations = await Revocations.start(redis, { keycloakPushes });
  open.push(redis, revocations);
  const admin = createKeycloakAdminHandlers({ enabled: true, issuer: 'https://sso.example.com/realms/main', clientId: 'shop', sink: revocations, replayGuard: new RedisReplayGuard(redis), jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
  return { redis, revocations, admin };
}

const push = (notBefore: number, expiration = now() + 30) =>
  new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore })))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);

it('"Set to now" received by one instance is enforced by the others (their pushed cut-off raised); "Clear" does not lower them', async () => {
  const [a, b] = [await instance(), await instance()];
  const setAt = now();
  expect((await a.admin.pushNotBefore({ contentType: 'text/plain', body: await push(setAt) })).status).toBe(200);
  const old = { sid: 'old-session', sub: 'u1', iat: setAt - 100 };
  expect(a.revocations.check(old)).toBe('revoked');
  await until(() => b.revocations.check(old) === 'revoked', 'the other instance to enforce the push');
  expect(b.revocations.stats.clientNotBefore).toBe(setAt);
  expect(b.revocations.stats.pushedNotBefore).toBe(setAt);

  // A newcomer without a verifier raises to the stored push too.
  const c = await instance();
  expect(c.revocations.check(old)).toBe('revoked');

  // Clear (notBefore 0, sent a second later), received by a: a follows it (verified by its handler);
  // b cannot verify, and stays strict. b's revocations hear each message before a listener added later.
  let heardByB = 0;
  await b.redis.subscribe(b.redis.channel(REVOCATION_KEYS.channel), () => heardByB++);
  const refusedBefore = b.revocations.stats.refused.bus;
  expect((await a.admin.pushNotBefore({ contentType: 'text/plain', body: await push(0, now() + 31) })).status).toBe(200);
  await until(() => a.revocations.check(old) === 'active', 'a to follow Clear');
  await until(() => heardByB === 1, 'b to hear the relayed Clear');
  expect(b.revocations.stats.refused.bus).toBe(refusedBefore);
  expect(b.revocations.stats.clientNotBefore).toBe(setAt);
  expect(b.revocations.check(old)).toBe('revoked');
});

it('a relayed push with a far-future not-before (a Redis writer\'s, signed by anyone) is refused, not raised to', async () => {
  const { redis, revocations } = await instance();
  const refusedBefore = revocations.stats.refused.bus;
  const far = 4_102_444_800; // 2100
  const batch: RevocationBatch = { v: REVOCATION_BATCH_VERSION, revocations: [{ kind: KEYCLOAK_PUSH_KIND, v: RELAYED_PUSH_VERSION, action: await push(far) }] };
  const { json } = encodeEnvelope('attacker', REVOCATION_EVENT, batch, 65_536);
  const raw = await connectAs(server, user);
  try {
    await raw.publish(redis.channel(REVOCATION_KEYS.channel), json);
    await until(() => revocations.stats.refused.bus > refusedBefore, 'the forged push refused');
  } finally {
    raw.disconnect();
  }
  expect(revocations.stats.clientNotBefore).toBeLessThan(far);
  expect(revocations.check({ sid: 'fresh', sub: 'u2', iat: now() })).toBe('active');
});

it('the raised cut-off is not written to Redis after a reconnect: the instances that verify still follow a "Clear"', async () => {
  // From a review: it was raised by value, and the lost-writes check wrote a by-value cut-off Redis
  // lacks back to Redis after a reconnect, as a client-wide one that no verified "Clear" lowers.
  const verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.com/realms/main', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
  const [receiver, holder, follower] = [await instance(), await instance(), await instance(verifier)];
  const raw: Redis = await connectAs(server, user);
  try {
    // Clean slate: no cut-off left by the tests before.
    await raw.del(...[REVOCATION_KEYS.keycloakPush, REVOCATION_KEYS.clientNotBefore].map((name) => holder.redis.key(name)));
    const setAt = now() - 5;
    expect((await receiver.admin.pushNotBefore({ contentType: 'text/plain', body: await push(setAt, now() + 40) })).status).toBe(200);
    const old = { sid: 'old-session-2', sub: 'u3', iat: setAt - 100 };
    await until(() => holder.revocations.check(old) === 'revoked' && follower.revocations.check(old) === 'revoked', 'the push enforced');

    // The positive control: a user-wide not-before the holder has and Redis lost is written back.
    await receiver.revocations.revokeSubject('u4', now() - 1);
    await until(() => holder.revocations.check({ sub: 'u4', iat: now() - 10 }) === 'revoked', 'the holder to have the user-wide not-before');
    await raw.del(holder.redis.key(REVOCATION_KEYS.subjects));
    (holder.redis.client as Redis).disconnect(true);
    await until(() => holder.revocations.stats.rewrittenAfterLoss > 0, 'the lost-writes check after the reconnect', 20_000);
    await holder.revocations.close(); // its rewrites, all started together, have landed
    expect(await raw.zscore(holder.redis.key(REVOCATION_KEYS.subjects), 'u4')).not.toBeNull();
    expect(await raw.get(holder.redis.key(REVOCATION_KEYS.clientNotBefore))).toBeNull();
    expect(holder.revocations.stats.rewrittenAfterLoss).toBe(1);

    // Keycloak's "Clear", received by the same instance: the one that verifies follows it.
    expect((await receiver.admin.pushNotBefore({ contentType: 'text/plain', body: await push(0, now() + 41) })).status).toBe(200);
    await until(() => follower.revocations.check(old) === 'active', 'the verifying instance to follow the Clear');
    expect(receiver.revocations.check(old)).toBe('active');
  } finally {
    raw.disconnect();
  }
});
