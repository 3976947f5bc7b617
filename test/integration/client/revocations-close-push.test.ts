/**
 * A Keycloak not-before push being relayed when Revocations closes (an attack review of the close
 * paths, 2026-12-06). close() waited for revocation writes in flight and retried failed ones, but not
 * for a push's relay: the k_push_not_before route answers 503 after 4 s while the relay goes on, the
 * app closed, and a relay that then failed was dropped without a word (the relay kept nothing once
 * closed): that logout-all reached no other instance, and nobody was told.
 *
 * Real redis-server (TLS, ACL users, no persistence); pushes signed with a test realm key and verified
 * by the client's own verifier.
 */
import { createLocalJWKSet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, type KeycloakPushVerifier, Revocations, type VerifiedKeycloakPush, createKeycloakPushVerifier } from '../../../client/src/index.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { type RealmKey, realmKey, verifiedNotBeforePush } from '../../support/logout-tokens.js';
import { connectAs, interceptCommand, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'closepush', env: 'prod' }, { app: 'closepush2', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const now = () => Math.floor(Date.now() / 1000);

describe('Revocations.close() and a Keycloak push being relayed', () => {
  let key: RealmKey;
  let verifier: KeycloakPushVerifier;
  beforeAll(async () => {
    key = await realmKey('realm-1');
    verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.com/realms/main', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
  });

  const verifiedPush = (notBefore: number): Promise<VerifiedKeycloakPush> => verifiedNotBeforePush(key, verifier, notBefore);

  /** An instance whose relays of a push (the script whose keys hold the stored push) go through `relay`. */
  async function instance(user: string, relay: (send: () => Promise<unknown>) => Promise<unknown>, closeTimeoutMs?: number) {
    const warnings: string[] = [];
    const redis = closeLater(await KccRedis.connect(kccOptions(server, user, { logger: { warn: (m) => void warnings.push(m), info: () => undefined } }), ['subscriber']));
    const revocations = await Revocations.start(redis, { keycloakPushes: verifier, closeTimeoutMs });
    const pushKey = redis.key(REVOCATION_KEYS.keycloakPush);
    for (const method of ['evalsha', 'eval', 'call', 'callBuffer']) interceptCommand(redis, method, (args, send) => (args.includes(pushKey) ? relay(send) : send()));
    return { revocations, warnings, pushKey };
  }

  it('a relay that does not finish: close() waits for it (up to closeTimeoutMs) and says what Redis did not confirm', async () => {
    let parked!: () => void;
    const held = new Promise<void>((resolve) => (parked = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { revocations, warnings } = await instance('closepush-prod', async (send) => {
      parked();
      await released;
      return send();
    }, 1_000);
    const pushing = revocations.applyKeycloakPush(await verifiedPush(now() - 5)).catch(() => undefined);
    await held;
    await revocations.close();
    expect(warnings.filter((w) => w.startsWith('closed with'))).toEqual([
      'closed with 1 revocations Redis did not confirm within closeTimeoutMs (1000 ms; not written, or written without an answer in time): the other instances may not have them (those sessions stay valid there until they expire)',
    ]);
    release();
    await pushing;
  });

  it('a relay that fails while closing: close() tries it once more, and the push reaches Redis', async () => {
    let parked!: () => void;
    const held = new Promise<void>((resolve) => (parked = resolve));
    let fail!: () => void;
    const failing = new Promise<void>((resolve) => (fail = resolve));
    let relays = 0;
    const { revocations, warnings, pushKey } = await instance('closepush2-prod', async (send) => {
      if (++relays > 1) return send();
      parked();
      await failing;
      throw new Error('connection lost (stood in)');
    });
    const pushing = revocations.applyKeycloakPush(await verifiedPush(now() - 5)).catch(() => undefined);
    await held;
    const closing = revocations.close();
    fail();
    await closing;
    await pushing;
    const raw = closeLater(await connectAs(server, 'closepush2-prod'));
    expect(JSON.parse((await raw.get(pushKey))!)).toMatchObject({ v: 1 });
    expect(relays).toBe(2);
    expect(warnings.filter((w) => w.startsWith('closed with'))).toEqual([]);
  });
});
