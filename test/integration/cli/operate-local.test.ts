/**
 * The operator commands against `kcc-redis local` (the real redis-server, TLS, the stack's ACL
 * users) with app instances running as their own processes, started from the env file the local
 * server wrote: check, drift, status, revoke and rotate-keys as an operator runs them (in-process,
 * through the same runCli as bin/kcc-redis.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvAccessString, namespacedKey } from '../../../client/src/contract/naming.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';
import { untilAsync } from '../../support/events.js';
import { InstanceProcess } from '../../support/instance-process.js';

const SHOP = { app: 'shop', env: 'dev' };
const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] });

describe('kcc-redis check, drift, status, revoke, rotate-keys against kcc-redis local', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  let instances: InstanceProcess[] = [];
  const local = () => ['--local-dir', dir];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-operate-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    admin = await server.admin();
    const env = await readEnvFile(envFilePath(dir, SHOP));
    instances = await Promise.all([InstanceProcess.start(env), InstanceProcess.start(env)]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('check passes on a correct setup, every probe of every app-env', async () => {
    const result = await runCliInProcess(['check', ...local(), '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = result.json<{ exitCode: number; appEnvs: { appEnv: string; results: { probe: string; status: string }[] }[] }>();
    expect(report.appEnvs.map((a) => a.appEnv)).toEqual(['shop-dev', 'blog-dev']);
    for (const appEnv of report.appEnvs) {
      expect(appEnv.results.filter((r) => r.status !== 'pass')).toEqual([]);
      expect(appEnv.results.map((r) => r.probe)).toEqual(expect.arrayContaining([
        'TLS', 'plaintext refused', 'unauthenticated command refused', 'default user cannot log in (its own password)',
        `log in as ${appEnv.appEnv}`, 'own namespace: keys', 'own namespace: script', 'own namespace: channel',
        'refused: CONFIG GET', 'refused: KEYS', 'refused: CLIENT LIST', 'round trip (PING)',
      ]));
      // Each app user is also refused in the other app-env's namespace.
      const other = appEnv.appEnv === 'shop-dev' ? 'blog-dev' : 'shop-dev';
      expect(appEnv.results).toContainEqual(expect.objectContaining({ probe: `refused outside: ${other}:…`, status: 'pass' }));
    }
    // The probes leave nothing behind in the namespaces.
    expect(await admin.call('KEYS', '*kcc-check*')).toEqual([]);
  });

  it('drift: none on a correct setup', async () => {
    const result = await runCliInProcess(['drift', ...local(), '--json']);
    expect(result.code).toBe(0);
    expect(result.json<{ items: { status: string }[] }>().items.filter((i) => i.status === 'drift')).toEqual([]);
  });

  it('status shows the running instances and a rotation done by another process', async () => {
    const [a, b] = instances as [InstanceProcess, InstanceProcess];
    a.send('rotate');
    const rotated = (await a.waitFor(/^rotated /)).split(' ')[1]!;
    type Status = { appEnvs: { appEnv: string; keyRing: { state: string; generation: number; active: { kid: string }; next: { kid: string; activatesAt: number } | undefined; verified: boolean }; instances: { instances: { instanceId: string; version: string }[] } }[] };
    await untilAsync(async () => {
      const s = (await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json'])).json<Status>();
      return s.appEnvs[0]!.instances.instances.length === 2;
    }, 'both instances listed');
    const result = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev', '--json']);
    expect(result.code).toBe(0);
    const shop = result.json<Status>().appEnvs[0]!;
    expect(shop.keyRing).toMatchObject({ state: 'ok', verified: true, generation: 2, active: { kid: a.firstKid }, next: { kid: rotated } });
    expect(shop.instances.instances.map((i) => i.instanceId).sort()).toEqual([a.instanceId, b.instanceId].sort());
    const table = (await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev'])).stdout;
    expect(table).toContain(`${rotated} (PS256), signs from`);
    expect(table).toContain(a.instanceId);
  });

  it('status never writes: an app-env no instance has started stays empty', async () => {
    const result = await runCliInProcess(['status', ...local(), '--app', 'blog', '--env', 'dev', '--json']);
    expect(result.code).toBe(0);
    expect(result.json<{ appEnvs: { keyRing: { state: string } }[] }>().appEnvs[0]!.keyRing.state).toBe('absent');
    // The verdict does not call a ring that is not there usable; exit 0 (nothing wrong: no instance yet).
    const table = await runCliInProcess(['status', ...local(), '--app', 'blog', '--env', 'dev']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('1 app-env without a key ring yet (no instance has started there): nothing to sign with until the first instance creates it.');
    expect(table.stdout).toContain('1 app-env: no key ring degraded.');
    expect(table.stdout).not.toContain('every key ring usable');
    expect(await admin.call('KEYS', 'blog-dev:*')).toEqual([]);
  });

  it('status shows forged heartbeat text escaped, never as terminal control sequences', async () => {
    const forged = { v: 1, instanceId: 'forged', version: '0.0.0', host: '\u001b[2J\u001b]0;pwned\u0007evil', pid: 1, startedAt: Date.now(), lastSeenAt: Date.now(), intervalMs: 15_000 };
    await admin.set(namespacedKey('shop-dev:', 'instance:forged'), JSON.stringify(forged), 'PX', 60_000);
    await admin.zadd(namespacedKey('shop-dev:', 'instances'), Date.now() + 60_000, 'forged');
    try {
      const { stdout } = await runCliInProcess(['status', ...local(), '--app', 'shop', '--env', 'dev']);
      expect(stdout).toContain('\\u001b[2J\\u001b]0;pwned\\u0007evil (pid 1)');
      expect(stdout).not.toContain('\u001b');
    } finally {
      await admin.del(namespacedKey('shop-dev:', 'instance:forged'));
      await admin.zrem(namespacedKey('shop-dev:', 'instances'), 'forged');
    }
  });

  it('revoke reaches every running instance', async () => {
    const sid = `sid-${Date.now()}`;
    const result = await runCliInProcess(['revoke', ...local(), '--app', 'shop', '--env', 'dev', '--sid', sid, '--session-max-lifetime-ms', '36000000', '--yes']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    for (const instance of instances) {
      await instance.waitFor(new RegExp(`^applied session ${sid}$`));
      expect(await instance.checkSid(sid)).toBe('revoked');
    }
  });

  it('revoke asks on a terminal; a "no" changes nothing; without a terminal it needs --yes', async () => {
    const sid = `declined-${Date.now()}`;
    const declined = await runCliInProcess(['revoke', ...local(), '--app', 'shop', '--env', 'dev', '--sid', sid, '--session-max-lifetime-ms', '36000000'], { answer: 'n' });
    expect(declined.asked).toEqual([expect.stringContaining(`revoke session "${sid}" in shop-dev`)]);
    expect(declined.code).toBe(2);
    expect(declined.stderr).toContain('not confirmed; nothing was changed');
    const scripted = await runCliInProcess(['revoke', ...local(), '--app', 'shop', '--env', 'dev', '--sid', sid, '--session-max-lifetime-ms', '36000000']);
    expect(scripted.code).toBe(2);
    expect(scripted.stderr).toContain('pass --yes to go ahead');
    expect(await instances[0]!.checkSid(sid)).toBe('active');
    expect(await admin.zscore(namespacedKey('shop-dev:', 'revoked-sessions'), sid)).toBeNull();
  });

  it('rotate-keys --immediate switches every running instance to the new key', async () => {
    const result = await runCliInProcess(['rotate-keys', ...local(), '--app', 'shop', '--env', 'dev', '--immediate', '--yes', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { kid, rotated } = result.json<{ kid: string; rotated: boolean }>();
    expect(rotated).toBe(true);
    for (const instance of instances) await instance.waitFor(new RegExp(`^kid ${kid}$`));
  });

  it('rotate-keys refuses a namespace without a ring and writes nothing', async () => {
    const result = await runCliInProcess(['rotate-keys', ...local(), '--app', 'blog', '--env', 'dev', '--activation-delay-ms', '120000', '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('blog-dev has no key ring yet: nothing to rotate');
    expect(await admin.call('KEYS', 'blog-dev:*')).toEqual([]);
  });

  it('an access string widened behind our back (through the local admin user): check and drift report it and exit 1', async () => {
    await admin.call('ACL', 'SETUSER', 'shop-dev', '+@all');
    try {
      const check = await runCliInProcess(['check', ...local(), '--json']);
      expect(check.code).toBe(1);
      const failed = check.json<{ appEnvs: { appEnv: string; results: { probe: string; status: string }[] }[] }>().appEnvs
        .flatMap((a) => a.results.filter((r) => r.status === 'fail').map((r) => `${a.appEnv}: ${r.probe}`));
      expect(failed).toEqual(['shop-dev: refused: CONFIG GET', 'shop-dev: refused: KEYS', 'shop-dev: refused: CLIENT LIST']);
      const drift = await runCliInProcess(['drift', ...local(), '--json']);
      expect(drift.code).toBe(1);
      const drifted = drift.json<{ items: { resource: string; aspect: string; status: string; detail: string }[] }>().items.filter((i) => i.status === 'drift');
      expect(drifted).toEqual([expect.objectContaining({ resource: 'app user shop-dev', aspect: 'access string', detail: expect.stringContaining('commands: "+@all"') })]);
    } finally {
      await admin.call('ACL', 'SETUSER', 'shop-dev', ...appEnvAccessString(SHOP).split(' '));
    }
    expect((await runCliInProcess(['check', ...local()])).code).toBe(0);
    expect((await runCliInProcess(['drift', ...local()])).code).toBe(0);
  });

  it('a password Redis refuses: the fix in the CLI\'s terms (--local-dir), not the library\'s (an env file to load)', async () => {
    const env = { KCC_REDIS_URL: server.url, KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: 'not-the-password-0123456789', KCC_REDIS_CA_FILE: server.tls.caFile };
    const result = await runCliInProcess(['status', '--json'], { env });
    expect(result.code).toBe(2);
    expect(result.json<{ appEnvs: { error?: string; code?: string }[] }>().appEnvs[0]).toMatchObject({
      code: 'KCC_AUTH_FAILED',
      error: 'Redis rejected the credentials of user "shop-dev" and they were read once by this command: check the password; for kcc-redis local, pass --local-dir <its folder> (its kcc-local.json holds the current one) (WRONGPASS)',
    });
  });

  it('refuses a state file others can read (it holds passwords), changing nothing', async () => {
    const { chmod } = await import('node:fs/promises');
    const file = join(dir, 'kcc-local.json');
    await chmod(file, 0o644);
    try {
      const result = await runCliInProcess(['status', ...local()]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`kcc-redis status: ${file} is readable by others (mode 644): it holds passwords; chmod 600 it`);
    } finally {
      await chmod(file, 0o600);
    }
  });

  it('a user added behind our back is drift', async () => {
    await admin.call('ACL', 'SETUSER', 'intruder', 'on', '>intruder-password-0123456789', '~*', '+@all');
    try {
      const drift = await runCliInProcess(['drift', ...local(), '--json']);
      expect(drift.code).toBe(1);
      expect(drift.json<{ items: { resource: string; status: string }[] }>().items).toContainEqual(expect.objectContaining({ resource: 'user intruder', status: 'drift' }));
    } finally {
      await admin.call('ACL', 'DELUSER', 'intruder');
    }
  });
});
