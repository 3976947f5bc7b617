/**
 * KeyRing.keepPublished: a retired key that a signer cannot move away from (upstream
 * keycloak-connector's token cache signs refresh-token grants with the key of the connector's start)
 * stays in the JWKS past retireGraceMs while an instance keeps it, and every instance serves it, not
 * only the one that keeps it; released, it leaves within a grace; an emergency rotation removes it at
 * once and it is never kept again. Real redis-server (TLS, the app-env's ACL user).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { pause } from '../../../client/src/time-limit.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const USERS = ['keep0-prod', 'keep1-prod'];
const server = useTestRedis({ appEnvs: [{ app: 'keep0', env: 'prod' }, { app: 'keep1', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
/**
 * A rotation signs 0.3 s after it is written; the key before it leaves the JWKS 3 s after that. A kept
 * key is moved on once it has less than 1.5 s left: a loaded machine may delay a read by a second.
 */
const RING = { keyEncryptionKey: 'keep-published-test-key-encryption-key-0123456789abcdef', env: {}, algorithm: 'ES256', refreshIntervalMs: 200, activationDelayMs: 300, retireGraceMs: 3_000 } as const;

const kids = (ring: KeyRing) => ring.jwks().keys.map((key) => key.kid);

async function twoInstances(user: string): Promise<[KeyRing, KeyRing]> {
  const a = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user))), RING));
  const b = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, user))), RING));
  return [a, b];
}

describe('key ring: a key kept published', () => {
  it('stays in every instance\'s JWKS past the grace after a scheduled rotation while one instance keeps it; released, it leaves within a grace', async () => {
    const [a, b] = await twoInstances(USERS[0]!);
    const kept = a.signingKey().kid;
    const release = a.keepPublished(kept);
    const { kid: next } = await b.rotate();
    await until(() => a.signingKey().kid === next && b.signingKey().kid === next, 'the next key signing on both');
    await pause(7_000); // more than two graces
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
});
