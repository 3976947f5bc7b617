/**
 * `kcc-redis check`'s ACL probes against `kcc-redis local` (the real redis-server, TLS, the stack's
 * users for two app-envs), each with one user changed behind the config's back through the local
 * admin user: a write-only key pattern, PING taken away, CONFIG granted, a default user without a
 * password. Then a server that stands in for ElastiCache's restricted commands (CONFIG renamed away:
 * it does not exist for anyone), and one that does not have AUTH at all (its replies echo what the
 * probes sent, passwords included: the report must not).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvAccessString, defaultUserAccessString } from '../../../client/src/contract/naming.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { runLocal } from '../../../local/run-local.js';
import { runCliInProcess } from '../../support/cli.js';
import { restartWithoutCommands } from '../../support/renamed-commands.js';

const SHOP = { app: 'shop', env: 'dev' };
const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] });

type Result = { probe: string; status: string; detail: string };
type Report = { exitCode: number; appEnvs: { appEnv: string; error?: string; results: Result[] }[] };

/** `<app-env>: <probe>` of every failed probe. */
const failures = (report: Report) => report.appEnvs.flatMap((a) => a.results.filter((r) => r.status === 'fail').map((r) => `${a.appEnv}: ${r.probe}`));
const resultOf = (report: Report, appEnv: string, probe: string) => report.appEnvs.find((a) => a.appEnv === appEnv)?.results.find((r) => r.probe === probe);

/** Starts `kcc-redis local` for shop-dev and blog-dev in a fresh folder. */
async function startLocal(prefix: string): Promise<{ dir: string; server: LocalRedis }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const server = await runLocal({ config, port: 0, dir, print: () => undefined });
  return { dir, server };
}

describe('kcc-redis check: an app user changed behind the config\'s back (kcc-redis local)', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  const check = async () => {
    const result = await runCliInProcess(['check', '--local-dir', dir, '--json']);
    return { ...result, report: result.json<Report>() };
  };
  /** Gives shop-dev its access string as the stack creates it again. */
  const restoreShop = () => admin.call('ACL', 'SETUSER', 'shop-dev', 'reset', ...appEnvAccessString(SHOP).split(' '), `>${server.users.get('shop-dev')!.password}`);

  beforeAll(async () => {
    ({ dir, server } = await startLocal('kcc-check-probes-'));
    admin = await server.admin();
  }, 60_000);
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a correct setup passes: outside its namespace every user is refused a read, a write, a script and a subscription', async () => {
    const { code, report } = await check();
    expect(code).toBe(0);
    expect(resultOf(report, 'shop-dev', 'refused outside: blog-dev:…')).toEqual({ probe: 'refused outside: blog-dev:…', status: 'pass', detail: 'GET, DEL, EVAL, SUBSCRIBE: NOPERM' });
    expect(await admin.call('KEYS', '*kcc-check*')).toEqual([]);
  });

  it('a write-only key pattern on every key (%W~*): the write outside the namespace is allowed, check fails naming it', async () => {
    await admin.call('ACL', 'SETUSER', 'shop-dev', '%W~*');
    try {
      const { code, report } = await check();
      expect(code).toBe(1);
      // Every read (GET, a script's GET) and the subscription are still refused: only the DEL shows it.
      expect(failures(report)).toEqual(['shop-dev: refused outside: blog-dev:…', expect.stringMatching(/^shop-dev: refused outside: kcc-check-[0-9a-f]{8}:…$/)]);
      expect(resultOf(report, 'shop-dev', 'refused outside: blog-dev:…')!.detail).toBe('DEL allowed outside the namespace shop-dev:');
      // The DEL was of a random name that does not exist: nothing outside the namespace is gone.
    } finally {
      await restoreShop();
    }
    expect((await check()).code).toBe(0);
  });

  it('PING refused to one app-env\'s user: its round-trip probe fails, every other probe of both app-envs is reported', async () => {
    await admin.call('ACL', 'SETUSER', 'shop-dev', '-ping');
    try {
      const { code, stderr, report } = await check();
      expect(stderr).toBe('');
      expect(code).toBe(1);
      expect(report.appEnvs.map((a) => a.appEnv)).toEqual(['shop-dev', 'blog-dev']);
      expect(failures(report)).toEqual(['shop-dev: round trip (PING)']);
      expect(resultOf(report, 'shop-dev', 'round trip (PING)')!.detail).toMatch(/^PING 1 of 20: NOPERM .*'ping'/);
      expect(report.appEnvs[1]!.results.map((r) => r.probe)).toContain('round trip (PING)');
      expect(report.appEnvs.every((a) => a.error === undefined)).toBe(true);
    } finally {
      await restoreShop();
    }
  });

  it('CONFIG granted on a server that has it: "refused: CONFIG GET" fails', async () => {
    await admin.call('ACL', 'SETUSER', 'shop-dev', '+config');
    try {
      const { code, report } = await check();
      expect(code).toBe(1);
      expect(failures(report)).toEqual(['shop-dev: refused: CONFIG GET']);
      expect(resultOf(report, 'shop-dev', 'refused: CONFIG GET')!.detail).toBe('CONFIG GET is allowed: the access string was widened (it denies @dangerous and KEYS)');
    } finally {
      await restoreShop();
    }
  });

  it('the default user without a password (still off): the one-argument AUTH shows that reply, not WRONGPASS', async () => {
    await admin.call('ACL', 'SETUSER', 'default', 'nopass');
    try {
      const { code, report } = await check();
      expect(code).toBe(0); // refused all the same: the default user is off
      expect(resultOf(report, 'shop-dev', 'one-argument AUTH refused')).toMatchObject({
        status: 'pass',
        detail: 'ERR AUTH <password> called without any password configured for the default user (it has no password: on, it lets anyone in)',
      });
      expect(resultOf(report, 'shop-dev', 'default user: a random password refused')).toMatchObject({ status: 'pass', detail: 'WRONGPASS; whether the default user is off, drift tells' });
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', 'reset', ...defaultUserAccessString(false).split(' '), `>${server.defaultUserPassword}`);
    }
    const { report } = await check();
    expect(resultOf(report, 'shop-dev', 'one-argument AUTH refused')!.detail).toBe('WRONGPASS');
  });
});

