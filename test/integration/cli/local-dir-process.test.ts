/**
 * As an operator runs it, every step a process: `kcc-redis local --dir <dir>`, then
 * `kcc-redis check|drift --local-dir <dir> --json` (exit 0), an app user's access string widened
 * with the admin redis-cli line `local` printed, and the same commands again (exit 1).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appEnvAccessString } from '../../../client/src/contract/naming.js';
import { READY_LINE_PREFIX } from '../../../local/run-local.js';
import { shellQuote } from '../../../local/shell-quote.js';
import { type CliProcess, execCli, sh, spawnCli } from '../../support/cli-process.js';

describe('kcc-redis check and drift --local-dir, as processes', () => {
  let dir: string;
  let local: CliProcess;
  let adminCli: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-local-dir-'));
    const config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev', 'prod'] }] } } }));
    local = spawnCli(['local', '--port', '0', '--dir', join(dir, 'server'), '--config', config]);
    await local.lineStartingWith(READY_LINE_PREFIX, 30_000);
    adminCli = local.lines.find((l) => l.startsWith('# redis-cli as kcc-local-admin: '))!.slice('# redis-cli as kcc-local-admin: '.length);
  }, 60_000);
  afterAll(async () => {
    local?.child.kill('SIGINT');
    await local?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('exit 0 on the server as started, exit 1 once an app user\'s access string is widened, 0 again when restored', async () => {
    const server = join(dir, 'server');
    const run = async () => Promise.all([execCli(['check', '--local-dir', server, '--json']), execCli(['drift', '--local-dir', server, '--json'])]);

    const [check, drift] = await run();
    expect([check.code, drift.code, check.stderr, drift.stderr]).toEqual([0, 0, '', '']);
    expect(JSON.parse(check.stdout)).toMatchObject({ v: 1, command: 'check', exitCode: 0 });
    expect(JSON.parse(drift.stdout)).toMatchObject({ v: 1, command: 'drift', exitCode: 0 });

    expect(await sh(adminCli.replace(/\)$/, ' ACL SETUSER shop-prod allkeys)'))).toBe('OK');
    const [widenedCheck, widenedDrift] = await run();
    expect(widenedCheck.code).toBe(1);
    expect(widenedDrift.code).toBe(1);
    const failed = (JSON.parse(widenedCheck.stdout) as { appEnvs: { appEnv: string; results: { probe: string; status: string }[] }[] }).appEnvs
      .flatMap((a) => a.results.filter((r) => r.status === 'fail').map((r) => `${a.appEnv}: ${r.probe}`));
    expect(failed).toEqual(['shop-prod: refused outside: shop-dev:…', expect.stringMatching(/^shop-prod: refused outside: kcc-check-[0-9a-f]+:…$/)]);
    expect((JSON.parse(widenedDrift.stdout) as { items: { resource: string; status: string; detail: string }[] }).items.filter((i) => i.status === 'drift'))
      .toEqual([expect.objectContaining({ resource: 'app user shop-prod', detail: 'keys: "~*" where "~shop-prod:*" is expected' })]);

    const restore = appEnvAccessString({ app: 'shop', env: 'prod' }).split(' ').map(shellQuote).join(' ');
    expect(await sh(adminCli.replace(/\)$/, ` ACL SETUSER shop-prod ${restore})`))).toBe('OK');
    const [restoredCheck, restoredDrift] = await run();
    expect([restoredCheck.code, restoredDrift.code]).toEqual([0, 0]);
  });

  it('status --watch refreshes until SIGINT, then exits with the last refresh\'s code', async () => {
    const watch = spawnCli(['status', '--local-dir', join(dir, 'server'), '--watch', '--interval', '1']);
    const heading = 'kcc-redis status at ';
    await watch.lineStartingWith(heading);
    // A second refresh: wait for the heading to appear twice.
    for (let i = 0; i < 200 && watch.lines.filter((l) => l.startsWith(heading)).length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watch.lines.filter((l) => l.startsWith(heading)).length).toBeGreaterThanOrEqual(2);
    watch.child.kill('SIGINT');
    expect(await watch.exited).toBe(0);
  });
});
