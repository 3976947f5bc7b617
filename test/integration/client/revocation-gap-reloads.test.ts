/**
 * A gap in the revocation log (entries gone before this instance read them) makes it reload the
 * whole stored state. A Redis writer holding the app's credentials who deletes the log and appends to
 * it again, poll after poll, made every instance do so at every poll (a review), a load on a server
 * other app-envs may share. Now reloads in a burst wait longer and longer (GapReloads); the instance
 * stays fresh meanwhile (going stale handed the attacker every login), and the reload it owes still
 * runs, so nothing stored is lost.
 *
 * Real redis-server (TLS, the stack's ACL users, no persistence); the attacker holds the app-env's own
 * credentials.
 */
import { describe, expect, it } from 'vitest';
import { KccRedis, Revocations } from '../../../client/src/index.js';
import { encodeEnvelope } from '../../../client/src/envelope.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { connectAs, kccOptions, useTestRedis } from '../../support/redis.js';

const server = useTestRedis({ appEnvs: [{ app: 'gaps', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();
const USER = 'gaps-prod';
/** Gaps made, a poll apart. */
const ROUNDS = 10;
const key = (name: string) => `${USER}:{${USER}}:${name}`;

/** A log entry revoking one session, as a writer appends it. */
function sessionEntry(sid: string): string[] {
  const { envelope, json } = encodeEnvelope('elsewhere', 'revocation', { v: 1, revocations: [{ kind: 'session', sid, exp: Date.now() + 600_000 }] }, 64 * 1024);
  return ['i', envelope.id, 'e', json];
}

describe('gaps in the revocation log, again and again', () => {
  it('reloads of the stored state wait longer in a burst; the instance stays fresh; the reload it owes still runs', async () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => void warnings.push(m), info: () => undefined };
    const redis = closeLater(await KccRedis.connect(kccOptions(server, USER, { reconnectMaxDelayMs: 100, logger }), ['subscriber']));
    // Polls every 333 ms.
    const reader = closeLater(await Revocations.start(redis, { maxStalenessMs: 1_000 }));
    let staleSeen = false;
    reader.on('stale', () => (staleSeen = true));
    const attacker = closeLater(await connectAs(server, USER));

    // The attack: the log deleted and appended to again, a poll apart.
    const polls = () => reader.stats.logPolls.confirmed + reader.stats.logPolls.read;
    const gap = async (round: number) => {
      await attacker.eval("redis.call('DEL', KEYS[1]) return redis.call('XADD', KEYS[1], '*', unpack(ARGV))", 1, key(REVOCATION_KEYS.log), ...sessionEntry(`attack-${round}`));
      const from = polls();
      await until(() => polls() > from + 1, 'a poll after the gap');
    };
    for (let round = 0; round < ROUNDS - 1; round++) await gap(round);
    // Meanwhile a revocation stored (its log entry gone with the log before the last gap, its message not heard): only a reload brings it.
    await attacker.zadd(key(REVOCATION_KEYS.sessions), Date.now() + 600_000, 'only-in-the-stored-state');
    await gap(ROUNDS - 1);

    const { done, deferred } = reader.stats.gapReloads;
    // Two at once, then one 5 s later: a fourth would need 15 s, far more than these polls take.
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThanOrEqual(3);
    expect(deferred).toBeGreaterThanOrEqual(1);
    // Each entry the log brought was applied all the same.
    expect(reader.check({ sid: `attack-${ROUNDS - 1}` })).toBe('revoked');
    // Its polls counted as contact while it owed a reload (the first version let it go stale: the attacker's lever on every login).
    expect(staleSeen).toBe(false);
    // Said once per reload owed (after the second reload, and after the third if a poll deferred after it), not per poll deferred.
    const said = warnings.filter((line) => line.includes('lost entries again'));
    expect(said.length).toBeGreaterThanOrEqual(1);
    expect(said.length).toBeLessThanOrEqual(done - 1);
    expect(said[0]).toMatch(/^the revocation log in Redis lost entries again \(2 reloads of the stored state so far\).*The next reload runs in \d+ s/);

    // The attack over, the reload the last gap owes runs (at once, or within 10 s here), with what was stored.
    await until(() => reader.check({ sid: 'only-in-the-stored-state' }) === 'revoked', 'the owed reload ran', 20_000);
    expect(reader.stats.gapReloads.done).toBeLessThanOrEqual(done + 1);
  });
});
