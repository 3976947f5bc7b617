import { describe, expect, it } from 'vitest';
import type { AwsCredentials, KccConnectionOptions, KccRedis } from '../../../client/src/index.js';
import { until } from '../../support/events.js';
import { HOUR, MINUTE } from '../../support/fake-clock.js';
import { IAM_KEY_1, useIamHarness } from '../../support/iam-harness.js';
import type { IamProxyCredential } from '../../support/iam-proxy.js';

const KEY_1 = IAM_KEY_1;
const KEY_2: IamProxyCredential = { accessKeyId: 'AKIAKCCTESTKEY000002', secretAccessKey: 'kcc/test/secret/two/bbbbbbbbbbbbbbbbbbbbbbbb' };
/** The default `credentialRefreshMinIntervalMs`. */
const REFRESH_MIN_INTERVAL_MS = 1_000;
/** How long a hung provider call may hold a reconnect: the credentials time limit (connectTimeoutMs, 3 s here) and the reconnect. */
const RECOVERY_BOUND_MS = 30_000;

type Provider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>;

/** A provider that answers KEY_1, except the one call after {@link hangNext} is set, which never answers. */
function stallingProvider() {
  const state = { calls: 0, pending: 0, hangNext: false };
  const provider: Provider = async () => {
    state.calls++;
    if (state.hangNext) {
      state.hangNext = false;
      state.pending++;
      return new Promise<AwsCredentials>(() => {});
    }
    return KEY_1;
  };
  return { state, provider };
}

describe('IAM authentication when the credential provider stalls or tokens are refused', () => {
  const iam = useIamHarness({ connectDefaults: { heartbeat: false, connectTimeoutMs: 3_000, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 200 } });
  const connect = (extra: Partial<KccConnectionOptions>, credentials: Provider) => iam.connect(extra, credentials);

  /** PING through run(), failing (instead of hanging the test) with what the client is doing when it does not answer in time. */
  async function pingWithin(redis: KccRedis, state: { calls: number; pending: number }, what: string): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`PING ${what}: no answer within ${RECOVERY_BOUND_MS} ms; provider calls: ${state.calls} (${state.pending} never answered), status: ${redis.client.status}`)),
        RECOVERY_BOUND_MS,
      );
    });
    try {
      return await Promise.race([redis.run((r) => r.ping()), stuck]);
    } finally {
      clearTimeout(timer);
    }
  }


  describe('a credential-provider call that never answers', () => {
    it('holds a reconnect only for the time limit, and the next reconnect asks the provider again', async () => {
      const { state, provider } = stallingProvider();
      const warnings: string[] = [];
      const logger = { warn: (message: string, context?: Record<string, unknown>) => warnings.push(`${message}: ${String(context?.error)}`), info: () => {} };
      // The stand-by token is looked at every 5 minutes (real time, the most iam.checkIntervalMs may be): only the reconnect's own signature runs.
      const redis = await connect({ logger, iam: { checkIntervalMs: 300_000 } }, provider);
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      // The token in hand has expired: the reconnect cannot go ahead without a new signature.
      iam.clock.advance(16 * MINUTE);
      state.hangNext = true;
      iam.proxy.dropAll();
      expect(await pingWithin(redis, state, 'after a reconnect whose provider call never answered')).toBe('PONG');
      expect(state.pending).toBe(1);
      expect(state.calls).toBeGreaterThanOrEqual(3); // connect, the call that never answered, the retry
      expect(iam.proxy.logins.at(-1)!.tokenAgeMs).toBeLessThan(1_000);
      expect(iam.proxy.refusals).toEqual([]);
      expect(warnings).toContainEqual(expect.stringMatching(/^signing an ElastiCache IAM auth token failed; connections cannot log in until it works \(docs\/iam-auth\.md\): KccAwsError: .*credential provider did not answer within \d+ ms; check /));
    });

    it('lets a reconnect go ahead with the still-valid token, and leaves no stuck call behind for the next one', async () => {
      const { state, provider } = stallingProvider();
      const redis = await connect({}, provider);
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      state.hangNext = true;
      iam.proxy.dropAll();
      expect(await pingWithin(redis, state, 'after the provider stalled once')).toBe('PONG');
      // The next reconnect signs with credentials from a new provider call, not the stuck one.
      const calls = state.calls;
      const logins = iam.proxy.logins.length;
      iam.proxy.dropAll();
      expect(await pingWithin(redis, state, 'after a second drop')).toBe('PONG');
      expect(state.calls).toBeGreaterThan(calls);
      expect(iam.proxy.logins.length).toBeGreaterThan(logins);
      expect(state.pending).toBe(1);
      expect(iam.proxy.refusals).toEqual([]);
    });

    it('fails the renewal before the 12-hour limit, which is retried and succeeds', async () => {
      const { state, provider } = stallingProvider();
      const redis = await connect({}, provider);
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      state.hangNext = true;
      iam.clock.advance(11 * HOUR); // past every renewal point; the token in hand has expired
      await until(() => redis.stats.renewalFailures >= 1, 'the renewal waiting on the stalled provider call to fail', RECOVERY_BOUND_MS);
      expect(redis.stats.renewals).toBe(0);
      iam.clock.advance(10 * MINUTE); // past the first retry (1/200 of 12 hours)
      await until(() => redis.stats.renewals >= 1, 'the renewal retried', RECOVERY_BOUND_MS);
      expect(await redis.run((r) => r.ping())).toBe('PONG');
      expect(state.pending).toBe(1);
      expect(iam.proxy.closedForAge).toBe(0);
    });
  });

  it('refused tokens force a credential refresh at most once per credentialRefreshMinIntervalMs, while reconnects go on', async () => {
    const calls: { forced: boolean; at: number }[] = [];
    const provider: Provider = async (options) => {
      calls.push({ forced: options?.forceRefresh === true, at: performance.now() });
      return KEY_1;
    };
    const redis = await connect({}, provider);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    iam.proxy.setCredentials([KEY_2]); // KEY_1 revoked: every token it signs is refused with WRONGPASS
    const before = calls.length;
    iam.proxy.dropAll();
    await until(() => calls.slice(before).filter((call) => call.forced).length >= 3, 'three forced refreshes', RECOVERY_BOUND_MS);
    const refusals = iam.proxy.refusals.length;
    const forced = calls.slice(before).filter((call) => call.forced).map((call) => call.at);
    // performance.now() is read just before the call on both sides: allow a few ms between the two readings.
    for (let i = 1; i < forced.length; i++) expect(forced[i]! - forced[i - 1]!, `gap before forced refresh ${i + 1}`).toBeGreaterThanOrEqual(REFRESH_MIN_INTERVAL_MS - 20);
    // Reconnects were not slowed to the refresh rate: tokens signed from the provider's cached credentials in between.
    expect(refusals).toBeGreaterThan(forced.length);
    expect(calls.slice(before).some((call) => !call.forced)).toBe(true);
    iam.proxy.setCredentials([KEY_1]);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
  });
});
