/**
 * KeyRing.keepPublished: a retired key that a signer cannot move away from (upstream
 * keycloak-connector's token cache signs refresh-token grants with the key of the connector's start)
 * stays in the JWKS past retireGraceMs while an instance keeps it, and every instance serves it, not
 * only the one that keeps it; released, it leaves within a grace; an emergency rotation removes it at
 * once and it is never kept again. Real redis-server (TLS, the app-env's ACL user).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, type KeyRingOptions } from '../../../client/src/index.js';
import { pause } from '../../../client/src/time-limit.js';
import { Locks } from '../../../client/src/lock.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USERS = ['keep0-prod', 'keep1-prod', 'keep2-prod', 'keep3-prod', 'keep4-prod', 'keep5-prod'];
const server = useTestRedis({ appEnvs: USERS.map((user) => ({ app: user.slice(0, -'-prod'.length), env: 'prod' })), persistence: 'none' });
const closeLater = closeAfterEach();
/**
 * A rotation signs 0.3 s after it is written; the key before it leaves the JWKS 4 s after that. A kept
 * key is moved on once it has less than 2 s left: a loaded machine may delay a read by a second.
 */
const RING = { keyEncryptionKey: 'keep-published-test-key-encryption-key-0123456789abcdef', env: {}, algorithm: 'ES256', refreshIntervalMs: 200, activationDelayMs: 300, retireGraceMs: 4_000 } as const;

const kids = (ring: KeyRing) => ring.jwks().keys.map((key) => key.kid);

async function twoInstances(user: string, options: Partial<KeyRingOptions> = {}): Promise<[KeyRing, KeyRing]> {
  const a = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user))), { ...RING, ...options }));
  const b = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user))), { ...RING, ...options }));
  return [a, b];
}

/** Looks every quarter second for `ms`: whether `kid` was in both JWKS each time. */
async function alwaysIn(kid: string, rings: KeyRing[], ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await pause(250)) if (!rings.every((ring) => kids(ring).includes(kid))) return false;
  return true;
}

