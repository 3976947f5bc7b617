/**
 * `kcc-redis check` when one app-env's probes throw what no probe expects (a bug, a connection lost
 * where nothing catches it): that app-env gets a failed row naming the error, after the rows it had,
 * and the other app-envs are still probed and reported (exit 2, the JSON complete). The error is
 * stood in for by the user probes of shop-dev throwing, their message carrying the password they
 * were given: the report must show it redacted. Against `kcc-redis local` with two app-envs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { UserProbe } from '../../../cli/check/acl-probes.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { runLocal } from '../../../local/run-local.js';
import { runCliInProcess } from '../../support/cli.js';

vi.mock('../../../cli/check/acl-probes.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../cli/check/acl-probes.js')>();
  return {
    ...original,
    probeUser: async (p: UserProbe) => {
      if (p.username === 'shop-dev') throw new TypeError(`probe blew up (it had ${p.password})`);
      return original.probeUser(p);
    },
  };
});

type Report = { exitCode: number; appEnvs: { appEnv: string; error?: string; results: { probe: string; status: string; detail: string }[] }[] };

describe('kcc-redis check: an unexpected error in one app-env', () => {
  let dir: string;
  let server: LocalRedis;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-check-error-'));
    server = await runLocal({ config: parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] }), port: 0, dir, print: () => undefined });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('is that app-env\'s failed row (its earlier probes kept), the other app-env is reported in full, exit 2', async () => {
    const result = await runCliInProcess(['check', '--local-dir', dir, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(2);
    const report = result.json<Report>();
    expect(report.exitCode).toBe(2);
    const [shop, blog] = report.appEnvs;
    expect(shop!.appEnv).toBe('shop-dev');
    expect(shop!.error).toBe('TypeError: probe blew up (it had [redacted])');
    expect(shop!.results.map((r) => r.probe)).toEqual(expect.arrayContaining(['TLS', 'unauthenticated command refused']));
    expect(shop!.results.at(-1)).toEqual({ probe: 'the rest (stopped by an error)', status: 'fail', detail: 'unexpected error: TypeError: probe blew up (it had [redacted])' });
    expect(blog!.appEnv).toBe('blog-dev');
    expect(blog!.error).toBeUndefined();
    expect(blog!.results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(blog!.results.map((r) => r.probe)).toEqual(expect.arrayContaining(['log in as blog-dev', 'round trip (PING)']));

    const table = await runCliInProcess(['check', '--local-dir', dir]);
    expect(table.code).toBe(2);
    expect(table.stdout).toMatch(/shop-dev\s+the rest \(stopped by an error\)\s+FAIL\s+unexpected error: TypeError: probe blew up/);
    expect(table.stdout).toContain('\n1 app-env not fully checked (an unexpected error).');
    expect(result.stdout + table.stdout).not.toContain(server.users.get('shop-dev')!.password);
  });
});
