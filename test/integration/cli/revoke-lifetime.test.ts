/**
 * `kcc-redis revoke` and the session lifetime its Revocations run with, on the real redis-server of
 * `kcc-redis local`: the lifetime decides what the writer prunes (user-wide not-befores older than
 * now − lifetime, on a fresh writer's first batch) and how long the client-wide not-before lives.
 * Instances may use a longer lifetime than the client's default (10 h): --sub and --all-before must
 * not cut their records short, and --sid takes the instances' value, given by the operator. And a
 * revocation Redis does not take (or a Redis out of reach) is said to be NOT stored, through the
 * CLI's own output; the checks that need Redis run before the question; and a stricter not-before
 * that stood is reported as the one in force.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { namespacedKey } from '../../../client/src/contract/naming.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { runLocal } from '../../../local/run-local.js';
import { isoTime } from '../../../cli/table.js';
import { runCliInProcess } from '../../support/cli.js';
import { withReadOnlyKeys } from '../../support/redis.js';

const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }] });
const HOUR_MS = 3_600_000;

describe('kcc-redis revoke and the session lifetime', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  const target = () => ['--local-dir', dir, '--app', 'shop', '--env', 'dev', '--yes'];
  const key = (name: string) => namespacedKey('shop-dev:', name);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-revoke-lifetime-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    admin = await server.admin();
  }, 90_000);
  afterEach(async () => {
    vi.restoreAllMocks();
    await admin.del(key(REVOCATION_KEYS.sessions), key(REVOCATION_KEYS.subjects), key(REVOCATION_KEYS.clientNotBefore), key(REVOCATION_KEYS.log), key(REVOCATION_KEYS.lifetimes));
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('--sub keeps a user-wide not-before older than 10 h (written by instances with a 24 h lifetime); --all-before does not expire in 10 h', async () => {
    // As an instance configured for 24 h stores it: 11 h old, still in force there.
    const elevenHoursAgoS = Math.floor((Date.now() - 11 * HOUR_MS) / 1000);
    await admin.zadd(key(REVOCATION_KEYS.subjects), elevenHoursAgoS, 'victim');

    const sub = await runCliInProcess(['revoke', ...target(), '--sub', 'other']);
    expect(sub.stderr).toBe('');
    expect(sub.code).toBe(0);
    // It accepts no session, so it declares no lifetime: ten years declared would keep the app-env's
    // state that long for the next five minutes (session-lifetimes.ts).
    expect(await admin.exists(key(REVOCATION_KEYS.lifetimes))).toBe(0);
    expect(await admin.zscore(key(REVOCATION_KEYS.subjects), 'victim')).toBe(String(elevenHoursAgoS));
    expect(await admin.zscore(key(REVOCATION_KEYS.subjects), 'other')).not.toBeNull();

    const all = await runCliInProcess(['revoke', ...target(), '--all-before', 'now']);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(await admin.get(key(REVOCATION_KEYS.clientNotBefore))).not.toBeNull();
    // Without an expiry (volatile-* eviction takes only keys with one); pruned once no token it covers can live.
    expect(await admin.pttl(key(REVOCATION_KEYS.clientNotBefore))).toBe(-1);
    expect(await admin.zscore(key(REVOCATION_KEYS.subjects), 'victim')).toBe(String(elevenHoursAgoS));
  });

  it('--sid without --session-max-lifetime-ms is a usage error that changes nothing; with it, the session is kept that long', async () => {
    const without = await runCliInProcess(['revoke', ...target(), '--sid', 'no-lifetime']);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain("--sid needs --session-max-lifetime-ms <n>: give your instances' sessionMaxLifetimeMs");
    expect(without.stderr).toContain('the longest, if they differ');
    expect(await admin.exists(key(REVOCATION_KEYS.sessions), key(REVOCATION_KEYS.log))).toBe(0);

    const withLifetime = await runCliInProcess(['revoke', ...target(), '--sid', 'day', '--session-max-lifetime-ms', String(24 * HOUR_MS)]);
    expect(withLifetime.stderr).toBe('');
    expect(withLifetime.code).toBe(0);
    const expiresAt = Number(await admin.zscore(key(REVOCATION_KEYS.sessions), 'day'));
    expect(expiresAt).toBeGreaterThan(Date.now() + 23 * HOUR_MS);

    const misplaced = await runCliInProcess(['revoke', ...target(), '--sub', 'x', '--session-max-lifetime-ms', '1']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--session-max-lifetime-ms goes with --sid only');
    expect(await admin.zscore(key(REVOCATION_KEYS.subjects), 'x')).toBeNull();
  });

  it('--session-max-lifetime-ms in seconds by mistake, or shorter than a running instance declares, is refused and changes nothing (it pruned other users\' not-befores)', async () => {
    const oneMinuteAgoS = Math.floor((Date.now() - 60_000) / 1000);
    await admin.zadd(key(REVOCATION_KEYS.subjects), oneMinuteAgoS, 'victim');
    const slip = await runCliInProcess(['revoke', ...target(), '--sid', 's1', '--session-max-lifetime-ms', '36000']);
    expect(slip.code).toBe(2);
    expect(slip.stderr).toContain('--session-max-lifetime-ms 36000 is 36 s: a session lifetime is given in milliseconds');
    // A running instance declares 10 h (as session-lifetimes.ts stores it: by the declaration's time).
    await admin.zadd(key(REVOCATION_KEYS.lifetimes), Date.now(), String(10 * HOUR_MS));
    const shorter = await runCliInProcess(['revoke', ...target(), '--sid', 's1', '--session-max-lifetime-ms', String(HOUR_MS)]);
    expect(shorter.code).toBe(2);
    expect(shorter.stderr).toContain(`is shorter than the ${10 * HOUR_MS} ms a running instance declares`);
    expect(await admin.zscore(key(REVOCATION_KEYS.subjects), 'victim')).toBe(String(oneMinuteAgoS));
    expect(await admin.exists(key(REVOCATION_KEYS.sessions), key(REVOCATION_KEYS.log))).toBe(0);
  });

  it.each([
    ['ahead by 120 s (its "now" was past what Redis keeps: nothing stored, "done" said)', 120_000],
    ['behind by 300 s (its "now" left the tokens issued since valid)', -300_000],
  ])('an operator clock %s: refused, nothing written', async (_what, skewMs) => {
    const real = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => real() + skewMs);
    const all = await runCliInProcess(['revoke', ...target(), '--all-before', 'now']);
    vi.restoreAllMocks();
    expect(all.code).toBe(2);
    expect(all.stderr).toContain(`the revocation was NOT stored: this machine's clock is ${Math.abs(skewMs) / 1000} s ${skewMs > 0 ? 'ahead of' : 'behind'} Redis' clock`);
    expect(await admin.exists(key(REVOCATION_KEYS.clientNotBefore), key(REVOCATION_KEYS.log))).toBe(0);
  });

  // An attack review: the lifetime check read the whole revocation state, so a key of the wrong type planted
  // by a holder of the app-env's credentials made every --sid exit 2 ("NOT stored … once Redis is in reach").
  it('--sid goes through a key of the wrong type in the state or the log (the writer replaces it); the declarations key wrong-typed counts as none declared', async () => {
    for (const planted of [REVOCATION_KEYS.sessions, REVOCATION_KEYS.log, REVOCATION_KEYS.lifetimes]) {
      await admin.set(key(planted), 'planted');
      const sid = await runCliInProcess(['revoke', ...target(), '--sid', `stolen-${planted}`, '--session-max-lifetime-ms', String(10 * HOUR_MS)]);
      expect(sid.code, `${planted}: ${sid.stderr}`).toBe(0);
      expect(Number(await admin.zscore(key(REVOCATION_KEYS.sessions), `stolen-${planted}`))).toBeGreaterThan(Date.now());
      await admin.del(key(planted));
    }
  });

  it('an operator clock a little off: "now" is Redis\' time, rounded up to the next second', async () => {
    const real = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => real() + 20_000);
    const all = await runCliInProcess(['revoke', ...target(), '--all-before', 'now', '--json']);
    const user = await runCliInProcess(['revoke', ...target(), '--sub', 'skewed']);
    vi.restoreAllMocks();
    expect([all.code, user.code]).toEqual([0, 0]);
    const [seconds, micros] = (await admin.time()).map(Number) as [number, number];
    const written = (JSON.parse(all.stdout) as { notBefore: number }).notBefore;
    // Not this machine's clock, 20 s ahead: Redis', a moment before the check above, rounded up.
    expect(written).toBeGreaterThanOrEqual(seconds - 2);
    expect(written).toBeLessThanOrEqual(seconds + (micros > 0 ? 1 : 0));
    expect(Number(await admin.get(key(REVOCATION_KEYS.clientNotBefore)))).toBe(written);
    expect(Number(await admin.zscore(key(REVOCATION_KEYS.subjects), 'skewed'))).toBeLessThanOrEqual(seconds + 1);
  });

  it('a revocation Redis refuses to store: "NOT stored", exit 2, and no client warning about retries (nor on the console)', async () => {
    const consoleWarn = vi.spyOn(console, 'warn');
    // Reads still work (the writer's start), writes are refused: the app user's keys made read-only.
    const result = await withReadOnlyKeys(admin, 'shop-dev', () => runCliInProcess(['revoke', ...target(), '--sid', 'refused', '--session-max-lifetime-ms', String(10 * HOUR_MS)]));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^kcc-redis revoke: shop-dev: the revocation was NOT stored: writing it to Redis failed \(ReplyError: NOPERM .*\); no instance has it\./);
    expect(result.stderr).not.toMatch(/written again|did not take/);
    expect(result.stdout).toBe('');
    expect(consoleWarn).not.toHaveBeenCalled();
    expect(await admin.zscore(key(REVOCATION_KEYS.sessions), 'refused')).toBeNull();
  });

  it('Redis out of reach: "NOT stored", exit 2, on stderr and in the JSON error (it said only that the connection failed)', async () => {
    const env = { KCC_REDIS_URL: 'rediss://127.0.0.1:1', KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: 'x'.repeat(64) };
    const argv = ['revoke', '--app', 'shop', '--env', 'dev', '--sub', 'victim', '--yes'];
    const result = await runCliInProcess(argv, { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^kcc-redis revoke: shop-dev: the revocation was NOT stored: commands connection to 127\.0\.0\.1:1 failed: .*; no instance has it\. Run the command again once Redis is in reach\.$/);
    const json = await runCliInProcess([...argv, '--json'], { env });
    expect(json.json()).toEqual({ v: 1, command: 'revoke', exitCode: 2, error: expect.stringMatching(/^shop-dev: the revocation was NOT stored: commands connection to 127\.0\.0\.1:1 failed/) });
  });

  it('the checks that need Redis run before the question: a "yes" is never followed by their refusal', async () => {
    // A running instance declares 10 h; the operator gives 1 h.
    await admin.zadd(key(REVOCATION_KEYS.lifetimes), Date.now(), String(10 * HOUR_MS));
    const local = ['--local-dir', dir, '--app', 'shop', '--env', 'dev'];
    const shorter = await runCliInProcess(['revoke', ...local, '--sid', 's1', '--session-max-lifetime-ms', String(HOUR_MS)], { answer: 'y' });
    expect(shorter.asked).toEqual([]);
    expect(shorter.code).toBe(2);
    expect(shorter.stderr).toContain(`is shorter than the ${10 * HOUR_MS} ms a running instance declares`);
    // This machine's clock 120 s ahead of Redis'.
    const real = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => real() + 120_000);
    const skewed = await runCliInProcess(['revoke', ...local, '--all-before', 'now'], { answer: 'y' });
    vi.restoreAllMocks();
    expect(skewed.asked).toEqual([]);
    expect(skewed.code).toBe(2);
    expect(skewed.stderr).toContain('the revocation was NOT stored: this machine\'s clock is 120 s ahead of Redis\' clock');
    expect(await admin.exists(key(REVOCATION_KEYS.sessions), key(REVOCATION_KEYS.clientNotBefore), key(REVOCATION_KEYS.log))).toBe(0);
  });

  it('"now" is Redis\' time once the operator has answered, not when the question was asked', async () => {
    const redisSeconds = async () => Number((await admin.time())[0]);
    let askedAtS = 0;
    const answer = async () => {
      askedAtS = await redisSeconds();
      // The operator takes two seconds (by Redis' clock) to answer.
      while ((await redisSeconds()) < askedAtS + 2) await new Promise((resolve) => setTimeout(resolve, 100));
      return 'y';
    };
    const result = await runCliInProcess(['revoke', '--local-dir', dir, '--app', 'shop', '--env', 'dev', '--sub', 'slow', '--json'], { answer });
    expect(result.code).toBe(0);
    expect(result.json<{ notBefore: number }>().notBefore).toBeGreaterThanOrEqual(askedAtS + 2);
    expect(Number(await admin.zscore(key(REVOCATION_KEYS.subjects), 'slow'))).toBeGreaterThanOrEqual(askedAtS + 2);
  });

  it('a stricter (later) not-before already stood: the command reports the one in force, and that it stood', async () => {
    const standing = Math.floor(Date.now() / 1000) - 10;
    const given = standing - 3600;
    await admin.zadd(key(REVOCATION_KEYS.subjects), standing, 'strict');
    const json = await runCliInProcess(['revoke', ...target(), '--sub', 'strict', '--before', String(given), '--json']);
    expect(json.code).toBe(0);
    expect(json.json()).toMatchObject({ kind: 'subject', sub: 'strict', notBefore: standing, requestedNotBefore: given, stricterStood: true });
    const text = await runCliInProcess(['revoke', ...target(), '--sub', 'strict', '--before', String(given)]);
    expect(text.stdout).toContain(`: done, every token of user "strict" issued before ${isoTime(standing * 1000)}: written to Redis (state and event log) and published; every instance applies it.`);
    expect(text.stdout).toContain(`A stricter not-before already stood and stays in force (the one given, ${isoTime(given * 1000)}, refuses nothing more).`);
    expect(Number(await admin.zscore(key(REVOCATION_KEYS.subjects), 'strict'))).toBe(standing);

    await admin.set(key(REVOCATION_KEYS.clientNotBefore), String(standing));
    const all = await runCliInProcess(['revoke', ...target(), '--all-before', String(given), '--json']);
    expect(all.json()).toMatchObject({ kind: 'client', notBefore: standing, requestedNotBefore: given, stricterStood: true });

    // None stood: the one given is the one in force.
    const fresh = await runCliInProcess(['revoke', ...target(), '--sub', 'fresh', '--before', String(given), '--json']);
    expect(fresh.json()).toMatchObject({ notBefore: given, requestedNotBefore: given, stricterStood: false });
    const freshText = await runCliInProcess(['revoke', ...target(), '--sub', 'fresher', '--before', String(given)]);
    expect(freshText.stdout).not.toContain('stricter');
  });
});
