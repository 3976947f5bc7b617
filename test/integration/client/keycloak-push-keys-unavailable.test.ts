/**
 * A Keycloak "Set to now" relayed by one instance while another instance cannot fetch the realm's
 * keys (Keycloak or the route to it down; jose's cached key set expires after 10 minutes). The
 * other instance cannot verify the push, but it must not fail open meanwhile: it raises its
 * not-before by value, as an instance without a verifier does, and follows the verified push once
 * the keys are back. (Found by review: it dropped the push until the keys came back and stayed
 * fresh, answering 'active' for every token the push cut off; an instance started meanwhile too.)
 */
import { randomUUID } from 'node:crypto';
import { CompactSign, createLocalJWKSet } from 'jose';
import { expect, it } from 'vitest';
import { KccRedis, Revocations, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { realmKey } from '../../support/logout-tokens.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'pushkeys', env: 'prod' }], persistence: 'none' });
const user = 'pushkeys-prod';
const closeLater = closeAfterEach();
const issuer = 'https://sso.example.com/realms/main';
const now = () => Math.floor(Date.now() / 1000);

it('an instance that cannot fetch the realm keys raises its not-before by value, then follows the verified push', async () => {
  const key = await realmKey('realm-1');
  const local = createLocalJWKSet({ keys: [key.publicJwk] });
  const working = createKeycloakPushVerifier({ issuer, clientId: 'shop', jwks: local });
  let keysDown = true;
  const flaky = createKeycloakPushVerifier({
    issuer,
    clientId: 'shop',
    jwks: async (header, token) => {
      if (keysDown) throw new Error('fetch failed: connect ECONNREFUSED');
      return local(header, token);
    },
  });
  const start = async (keycloakPushes: typeof working) =>
    closeLater(await Revocations.start(closeLater(await KccRedis.connect(kccOptions(server, user), ['subscriber'])), { keycloakPushes, maxStalenessMs: 600 }));
  const relaying = await start(working);
  const cutOff = await start(flaky);

  const setAt = now() - 10;
  const signed = await new CompactSign(Buffer.from(JSON.stringify({ id: randomUUID(), expiration: now() + 30, resource: 'shop', action: 'PUSH_NOT_BEFORE', notBefore: setAt })))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
  const verdict = await working.verify(signed);
  if (!verdict.ok) throw new Error(`the push was refused: ${verdict.reason}`);
  await relaying.applyKeycloakPush(verdict.push);
  const old = { sid: 'old-session', sub: 'u1', iat: setAt - 60 };
  expect(relaying.check(old)).toBe('revoked');

  // Over the bus: raised by value, not refused, not yet the verified push.
  await until(() => cutOff.check(old) === 'revoked', 'the instance without the keys to enforce the push');
  expect(cutOff.stats.clientNotBefore).toBe(setAt);
  expect(cutOff.stats.pushedNotBefore).toBe(0);
  expect(cutOff.stats.refused.bus).toBe(0);
  // From the stored push: an instance started while the keys are still down.
  const newcomer = await start(flaky);
  expect(newcomer.check(old)).toBe('revoked');
  expect(newcomer.check({ sid: 'new-session', sub: 'u2', iat: now() })).toBe('active');

  // Keys back: the next poll reads the stored push again and applies it verified.
  keysDown = false;
  await until(() => cutOff.stats.pushedNotBefore === setAt && newcomer.stats.pushedNotBefore === setAt, 'both to apply the verified push');
  expect(cutOff.check(old)).toBe('revoked');
});
