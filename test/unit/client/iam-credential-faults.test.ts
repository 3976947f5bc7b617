import { describe, expect, it, vi } from 'vitest';
import { type AwsCredentials, KccAwsError } from '../../../client/src/index.js';
import { resolveIamAuth } from '../../../client/src/iam/resolve-iam-options.js';
import { IamTokenSource } from '../../../client/src/iam/token-source.js';
import { fakeClock, MINUTE } from '../../support/fake-clock.js';

const KEY: AwsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const quiet = { warn: () => {}, info: () => {} };

type Provider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>;

function source(credentials: Provider, limits: { credentialsTimeoutMs?: number; credentialRefreshMinIntervalMs?: number } = {}) {
  const clock = fakeClock(Date.parse('2026-12-01T12:00:00Z'));
  const tokens = new IamTokenSource({
    cacheName: 'kcc-redis',
    userId: 'my-app-prod',
    region: 'eu-west-1',
    serverless: false,
    credentials,
    now: clock.now,
    refreshAfterMs: 5 * MINUTE,
    checkIntervalMs: 3_600_000,
    logger: quiet,
    ...limits,
  });
  return { tokens, clock };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('IAM token source: a credential provider that does not answer', () => {
  it('fails the signature after credentialsTimeoutMs, and the next one asks the provider again', async () => {
    let calls = 0;
    const { tokens } = source(
      async () => {
        calls++;
        return calls === 1 ? new Promise<AwsCredentials>(() => {}) : KEY;
      },
      { credentialsTimeoutMs: 50 },
    );
    const first = tokens.refresh();
    const joined = tokens.refresh(); // shares the stuck call
    for (const waiting of [first, joined]) {
      const error = await waiting.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KccAwsError);
      expect((error as Error).message).toMatch(/the credential provider did not answer within 50 ms; check .*instance metadata service/);
    }
    expect(tokens.current()).toBe('');
    await tokens.refresh();
    expect(calls).toBe(2);
    expect(tokens.current()).toMatch(/^kcc-redis\/\?Action=connect/);
    tokens.stop();
  });

  it('resolves with the previous token when it is still valid', async () => {
    let hang = false;
    const { tokens } = source(async () => (hang ? new Promise<AwsCredentials>(() => {}) : KEY), { credentialsTimeoutMs: 50 });
    await tokens.refresh();
    const token = tokens.current();
    hang = true;
    await tokens.refresh();
    expect(tokens.current()).toBe(token);
    tokens.stop();
  });

  it('ignores the late answer of a call it gave up on, even a rejection', async () => {
    let late: ((error: Error) => void) | undefined;
    let calls = 0;
    const { tokens } = source(
      async () => {
        calls++;
        return calls === 1 ? new Promise<AwsCredentials>((_, reject) => (late = reject)) : KEY;
      },
      { credentialsTimeoutMs: 50 },
    );
    await expect(tokens.refresh()).rejects.toThrow(/did not answer within 50 ms/);
    await tokens.refresh();
    const token = tokens.current();
    late!(new Error('the instance metadata service answered at last'));
    await sleep(0);
    expect(tokens.current()).toBe(token);
    tokens.stop();
  });
});

describe('IAM token source: forced credential refreshes after refused tokens', () => {
  it('forces at most once per credentialRefreshMinIntervalMs; signatures in between use the cached credentials', async () => {
    const asked: boolean[] = [];
    const { tokens } = source(
      async (options) => {
        asked.push(options?.forceRefresh === true);
        return KEY;
      },
      { credentialRefreshMinIntervalMs: 60_000 },
    );
    await tokens.refresh();
    for (let attempt = 0; attempt < 5; attempt++) {
      tokens.rejected();
      await tokens.refresh();
    }
    expect(asked).toEqual([false, true, false, false, false, false]);
    tokens.stop();
  });

  it('forces again once the interval has passed, for a refusal before it ended', async () => {
    const asked: boolean[] = [];
    const { tokens } = source(
      async (options) => {
        asked.push(options?.forceRefresh === true);
        return KEY;
      },
      { credentialRefreshMinIntervalMs: 60_000 },
    );
    // The interval is measured on performance.now(): stepped here, so a loaded machine cannot make
    // "too soon" come late.
    let monotonicMs = 1_000_000;
    const monotonic = vi.spyOn(performance, 'now').mockImplementation(() => monotonicMs);
    try {
      tokens.rejected();
      await tokens.refresh();
      tokens.rejected();
      monotonicMs += 59_999;
      await tokens.refresh(); // too soon: cached credentials, the refresh still owed
      monotonicMs += 1;
      await tokens.refresh();
      await tokens.refresh();
      expect(asked).toEqual([true, false, true, false]);
    } finally {
      monotonic.mockRestore();
      tokens.stop();
    }
  });

  it('keeps a forced refresh owed when it failed', async () => {
    const asked: boolean[] = [];
    const { tokens } = source(
      async (options) => {
        asked.push(options?.forceRefresh === true);
        if (asked.length === 2) throw new Error('STS throttled the request');
        return KEY;
      },
      { credentialRefreshMinIntervalMs: 30 },
    );
    await tokens.refresh();
    tokens.rejected();
    await tokens.refresh(); // fails; the first token is still valid
    await sleep(40);
    await tokens.refresh();
    expect(asked).toEqual([false, true, true]);
    tokens.stop();
  });
});

describe('IAM settings: credential limits', () => {
  const inputs = { username: 'my-app-prod', region: 'eu-west-1', replicationGroupId: 'kcc-redis', serverless: false, passwordSettings: [] };

  it.each([
    ['the defaults', {}, { credentialsTimeoutMs: 10_000, credentialRefreshMinIntervalMs: 1_000 }],
    ['a shorter connectTimeoutMs', { connectTimeoutMs: 3_000, credentialRefreshMinIntervalMs: 250 }, { credentialsTimeoutMs: 3_000, credentialRefreshMinIntervalMs: 250 }],
    ['a longer connectTimeoutMs: a slow source that answers gets it all', { connectTimeoutMs: 60_000 }, { credentialsTimeoutMs: 60_000, credentialRefreshMinIntervalMs: 1_000 }],
  ])('%s', (_, connection, expected) => {
    const problems: string[] = [];
    expect(resolveIamAuth({}, {}, { ...inputs, ...connection }, problems)).toMatchObject(expected);
    expect(problems).toEqual([]);
  });
});
