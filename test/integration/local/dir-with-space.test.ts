/**
 * `kcc-redis local --dir` with a folder whose path holds a space, a double quote and a backslash:
 * every path the generated redis.conf names (the TLS files, the ACL file, the data dir) reaches
 * redis-server as one argument. redis-server splits a config line like sdssplitargs (redis
 * src/sds.c): unquoted, a space ends the argument ("wrong number of arguments"), and a leading
 * double quote opens a quoted one; in double quotes a backslash escapes the next character (a
 * review of today's fixes).
 */
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { LocalDirNameError, envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, readEnvFileWithShell } from '../../support/cli.js';

const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }] });

describe('kcc-redis local in a folder whose path holds a space, a double quote and a backslash', () => {
  let parent: string;
  let dir: string;
  let server: LocalRedis | undefined;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'kcc-local-odd-'));
    dir = join(parent, 'my "local" redis \\ dir');
    await mkdir(dir);
  });
  afterAll(async () => {
    await server?.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it('starts, an app connects with its env file, and its data survives a restart', async () => {
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    // The config names the paths as they are on disk, each one argument.
    const conf = await readFile(join(dir, 'redis.conf'), 'utf8');
    expect(conf).toContain(`aclfile "${join(dir, 'users.acl').replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);

    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    expect(env.KCC_REDIS_CA_FILE).toBe(join(dir, 'tls', 'ca.crt'));
    expect(await readEnvFileWithShell(envFilePath(dir, { app: 'shop', env: 'dev' }))).toEqual(env);
    const redis = await KccRedis.connect({ env, heartbeat: false });
    try {
      await redis.run((r) => r.set(redis.key('probe'), 'kept'));
    } finally {
      await redis.close();
    }

    // The data dir and the append-only file in it are the folder's: the value is read back after a restart.
    await server.restart();
    const again = await KccRedis.connect({ env, heartbeat: false });
    try {
      expect(await again.run((r) => r.get(again.key('probe')))).toBe('kept');
    } finally {
      await again.close();
    }
  }, 60_000);
});

describe("kcc-redis local in a folder whose path holds a single quote", () => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'kcc-local-quote-'));
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it("writes env files that node --env-file and a shell read alike, and an app connects with them", async () => {
    // Single-quoted as a shell quotes it ('\\''), Node's parser read the CA path as /…/it\\ and the app could not connect.
    const dir = join(parent, "it's my dir");
    const server = await runLocal({ config, port: 0, dir, print: () => undefined });
    try {
      const file = envFilePath(dir, { app: 'shop', env: 'dev' });
      const env = await readEnvFile(file);
      expect(env.KCC_REDIS_CA_FILE).toBe(join(dir, 'tls', 'ca.crt'));
      expect(await readEnvFileWithShell(file)).toEqual(env);
      const redis = await KccRedis.connect({ env, heartbeat: false });
      await redis.close();
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('refuses a folder with both a single and a double quote before creating or starting anything', async () => {
    const dir = join(parent, 'it\'s "odd"');
    const start = runLocal({ config, port: 0, dir, print: () => undefined });
    await expect(start).rejects.toThrow(LocalDirNameError);
    await expect(start).rejects.toThrow(/--dir .*both ' and one of " \$ ` \\.*choose a folder without it/);
    expect(await readdir(parent)).not.toContain('it\'s "odd"');
  });
});
