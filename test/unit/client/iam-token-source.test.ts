import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { AwsCredentials } from '../../../client/src/index.js';
import { IamTokenSource } from '../../../client/src/iam/token-source.js';
import { fakeClock, MINUTE } from '../../support/fake-clock.js';

const KEY: AwsCredentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const quiet = { warn: () => {}, info: () => {} };

function source(credentials: (options?: { forceRefresh?: boolean }) => Promise<AwsCredentials>, clock = fakeClock(Date.parse('2026-12-01T12:00:00Z'))) {
  const tokens = new IamTokenSource({ cacheName: 'kcc-redis', userId: 'my-app-prod', region: 'eu-west-1', serverless: false, credentials, now: clock.now, refreshAfterMs: 5 * MINUTE, checkIntervalMs: 3_600_000, logger: quiet });
  return { tokens, clock };
}
const dateOf = (token: string) => new URL(`http://${token}`).searchParams.get('X-Amz-Date');

describe('IAM token source', () => {
  it('signs at the current time and never hands out a token in or past its last minute', async () => {
    const { tokens, clock } = source(async () => KEY);
    expect(tokens.current()).toBe('');
    await tokens.refresh();
    expect(dateOf(tokens.current())).toBe('20261201T120000Z');
    clock.advance(14 * MINUTE - 1);
    expect(tokens.current()).not.toBe('');
    clock.advance(1);
    expect(tokens.current()).toBe('');
    await tokens.refresh();
    expect(dateOf(tokens.current())).toBe('20261201T121400Z');
    tokens.stop();
  });

  it('stops handing out a token when the credentials that signed it expire', async () => {
    const clock = fakeClock(Date.parse('2026-12-01T12:00:00Z'));
    const { tokens } = source(async () => ({ ...KEY, sessionToken: 's', expiration: new Date(clock.now() + 3 * MINUTE) }), clock);
    await tokens.refresh();
    clock.advance(2 * MINUTE);
    expect(tokens.current()).toBe('');
    tokens.stop();
  });

  it('shares one signature among concurrent connections, and keeps a valid token when signing fails', async () => {
    let calls = 0;
    let fail = false;
    const { tokens, clock } = source(async () => {
      calls++;
      if (fail) throw new Error('instance metadata service unreachable');
      return KEY;
    });
    await Promise.all([tokens.refresh(), tokens.refresh(), tokens.refresh()]);
    expect(calls).toBe(1);
    const token = tokens.current();
    fail = true;
    await tokens.refresh(); // resolves: the previous token is still valid
    expect(tokens.current()).toBe(token);
    clock.advance(15 * MINUTE);
    await expect(tokens.refresh()).rejects.toThrow(/could not be resolved \(Error: instance metadata service unreachable\)/);
    tokens.stop();
  });

  // An on-call review: each reconnect signs, and each failure was a warning (a reconnect loop every few
  // seconds while the credentials cannot be had). Now the first, then at most one a minute with the
  // count, and one when signing works again.
  it('says a signing failure at once, then at most once a minute with the count since, and its end once', async () => {
    let fail = true;
    const warnings: string[] = [];
    const clock = fakeClock(Date.parse('2026-12-01T12:00:00Z'));
    const tokens = new IamTokenSource({
      cacheName: 'kcc-redis', userId: 'my-app-prod', region: 'eu-west-1', serverless: false, now: clock.now, refreshAfterMs: 5 * MINUTE, checkIntervalMs: 3_600_000,
      credentials: async () => {
        if (fail) throw new Error('instance metadata service unreachable');
        return KEY;
      },
      logger: { warn: (message) => void warnings.push(message), info: () => {} },
    });
    for (let i = 0; i < 5; i++) await tokens.refresh().catch(() => undefined);
    expect(warnings).toEqual([expect.stringMatching(/^signing an ElastiCache IAM auth token failed; connections cannot log in until it works/)]);
    fail = false;
    await tokens.refresh();
    expect(warnings).toEqual([expect.any(String), 'signing ElastiCache IAM auth tokens works again, after 5 failures']);
    tokens.stop();
  });

  it('asks the provider to refresh after the server refused a token', async () => {
    const asked: boolean[] = [];
    const { tokens } = source(async (options) => {
      asked.push(options?.forceRefresh === true);
      return KEY;
    });
    await tokens.refresh();
    tokens.rejected();
    await tokens.refresh();
    await tokens.refresh();
    expect(asked).toEqual([false, true, false]);
    tokens.stop();
  });

  it('gives ioredis a password whose string is the newest token and whose dumps show none', async () => {
    const { tokens } = source(async () => KEY);
    await tokens.refresh();
    expect(String(tokens.password)).toBe(tokens.current());
    expect(`${tokens.password}`).toBe(tokens.current());
    expect(inspect({ password: tokens.password })).toBe('{ password: [IAM auth token] }');
    expect(JSON.stringify({ password: tokens.password })).toBe('{"password":"[IAM auth token]"}');
    expect(inspect(tokens, { depth: 5 })).not.toMatch(/X-Amz-Signature/);
    tokens.stop();
  });
});
