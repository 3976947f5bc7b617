/**
 * Oversized values planted with the app-env's own credentials in the keys revocation-oversized.test.ts
 * does not cover (an attack review): the stored Keycloak not-before push (`keycloak-push:v1`, read
 * with `GET` at every start and by the lost-push check), the key ring (`HMGET` at every start and
 * refresh) and its log's newest entries (`XREVRANGE` at every start). Each was handed over whole: one
 * longer than V8's longest string failed every start in ioredis ("Cannot create a string longer than
 * 0x1fffffe8 characters"), a smaller one was sent to every instance. Now each read checks lengths in
 * a script first. These plant 20 MB (512 MB is too heavy for a test run) and prove that it does not
 * reach the client: the server's count of bytes sent (`INFO stats` `total_net_output_bytes`) grows by
 * far less than the value. Real redis-server, TLS, the stack's ACL users.
 */
import type { Redis } from 'ioredis';
import { createLocalJWKSet } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions, Revocations, createKeycloakPushVerifier } from '../../../client/src/index.js';
import type { KeycloakPushVerifier, VerifiedKeycloakPush } from '../../../client/src/index.js';
import { MAX_STORED_PUSH_BYTES } from '../../../client/src/revocation/admin-action-relay.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { MAX_RING_BYTES } from '../../../client/src/keyring/ring-read.js';
import { closeAfterEach } from '../../support/closing.js';
import { nextEvent, until } from '../../support/events.js';
import { type RealmKey, realmKey, verifiedNotBeforePush } from '../../support/logout-tokens.js';
import { connectAs, kccOptions, serverSentBytes, useTestRedis, withReadOnlyKeys } from '../../support/redis.js';
import { ringKey, storedRing } from '../../support/stored-ring.js';

const server = useTestRedis({ appEnvs: Array.from({ length: 12 }, (_, i) => ({ app: `big${i}`, env: 'prod' })), persistence: 'none' });
let ns = 0;
const closeLater = closeAfterEach();