describe('kcc-redis check on a server without CONFIG (as on ElastiCache), then without AUTH', () => {
  let dir: string;
  let server: LocalRedis;
  const check = async () => {
    const result = await runCliInProcess(['check', '--local-dir', dir, '--json']);
    return { ...result, report: result.json<Report>() };
  };

  beforeAll(async () => {
    ({ dir, server } = await startLocal('kcc-check-renamed-'));
    await restartWithoutCommands(server, dir, ['CONFIG']);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('CONFIG does not exist for anyone: "refused: CONFIG GET" passes as not available on this server, and check passes', async () => {
    const { code, stderr, report } = await check();
    expect(stderr).toBe('');
    expect(failures(report)).toEqual([]);
    expect(code).toBe(0);
    for (const appEnv of ['shop-dev', 'blog-dev']) {
      expect(resultOf(report, appEnv, 'refused: CONFIG GET')).toEqual({
        probe: 'refused: CONFIG GET',
        status: 'pass',
        detail: "not available on this server (unknown command 'CONFIG'): refused to every user",
      });
      expect(resultOf(report, appEnv, 'refused: KEYS')).toMatchObject({ status: 'pass', detail: 'NOPERM' });
    }
  });

  it('a server whose replies echo the passwords the probes send (AUTH renamed away): no password reaches the report', async () => {
    await restartWithoutCommands(server, dir, ['AUTH']);
    const { code, stdout, stderr, report } = await check();
    expect(code).toBe(1);
    // The replies did echo them (Redis repeats an unknown command's first arguments), so they were redacted.
    expect(resultOf(report, 'shop-dev', 'default user cannot log in (its own password)')).toMatchObject({ status: 'fail', detail: expect.stringContaining('[redacted]') });
    const table = await runCliInProcess(['check', '--local-dir', dir]);
    const printed = [stdout, stderr, table.stdout, table.stderr].join('\n');
    for (const password of [server.defaultUserPassword, ...[...server.users.values()].map((u) => u.password)]) {
      expect(printed).not.toContain(password);
      expect(printed).not.toContain(password.slice(0, 16));
    }
  });
});
