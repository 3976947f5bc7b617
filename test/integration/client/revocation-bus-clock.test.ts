/**
 * A revocation message applied on an instance whose clock runs behind the Redis server's (a review
 * of 9227a7e): a user-wide not-before was judged "in the future" by this host's clock alone, so an
 * instance 120 s behind (a VM resumed after a pause, a host before NTP's first step) refused honest
 * ones from pub/sub and from the log, where the writer's script had judged them by the server's
 * clock. Now it judges by the later of this host's clock and the server's as last measured; a
 * forged one far ahead of both is still refused.
 *
 * A real TLS redis-server with the stack's ACL users; the message is published with the app's
 * credentials, as a writer's script publishes it; this host's clock is put behind by replacing Date.now.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { encodeEnvelope, MAX_MESSAGE_BYTES } from '../../../client/src/envelope.js';
import { REVOCATION_BATCH_VERSION, REVOCATION_EVENT } from '../../../client/src/revocation/revocation-event.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const USER = 'busclock-prod';
const server = useTestRedis({ appEnvs: [{ app: 'busclock', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const realNow = Date.now.bind(Date);
const nowS = () => Math.floor(realNow() / 1000);

afterEach(() => void vi.restoreAllMocks());

describe('a revocation message on an instance whose clock runs 120 s behind the server\'s', () => {
  it('applies an honest user-wide not-before, and still refuses one a day ahead', async () => {
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['subscriber']));
    const revocations = closeLater(await Revocations.start(redis));
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 120_000);
    redis.serverClock.measureSoon();
    await redis.serverClock.now(); // measured as the heartbeat does every minute: the server is 120 s ahead

    const raw = closeLater(await connectAs(server, USER));
    const publish = (sub: string, nbf: number) => {
      const { json } = encodeEnvelope('another-instance', REVOCATION_EVENT, { v: REVOCATION_BATCH_VERSION, revocations: [{ kind: 'subject', sub, nbf }] }, MAX_MESSAGE_BYTES);
      return raw.publish(redis.channel(REVOCATION_KEYS.channel), json);
    };
    const logoutAt = nowS();
    await publish('alice', logoutAt);
    await until(() => revocations.stats.applied + revocations.stats.refused.bus > 0, 'the message handled');
    expect(revocations.stats.refused.bus).toBe(0);
    expect(revocations.check({ sub: 'alice', sid: 'a-1', iat: logoutAt - 60 })).toBe('revoked');

    await publish('mallory', logoutAt + 86_400);
    await until(() => revocations.stats.refused.bus > 0, 'the forged message refused');
    expect(revocations.check({ sub: 'mallory', sid: 'm-1', iat: logoutAt })).toBe('active');
  });
});