/** What is planted: 20 MB, far above what any start or refresh of a fixed client sends. */
const HUGE = 20 * 1024 * 1024;
/** What a reader may be sent while the planted value sits in Redis: the value would be 5 times that. */
const SMALL = 4 * 1024 * 1024;
const KEK = 'oversized-test-key-encryption-key-0123456789abcdefghijklmnopqrs';
const FAST: KeyRingOptions = { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256', refreshIntervalMs: 40, lockTtlMs: 2_000 };

interface Namespace {
  readonly user: string;
  readonly key: (name: string) => string;
  /** A client authenticated as the app-env's own user: what the attacker holds. */
  readonly raw: Redis;
  readonly warnings: string[];
}

async function namespace(): Promise<Namespace> {
  const user = `big${ns++}-prod`;
  const raw = closeLater(await connectAs(server, user));
  return { user, raw, key: (name) => `${user}:{${user}}:${name}`, warnings: [] };
}

async function connect(ns: Namespace): Promise<KccRedis> {
  const logger = { warn: (m: string) => void ns.warnings.push(m), info: () => undefined };
  return closeLater(await KccRedis.connect(kccOptions(server, ns.user, { reconnectMaxDelayMs: 100, logger }), ['subscriber']));
}

/** Bytes the server has sent to all its clients so far. */
const sentBytes = () => serverSentBytes(server);

const huge = () => Buffer.alloc(HUGE, 'x');

describe('the stored Keycloak push', () => {
  let key: RealmKey;
  let verifier: KeycloakPushVerifier;
  const now = () => Math.floor(Date.now() / 1000);
  beforeAll(async () => {
    key = await realmKey('realm-1');
    verifier = createKeycloakPushVerifier({ issuer: 'https://sso.example.com/realms/main', clientId: 'shop', jwks: createLocalJWKSet({ keys: [key.publicJwk] }) });
  });
  const verifiedPush = (notBefore: number): Promise<VerifiedKeycloakPush> => verifiedNotBeforePush(key, verifier, notBefore);
  const instance = async (ns: Namespace) => closeLater(await Revocations.start(await connect(ns), { keycloakPushes: verifier }));

  it('20 MB stored there: starts send far less than it, each start refuses it (counted, as a malformed one), and a push relayed afterwards writes over it and reaches the next start', async () => {
    const ns = await namespace();
    await ns.raw.set(ns.key(REVOCATION_KEYS.keycloakPush), huge());
    const before = await sentBytes();
    const [a, b] = [await instance(ns), await instance(ns)];
    expect(await sentBytes() - before).toBeLessThan(SMALL);
    for (const r of [a, b]) expect(r.stats.refused.snapshot).toBe(1);
    expect(await ns.raw.strlen(ns.key(REVOCATION_KEYS.keycloakPush))).toBe(HUGE); // read as unparseable: left for the next relay
    // An honest push: the relay script writes over the oversized value (it counts as no push).
    const setAt = now() - 5;
    await a.applyKeycloakPush(await verifiedPush(setAt));
    expect(await ns.raw.strlen(ns.key(REVOCATION_KEYS.keycloakPush))).toBeLessThan(MAX_STORED_PUSH_BYTES);
    const c = await instance(ns);
    expect(c.stats.refused.snapshot).toBe(0);
    expect(c.check({ sid: 'old', sub: 'u1', iat: setAt - 100 })).toBe('revoked');
  });

  it('20 MB written over the push an instance relayed: its lost-push check sends far less than it and relays the push again', async () => {
    const ns = await namespace();
    const redis = await connect(ns);
    const a = closeLater(await Revocations.start(redis, { keycloakPushes: verifier }));
    const setAt = now() - 5;
    await a.applyKeycloakPush(await verifiedPush(setAt));
    await ns.raw.set(ns.key(REVOCATION_KEYS.keycloakPush), huge());
    const before = await sentBytes();
    // A reconnect runs the lost-writes check, which reads the stored push.
    (redis.client as Redis).disconnect(true);
    await until(() => a.stats.rewrittenAfterLoss > 0, 'the push relayed again', 20_000);
    expect(await sentBytes() - before).toBeLessThan(SMALL);
    expect(await ns.raw.strlen(ns.key(REVOCATION_KEYS.keycloakPush))).toBeLessThan(MAX_STORED_PUSH_BYTES);
    const b = await instance(ns);
    expect(b.check({ sid: 'old', sub: 'u1', iat: setAt - 100 })).toBe('revoked');
  });
});

describe('the key ring', () => {
  const ringInstance = async (ns: Namespace, options: KeyRingOptions = {}) => closeLater(await KeyRing.start(await connect(ns), { ...FAST, ...options }));

  it('a 20 MB ring value, alone: the start sends far less than it and is refused as for a forged ring (malformed, naming the fix); inspect says the same', async () => {
    const ns = await namespace();
    const a = await ringInstance(ns);
    await a.close();
    await ns.raw.hset(ringKey(ns.user), 'value', huge());
    const before = await sentBytes();
    await expect(ringInstance(ns)).rejects.toMatchObject({ code: 'KCC_KEYRING_INVALID', message: expect.stringMatching(/refused: malformed: 20971520 bytes, more than any ring .*DEL /) });
    const inspected = await KeyRing.inspect(await connect(ns), { keyEncryptionKey: KEK, env: {} });
    expect(inspected).toMatchObject({ state: 'refused', reason: 'malformed', message: expect.stringContaining(`(${MAX_RING_BYTES})`) });
    expect(await sentBytes() - before).toBeLessThan(SMALL);
    expect(await ns.raw.hstrlen(ringKey(ns.user), 'value')).toBe(HUGE); // not deleted by a starting instance
  });

  it('inspect, where the user may only read its keys (EVAL refused: the read runs through EVAL_RO): a good ring verified, a 20 MB one refused unread', async () => {
    const ns = await namespace();
    const a = await ringInstance(ns);
    await a.close();
    const redis = await connect(ns);
    const admin = closeLater(await server.admin());
    const inspect = () => withReadOnlyKeys(admin, ns.user, () => KeyRing.inspect(redis, { keyEncryptionKey: KEK, env: {} }));
    expect(await inspect()).toMatchObject({ state: 'verified', generation: 1 });
    await ns.raw.hset(ringKey(ns.user), 'value', huge());
    const before = await sentBytes();
    expect(await inspect()).toMatchObject({ state: 'refused', reason: 'malformed' });
    expect(await sentBytes() - before).toBeLessThan(SMALL);
  });

  it('a 20 MB ring value beside a running instance: its refresh sends far less than it, refuses it (degraded) and writes its ring back; an instance starting then starts', async () => {
    const ns = await namespace();
    const a = await ringInstance(ns);
    const good = (await storedRing(ns.raw, ns.user))!.value;
    const kid = a.signingKey().kid;
    const restored = nextEvent<[{ generation: number; replaced: string }]>(a, 'restored');
    const degraded = nextEvent<[string]>(a, 'degraded');
    const before = await sentBytes();
    await ns.raw.hset(ringKey(ns.user), 'value', huge());
    expect((await degraded)[0]).toMatch(/refused: malformed: 20971520 bytes/);
    expect((await restored)[0]).toMatchObject({ generation: 1, replaced: 'malformed' });
    expect((await storedRing(ns.raw, ns.user))?.value).toBe(good);
    await until(() => a.health().status === 'ready', 'ready again');
    expect(await sentBytes() - before).toBeLessThan(SMALL);
    expect(a.stats.refused.malformed).toBe(1);
    const b = await ringInstance(ns);
    expect(b.signingKey().kid).toBe(kid);
  });

  it('a 20 MB entry as the newest of the ring log: a start sends far less than it, removes it (warned) and still sees the generation logged before it', async () => {
    const ns = await namespace();
    const a = await ringInstance(ns);
    const { kid } = await a.rotate({ immediate: true }); // generation 2, logged
    await a.close();
    const logKey = ns.key('keyring-events');
    const id = await ns.raw.xadd(logKey, '*', 'i', 'junk', 'e', huge());
    const before = await sentBytes();
    const b = await ringInstance(ns);
    expect(await sentBytes() - before).toBeLessThan(SMALL);
    expect(b.signingKey().kid).toBe(kid);
    expect(b.health().generation).toBe(2);
    expect(ns.warnings.filter((w) => /1 entry of the event log .*keyring-events larger than any kcc-redis client writes/.test(w))).toHaveLength(1);
    expect(await ns.raw.xrange(logKey, id!, id!)).toEqual([]);
  });

  it('the ring log read by a start still sees a rolled-back ring under a 20 MB entry: refused, as without it', async () => {
    const ns = await namespace();
    const a = await ringInstance(ns);
    const first = (await storedRing(ns.raw, ns.user))!.value;
    await a.rotate({ immediate: true });
    await a.close();
    await ns.raw.hset(ringKey(ns.user), 'value', first);
    await ns.raw.xadd(ns.key('keyring-events'), '*', 'i', 'junk', 'e', huge());
    const before = await sentBytes();
    await expect(ringInstance(ns)).rejects.toMatchObject({ message: expect.stringMatching(/is generation 1, but its event log shows generation 2 was written/) });
    expect(await sentBytes() - before).toBeLessThan(SMALL);
  });
});
