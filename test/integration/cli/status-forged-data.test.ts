/**
 * `kcc-redis status` and `rotate-keys` against data an app-env's own user (or anyone who can write
 * its namespace) forged, on the real redis-server of `kcc-redis local`: one app-env's forged data
 * is shown as such, never stops the command for the others, and never reaches the terminal raw.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { namespacedKey } from '../../../client/src/contract/naming.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';
import { serverSentBytes } from '../../support/redis.js';

const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] });

type AppEnvJson = { appEnv: string; error?: string; keyRing: { state?: string; error?: string }; revocations: { error?: string; code?: string; clientNotBefore?: number; clientNotBeforeMalformed?: string }; instances: { error?: string; code?: string; unreadable?: number; instances?: { host: string }[] } };
type StatusJson = { exitCode: number; appEnvs: AppEnvJson[] };

describe('kcc-redis status and rotate-keys against forged data', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  const local = () => ['--local-dir', dir];
  const key = (appEnv: string, name: string) => namespacedKey(`${appEnv}:`, name);
  const forgeHeartbeat = async (appEnv: string, id: string, entry: Record<string, unknown>) => {
    await admin.set(key(appEnv, `instance:${id}`), JSON.stringify({ v: 1, instanceId: id, version: '0.0.0', host: 'h', pid: 1, startedAt: Date.now(), lastSeenAt: Date.now(), intervalMs: 15_000, ...entry }), 'PX', 60_000);
    await admin.zadd(key(appEnv, 'instances'), Date.now() + 60_000, id);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-forged-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    admin = await server.admin();
  }, 90_000);
  afterEach(async () => {
    for (const appEnv of ['shop-dev', 'blog-dev']) {
      const keys = (await admin.call('KEYS', `${appEnv}:*`)) as string[];
      if (keys.length > 0) await admin.del(...keys);
    }
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the session lifetimes instances declare: current ones longest first, marked when they differ; lapsed, far-future and malformed ones left out; a crowd and a key of the wrong type said', async () => {
    const lifetimes = key('shop-dev', 'session-lifetimes:v1');
    const status = async () => {
      const json = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
      const table = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
      type Lifetimes = { declaredMs?: number[]; crowded?: boolean; error?: string; code?: string };
      return { code: json.code, lifetimes: json.json<{ appEnvs: { revocations: { sessionLifetimes: Lifetimes } }[] }>().appEnvs[0]!.revocations.sessionLifetimes, table: table.stdout };
    };
    const now = Date.now();
    const hour = 3_600_000;
    // Current: 10 h, and 24 h (dated by a clock 50 min ahead). Left out: lapsed past the clock
    // tolerance (an hour), dated past the TTL and the tolerance, not a lifetime.
    await admin.zadd(lifetimes, now + 60_000, '36000000', now + 55 * 60_000, '86400000', now - 2 * hour, '172800000', now + 2 * hour, '315360000000', now + 60_000, 'ten years', now + 60_000, '1e9', now + 60_000, '315360000001');
    let s = await status();
    expect(s.code).toBe(0);
    expect(s.lifetimes).toEqual({ declaredMs: [86_400_000, 36_000_000], crowded: false });
    expect(s.table).toMatch(/session lifetimes\s+24 h, 10 h: instances differ \(state kept for 24 h\)/);
    // Malformed members count for nothing, seventeen of them included (as the writers count).
    await admin.zadd(lifetimes, ...Array.from({ length: 17 }, (_, i) => [now + 60_000, `junk-${i}`]).flat());
    expect((await status()).lifetimes).toEqual({ declaredMs: [86_400_000, 36_000_000], crowded: false });
    await admin.zrem(lifetimes, '86400000');
    expect((await status()).table).toMatch(/session lifetimes\s+10 h\n/);
    // More than the writers read: they keep the state for the longest possible.
    await admin.zadd(lifetimes, ...Array.from({ length: 16 }, (_, i) => [now + 60_000, String(i + 1)]).flat());
    s = await status();
    expect(s.lifetimes).toMatchObject({ crowded: true });
    expect(s.table).toMatch(/session lifetimes\s+more than 16 declared \(no fleet declares that many: forged\?\): state kept for the longest possible, 3650 d/);
    // Of the wrong type (writers ignore it): that row unreadable, the rest shown, exit 2.
    await admin.del(lifetimes);
    await admin.set(lifetimes, 'x');
    s = await status();
    expect(s.code).toBe(2);
    expect(s.lifetimes).toMatchObject({ code: 'WRONGTYPE' });
    expect(s.table).toMatch(/session lifetimes\s+unreadable: ReplyError: WRONGTYPE/);
    expect(s.table).toMatch(/revocations\s+0 sessions/);
    await admin.del(lifetimes);
    expect((await status()).table).toMatch(/session lifetimes\s+none declared \(no instance running\)/);
  });

  it('sessions revoked up to a logout are counted beside those revoked whole', async () => {
    const now = Date.now();
    await admin.zadd(key('shop-dev', 'revoked-sessions:v1'), now + 3_600_000, 'whole');
    await admin.zadd(key('shop-dev', 'revoked-sessions-up-to:v1'), Math.floor(now / 1000) - 60, 'browser-1', Math.floor(now / 1000) - 30, 'browser-2', Math.floor(now / 1000) - 11 * 3_600, 'expired');
    // Running instances declare 10 h: the one from 11 h ago is past every token's lifetime (writers prune it).
    await admin.zadd(key('shop-dev', 'session-lifetimes:v1'), now + 60_000, '36000000');
    const json = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
    expect(json.json<{ appEnvs: { revocations: { sessions: number; sessionsUpTo: number } }[] }>().appEnvs[0]!.revocations).toMatchObject({ sessions: 1, sessionsUpTo: 2 });
    const table = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
    expect(table.stdout).toMatch(/revocations\s+1 session \(and 2 up to a logout\), 0 users with a not-before/);
  });

  it('the state instances report: a stale one, one holding logouts not in Redis, a degraded ring shown per instance and in the verdict, exit 1; malformed parts and older entries shown as none; a kid made printable', async () => {
    await forgeHeartbeat('shop-dev', 'stale-one', { revocations: { stale: true, failOpen: false, stalenessMs: 45_000, unwritten: 2 }, keyRing: { status: 'ready', generation: 7, activeKid: 'kid\u001b[31m-7' } });
    await forgeHeartbeat('shop-dev', 'ring-down', { revocations: { stale: false, failOpen: false, stalenessMs: 900, unwritten: 0 }, keyRing: { status: 'degraded', generation: 6 } });
    await forgeHeartbeat('shop-dev', 'old-release', {});
    await forgeHeartbeat('shop-dev', 'malformed', { revocations: { stale: 'no' }, keyRing: { status: 'ready', generation: -1 } });
    const table = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(1);
    const row = (id: string) => table.stdout.split('\n').find((line) => line.startsWith(id)) ?? '';
    expect(row('stale-one')).toMatch(/STALE for 45 s, failing closed, 2 logouts not in Redis\s+generation 7, kid kid\\u001b\[31m-7$/);
    expect(row('ring-down')).toMatch(/current\s+DEGRADED \(generation 6, no key\)$/);
    expect(row('old-release')).toMatch(/—\s+—$/);
    expect(row('malformed')).toMatch(/—\s+—$/);
    expect(table.stdout).toContain('1 instance said at its last beat that its revocation state is stale: 1 failing closed (503 to tokens it knows no revocation of)');
    expect(table.stdout).toContain('1 instance held logouts Redis did not have yet at its last beat');
    expect(table.stdout).toContain('1 instance said its key ring is degraded at its last beat');
    expect(table.stdout).not.toContain('every key ring usable');

    const json = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
    expect(json.code).toBe(1);
    type Listed = { instanceId: string; revocations?: unknown; keyRing?: unknown };
    const listed = json.json<{ appEnvs: { instances: { instances: Listed[] } }[] }>().appEnvs[0]!.instances.instances;
    expect(listed.find((i) => i.instanceId === 'stale-one')).toMatchObject({ revocations: { stale: true, failOpen: false, stalenessMs: 45_000, unwritten: 2 }, keyRing: { status: 'ready', generation: 7, activeKid: 'kid\u001b[31m-7' } });
    expect(listed.find((i) => i.instanceId === 'malformed')).not.toHaveProperty('revocations');

    // A stale instance failing open is said as such: it lets tokens through.
    await admin.del(key('shop-dev', 'instance:ring-down'), key('shop-dev', 'instance:old-release'), key('shop-dev', 'instance:malformed'));
    await forgeHeartbeat('shop-dev', 'open-one', { revocations: { stale: true, failOpen: true, stalenessMs: 31_000, unwritten: 0 } });
    const open = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
    expect(open.code).toBe(1);
    expect(open.stdout.split('\n').find((line) => line.startsWith('open-one'))).toMatch(/STALE for 31 s, failing open\s+—$/);
    expect(open.stdout).toContain('2 instances said at their last beat that their revocation state is stale: 1 failing closed (503 to tokens it knows no revocation of), 1 failing open (letting through tokens that may have been revoked elsewhere)');

    // Only a current instance, with a logout not written: said, yellow, not a problem (written again until Redis takes it).
    await admin.del(key('shop-dev', 'instance:stale-one'), key('shop-dev', 'instance:open-one'));
    await forgeHeartbeat('shop-dev', 'writing', { revocations: { stale: false, failOpen: false, stalenessMs: 900, unwritten: 1 } });
    const later = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
    expect(later.code).toBe(0);
    expect(later.stdout).toMatch(/current, 1 logout not in Redis/);
    expect(later.stdout).toContain('1 instance held logouts Redis did not have yet at its last beat');
  });

  it('a heartbeat with a start time no Date holds counts as an unreadable entry', async () => {
    await forgeHeartbeat('shop-dev', 'far-future', { startedAt: 9_000_000_000_000_000 });
    const result = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/instances\s+0 live, 1 unreadable entries/);
  });

  it('keys of the wrong type in one app-env: that app-env\'s parts are unreadable, the other app-env is shown, exit 2', async () => {
    await forgeHeartbeat('shop-dev', 'honest', { host: 'web-1' });
    await admin.hset(key('blog-dev', 'revocation-events'), 'a', 'b');
    await admin.set(key('blog-dev', 'instances'), 'x');
    const table = await runCliInProcess(['status', ...local(), '--all']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(2);
    expect(table.stdout).toContain('web-1 (pid 1)');
    expect(table.stdout).toMatch(/revocations\s+unreadable: ReplyError: WRONGTYPE Operation against a key holding the wrong kind of value/);
    expect(table.stdout).toMatch(/instances\s+unreadable: ReplyError: WRONGTYPE/);
    expect(table.stdout).toContain('1 app-env not read in full (unreadable above).');

    const json = await runCliInProcess(['status', ...local(), '--all', '--json']);
    expect(json.code).toBe(2);
    const [shop, blog] = json.json<StatusJson>().appEnvs as [AppEnvJson, AppEnvJson];
    expect(shop.instances.instances?.map((i) => i.host)).toEqual(['web-1']);
    expect(shop.revocations.error).toBeUndefined();
    expect(blog).toMatchObject({ appEnv: 'blog-dev', keyRing: { state: 'absent' }, revocations: { error: expect.stringContaining('WRONGTYPE'), code: 'WRONGTYPE' }, instances: { error: expect.stringContaining('WRONGTYPE'), code: 'WRONGTYPE' } });
  });

  it('--watch keeps refreshing past an app-env it cannot read', async () => {
    await admin.set(key('blog-dev', 'instances'), 'x');
    const result = await runCliInProcess(['status', ...local(), '--all', '--json', '--watch', '--interval', '1'], { watch: { refreshes: 2 } });
    expect(result.stderr).toBe('');
    expect(result.jsonLines<StatusJson>().map((d) => d.exitCode)).toEqual([2, 2]);
    expect(result.code).toBe(2);
  });

  it('a client-wide not-before beyond Date\'s range (written with another app-env\'s credentials) is shown as malformed', async () => {
    const blog = await readEnvFile(envFilePath(dir, { app: 'blog', env: 'dev' }));
    const { Redis: Client } = await import('ioredis');
    const { readFile } = await import('node:fs/promises');
    const url = new URL(blog.KCC_REDIS_URL!);
    const tenant = new Client({ host: url.hostname, port: Number(url.port), tls: { ca: await readFile(blog.KCC_REDIS_CA_FILE!), servername: 'localhost' }, username: blog.KCC_REDIS_USERNAME, password: blog.KCC_REDIS_PASSWORD });
    try {
      await tenant.set(key('blog-dev', 'client-not-before:v1'), '1e300');
    } finally {
      await tenant.quit();
    }
    const table = await runCliInProcess(['status', ...local(), '--all']);
    expect(table.stderr).toBe('');
    // A problem found (exit 1): no revocation of every token is in force there (it exited 0, the row only yellow).
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('client not-before MALFORMED ("1e300" is not epoch seconds; instances refuse it)');
    expect(table.stdout).toContain('1 client-wide not-before malformed: instances treat it as none, so no revocation of every token is in force there');
    expect(table.stdout).not.toContain('every key ring usable');
    // From a review of today's fixes (3867940 made revoke need --app/--env): the hint names the
    // row's app-env and this run's source, and runs as written (with a time for <time>).
    const hint = `revoke again with kcc-redis revoke --app blog --env dev --local-dir ${dir} --all-before <time>.`;
    expect(table.stdout).toContain(hint);
    const json = await runCliInProcess(['status', ...local(), '--all', '--json']);
    expect(json.json<StatusJson>().appEnvs[1]!.revocations).toMatchObject({ clientNotBeforeMalformed: '1e300' });
    expect(json.json<StatusJson>().appEnvs[1]!.revocations.clientNotBefore).toBeUndefined();
    const revoked = await runCliInProcess([...hint.slice('revoke again with kcc-redis '.length, -'.'.length).replace('<time>', 'now').split(' '), '--yes']);
    // (Its Revocations warn of the malformed value they found at start, as an instance would.)
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^blog-dev \(endpoint [^)]+\): done, /);
    expect((await runCliInProcess(['status', ...local(), '--all'])).code).toBe(0);
  });

  // From a review of fbb15d0: status read the log's first and last entries and the client-wide value
  // whole; past V8's longest string (~512 MB) that fails, and tens of MB came over on every refresh.
  it('oversized values (20 MB in the log and as the client-wide not-before) do not come over: the log\'s times shown, the value shown cut', async () => {
    const big = 'x'.repeat(20 * 1024 * 1024);
    await admin.xadd(key('shop-dev', 'revocation-events'), '1700000000000-0', 'i', 'first', 'e', big);
    await admin.xadd(key('shop-dev', 'revocation-events'), '1700000001000-0', 'i', 'last', 'e', big);
    await admin.set(key('shop-dev', 'client-not-before:v1'), big);
    const sent = () => serverSentBytes(server);
    const before = await sent();
    const json = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
    expect(await sent() - before).toBeLessThan(4 * 1024 * 1024);
    const revocations = json.json<{ appEnvs: { revocations: { clientNotBeforeMalformed?: string; log?: { length: number; oldestAt?: number; newestAt?: number } } }[] }>().appEnvs[0]!.revocations;
    expect(revocations.log).toEqual({ length: 2, oldestAt: 1_700_000_000_000, newestAt: 1_700_000_001_000 });
    expect(revocations.clientNotBeforeMalformed).toBe(`${'x'.repeat(40)}…`);
  });

  it('--json escapes C1 and bidi characters from Redis, and stays JSON with the same text', async () => {
    const host = 'web\u009b2J\u202egnp.exe\u2066';
    await forgeHeartbeat('shop-dev', 'bidi', { host });
    const result = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
    expect(result.stdout).not.toMatch(/[\u0080-\u009f\u202e\u2066]/);
    expect(result.stdout).toContain('web\\u009b2J\\u202egnp.exe\\u2066');
    expect(result.json<StatusJson>().appEnvs[0]!.instances.instances?.[0]?.host).toBe(host);
  });

  it('a key ring status cannot verify (no key-encryption key given) is counted as such, not called usable', async () => {
    await admin.hset(key('shop-dev', 'keyring'), 'version', 1, 'value', 'garbage-not-a-ring');
    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    delete env.KCC_KEYRING_KEK;
    const result = await runCliInProcess(['status'], { env });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/key ring\s+present \(not verified: no KEK given\)/);
    expect(result.stdout).toContain('1 key ring not verified (no key-encryption key given): present, but whether instances accept it is unknown.');
    expect(result.stdout).toContain('1 app-env: no key ring degraded.');
    expect(result.stdout).not.toContain('every key ring usable');
    expect(result.code).toBe(0);
  });

  it('rotate-keys shows a forged ring\'s unverified kid escaped and cut short, on stderr as in the message', async () => {
    const kid = `\u001b]52;c;ZWNobyBwd25lZA==\u0007\u001b[2J${'A'.repeat(500)}`;
    const header = Buffer.from(JSON.stringify({ typ: 'kcc-keyring', alg: 'HS256', kid })).toString('base64url');
    await admin.hset(key('shop-dev', 'keyring'), 'version', 1, 'value', `${header}.e30.c2ln`);
    const result = await runCliInProcess(['rotate-keys', ...local(), '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120000', '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(result.stderr).toContain('authenticated under key-encryption key \\u001b]52;c;ZWNobyBwd25lZA==\\u0007\\u001b[2JAAA');
    expect(result.stderr).toContain(`… (${kid.length} characters)`);
    expect(result.stderr).not.toContain('A'.repeat(100));
  });
});
