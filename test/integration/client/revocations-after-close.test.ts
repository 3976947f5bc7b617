/**
 * check() on closed revocations: nothing keeps their state current any more (no subscription, no
 * polls), so what they do not know revoked is `stale`, not `active`.
 *
 * Found by a lifecycle review: after app.close(), fastify.kcc.check() kept answering from the
 * frozen index: `active` for a session revoked on another instance 200 ms after the close.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'afterclose', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'afterclose-prod';
const claims = (sid: string) => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 60 });

async function start(failOpen = false): Promise<Revocations> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['subscriber']));
  return closeLater(await Revocations.start(redis, { failOpen }));
}

describe('closed revocations', () => {
  it('answer stale for what they do not know revoked, and revoked for what they do', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    await a.revokeSession('sid-before-close');
    await until(() => b.check(claims('sid-before-close')) === 'revoked', 'the first revocation on b');
    await b.close();

    await a.revokeSession('sid-after-close');
    expect(b.check(claims('sid-after-close'))).toBe('stale');
    expect(b.check(claims('sid-never-revoked'))).toBe('stale');
    expect(b.check(claims('sid-before-close'))).toBe('revoked');
    expect(b.rejects(claims('sid-after-close'))).toBe(true);
    expect(b.stale).toBe(true);
  });

  it('fail-open ones let them through, as any stale check', async () => {
    const a = await start(true);
    await a.close();
    expect(a.check(claims('sid-unknown'))).toBe('stale');
    expect(a.rejects(claims('sid-unknown'))).toBe(false);
  });
});