describe('key ring: a key kept published', () => {
  it('stays in every instance\'s JWKS past the grace after a scheduled rotation while one instance keeps it; released, it leaves within a grace', async () => {
    const [a, b] = await twoInstances(USERS[0]!);
    const kept = a.signingKey().kid;
    const release = a.keepPublished(kept);
    const { kid: next } = await b.rotate();
    await until(() => a.signingKey().kid === next && b.signingKey().kid === next, 'the next key signing on both');
    expect(await alwaysIn(kept, [a, b], 7_000)).toBe(true); // past the grace, without a gap
    expect([kids(a), kids(b)]).toEqual([[kept, next], [kept, next]]);
    release();
    await until(() => !kids(a).includes(kept) && !kids(b).includes(kept), 'the released key out of both JWKS', 15_000);
  });

  it('an emergency rotation removes a kept key at once, and it is not kept again', async () => {
    const [a, b] = await twoInstances(USERS[1]!);
    const kept = a.signingKey().kid;
    a.keepPublished(kept);
    const { kid: replacement } = await b.rotate({ immediate: true });
    await until(() => kids(a).length === 1 && kids(a)[0] === replacement, 'the emergency rotation adopted');
    await pause(1_000); // five of a's reads, each of which would keep the key if it could
    expect([kids(a), kids(b)]).toEqual([[replacement], [replacement]]);
  });

  // A review of 0b98a8c: the keeping instance looked only at its own periodic read; another instance's
  // rotation left the kept key less time than that read was away, and it left the JWKS.
  it('another instance\'s rotation is looked at when it is adopted, not at the next periodic read', async () => {
    const [a, b] = await twoInstances(USERS[2]!, { refreshIntervalMs: 6_000, retireGraceMs: 2_000 });
    const kept = a.signingKey().kid;
    a.keepPublished(kept);
    const { kid: next } = await b.rotate(); // the kept key would leave 2.3 s from now; a reads every 6 s
    await until(() => kids(a).includes(next), 'the rotation adopted by a');
    expect(await alwaysIn(kept, [a, b], 4_000)).toBe(true);
  });

  // The same review: a kept key that left the JWKS because no instance could move it in time (here
  // the ring's lock held by someone else past the grace) was never published again.
  it('a kept key that left the JWKS while it could not be kept is published again once it can, while the ring still stores it', async () => {
    const [a, b] = await twoInstances(USERS[3]!, { retireGraceMs: 2_000 });
    const kept = a.signingKey().kid;
    a.keepPublished(kept);
    const other = closeLater(await KccRedis.connect(kccOptions(server, USERS[3]!)));
    await b.rotate();
    let lock: Awaited<ReturnType<Locks['acquire']>>;
    for (let i = 0; i < 100 && !lock; i++) lock = await new Locks(other).acquire('keyring-rotation', 4_000);
    expect(lock).toBeDefined(); // held past the grace: no instance can move the kept key
    await until(() => !kids(a).includes(kept) && !kids(b).includes(kept), 'the kept key out of both JWKS', 15_000);
    await lock!.release();
    await until(() => kids(a).includes(kept) && kids(b).includes(kept), 'the kept key published again on both', 15_000);
  });

  // A review of 5720630: publishing one kept key again rewrote the whole ring through the re-encryption,
  // which drops every key out of the JWKS: another kept key that had left it too was dropped for good.
  it('two kept keys that both left the JWKS (kept by two instances) are both published again', async () => {
    const [a, b] = await twoInstances(USERS[4]!, { retireGraceMs: 2_000 });
    const other = closeLater(await KccRedis.connect(kccOptions(server, USERS[4]!)));
    const first = a.signingKey().kid;
    a.keepPublished(first); // a connector started on the first key
    const { kid: second } = await a.rotate();
    await until(() => a.signingKey().kid === second && b.signingKey().kid === second, 'the second key signing on both');
    b.keepPublished(second); // another connector, on the other instance, started on the second
    const { kid: third } = await a.rotate();
    await until(() => a.signingKey().kid === third && b.signingKey().kid === third, 'the third key signing on both');
    let lock: Awaited<ReturnType<Locks['acquire']>>;
    for (let i = 0; i < 200 && !lock; i++) lock = await new Locks(other).acquire('keyring-rotation', 6_000);
    expect(lock).toBeDefined(); // held past the grace: neither key can be moved on
    await until(() => [a, b].every((ring) => !kids(ring).includes(first) && !kids(ring).includes(second)), 'both kept keys out of both JWKS', 15_000);
    await lock!.release();
    await until(() => [a, b].every((ring) => kids(ring).includes(first) && kids(ring).includes(second)), 'both kept keys published again on both', 15_000);
  });

  // A review of a814841: a kept key found under a key-encryption key not held (the key source briefly
  // without the previous one) was marked for good, and left the JWKS once due although a rewrite had
  // moved it under the current key meanwhile. Whether it can be kept is judged at each look.
  it('a kept key under a key-encryption key briefly not held is kept again once it is held (or the key was moved under the current one)', async () => {
    const [first, second] = ['keep-kek-first-0123456789abcdef-0123456789abcdef', 'keep-kek-second-0123456789abcdef-0123456789abcdef'];
    let material: { kek: string; previous?: string[] } = { kek: first };
    const a = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USERS[5]!, { logger: { warn: () => undefined, info: () => undefined } }))), {
      keyEncryptionKeyProvider: async () => material, keyEncryptionKeyRefreshIntervalMs: 300,
      env: {}, algorithm: 'ES256', refreshIntervalMs: 200, activationDelayMs: 300, retireGraceMs: 14_000,
    }));
    const keeper = (a as unknown as { keeper: { cannotKeep(kid: string): boolean } }).keeper;
    const kept = a.signingKey().kid;
    a.keepPublished(kept);
    const firstFingerprint = a.toJSON().kek;
    const rotatedAt = Date.now();
    await a.rotate(); // the kept key leaves the JWKS 14.3 s from now unless kept; due for keeping after 7.3 s
    material = { kek: second }; // the source without the first key for a while
    await until(() => a.toJSON().kek !== firstFingerprint, 'the second key current, the first not held', 5_000);
    await until(() => Date.now() > rotatedAt + 8_000, 'the kept key due', 10_000);
    a.keepPublished(kept)(); // a look now (a second connector starting on it, a retry): it cannot keep it
    await until(() => keeper.cannotKeep(kept), 'the kept key found beyond keeping', 3_000);
    material = { kek: second, previous: [first] }; // the first key back: the ring is rewritten under the second
    await until(() => !keeper.cannotKeep(kept), 'the kept key keepable again', 8_000);
    await pause(Math.max(0, rotatedAt + 16_000 - Date.now())); // past the time it would have left
    expect(kids(a)).toContain(kept);
  });
});
