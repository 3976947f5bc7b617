/**
 * `kcc-redis rotate-keys` and the activation delay, on the real redis-server of `kcc-redis local`:
 * a scheduled rotation takes the instances' activationDelayMs from the operator (no default: an app
 * configured longer than the client's 120 s, because its identity provider caches the JWKS longer,
 * would sign with a key the IdP has not fetched yet), and --immediate takes none. Both refusals
 * change nothing in the ring.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';

const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }] });

describe('kcc-redis rotate-keys: --activation-delay-ms', () => {
  let dir: string;
  let server: LocalRedis;
  let redis: KccRedis;
  let env: Record<string, string>;
  const target = () => ['--local-dir', dir, '--app', 'shop', '--env', 'dev', '--yes'];
  const ring = async () => {
    const status = await KeyRing.inspect(redis, { env });
    if (status.state !== 'verified') throw new Error(`ring not verified: ${status.state}`);
    return { generation: status.generation, activeKid: status.activeKid, nextKid: status.nextKid };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-rotate-delay-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    redis = await KccRedis.connect({ env, heartbeat: false });
    // The ring, as the first instance creates it.
    await (await KeyRing.start(redis, { env })).close();
  }, 90_000);
  afterAll(async () => {
    await redis?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a scheduled rotation without --activation-delay-ms is a usage error saying what to give; the ring is unchanged', async () => {
    const before = await ring();
    const result = await runCliInProcess(['rotate-keys', ...target()]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(
      'kcc-redis rotate-keys: a scheduled rotation needs --activation-delay-ms <n>: give the activationDelayMs your instances are configured with (120000 if you kept the default), e.g. --activation-delay-ms 120000; or --immediate for a compromised key. Nothing was changed',
    );
    expect(await ring()).toEqual(before);
  });

  it('--activation-delay-ms with --immediate is refused (it would be ignored); the ring is unchanged', async () => {
    const before = await ring();
    const result = await runCliInProcess(['rotate-keys', ...target(), '--immediate', '--activation-delay-ms', '600000']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      'kcc-redis rotate-keys: --activation-delay-ms goes with a scheduled rotation only: --immediate signs with the new key at once; drop one of them. Nothing was changed',
    );
    expect(await ring()).toEqual(before);
  });

  it('--retire-grace-ms with --immediate is refused (the old keys leave at once); the ring is unchanged', async () => {
    const before = await ring();
    const result = await runCliInProcess(['rotate-keys', ...target(), '--immediate', '--retire-grace-ms', '600000']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      'kcc-redis rotate-keys: --retire-grace-ms goes with a scheduled rotation only: --immediate drops the old keys from the JWKS at once; drop one of them. Nothing was changed',
    );
    expect(await ring()).toEqual(before);
  });

  it('the delay given is the one the new key gets (not the client\'s 120 s)', async () => {
    const before = await ring();
    const started = Date.now();
    const result = await runCliInProcess(['rotate-keys', ...target(), '--activation-delay-ms', '600000', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { rotated, kid, activatesAt } = result.json<{ rotated: boolean; kid: string; activatesAt: number }>();
    expect(rotated).toBe(true);
    expect(activatesAt).toBeGreaterThanOrEqual(started + 600_000);
    expect(activatesAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(await ring()).toEqual({ generation: before.generation + 1, activeKid: before.activeKid, nextKid: kid });
  });

  // From a review of today's fixes (48ea0ad, 3867940): "use --immediate to replace it now" added to
  // the scheduled command line is refused (--activation-delay-ms goes with a scheduled rotation only).
  it('a scheduled rotation while a key is pending says how to replace it now, in a command line that runs as written', async () => {
    await runCliInProcess(['rotate-keys', ...target(), '--activation-delay-ms', '600000']);
    const pending = await ring();
    const result = await runCliInProcess(['rotate-keys', ...target(), '--activation-delay-ms', '600000']);
    expect(result.code).toBe(0);
    const hint = `to replace it now, kcc-redis rotate-keys --app shop --env dev --local-dir ${dir} --immediate.`;
    expect(result.stdout).toContain(`: not rotated: key ${pending.nextKid} was already pending (activates `);
    expect(result.stdout.endsWith(hint)).toBe(true);
    const immediate = await runCliInProcess([...hint.slice('to replace it now, kcc-redis '.length, -'.'.length).split(' '), '--yes']);
    expect(immediate.stderr).toBe('');
    expect(immediate.code).toBe(0);
    expect((await ring()).nextKid).toBeUndefined();
    expect((await ring()).activeKid).not.toBe(pending.activeKid);
  });
});
