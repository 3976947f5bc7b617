/**
 * `sessionMaxLifetimeMs` is bounded at ten years. Found by an audit (2026-12-03): past about 56 years
 * the log's trim position (now − lifetime) fell before 1970, and Redis refused every write after the
 * state was stored: nothing appended or published, other instances never learned the logout.
 */
import { describe, expect, it } from 'vitest';
import { KccConfigError, KccRedis, Revocations } from '@kcc-redis/client';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';

const TEN_YEARS_MS = 10 * 365 * 24 * 3_600_000;
const server = useTestRedis({ appEnvs: [{ app: 'lifetime', env: 'prod' }] });
const closeLater = closeAfterEach();

const connect = async () => closeLater(await KccRedis.connect(kccOptions(server, 'lifetime-prod'), ['subscriber']));

describe('revocations: the longest session lifetime', () => {
  it('a lifetime over ten years is refused at start, naming the option and its range', async () => {
    const redis = await connect();
    const start = Revocations.start(redis, { sessionMaxLifetimeMs: 100 * 365 * 24 * 3_600_000 });
    await expect(start).rejects.toThrow(KccConfigError);
    await expect(start).rejects.toThrow(`sessionMaxLifetimeMs: 3153600000000 must be a whole number of milliseconds from 1 to ${TEN_YEARS_MS}`);
  });

  it('ten years works end to end: the logout is stored, logged and heard', async () => {
    const options = { sessionMaxLifetimeMs: TEN_YEARS_MS, maxStalenessMs: 300 };
    const a = closeLater(await Revocations.start(await connect(), options));
    const b = closeLater(await Revocations.start(await connect(), options));
    await a.revokeSession('logged-out');
    await until(() => b.check({ sid: 'logged-out' }) === 'revoked', 'the logout on b');
    const late = closeLater(await Revocations.start(await connect(), options));
    expect(late.check({ sid: 'logged-out' })).toBe('revoked');
  });
});
