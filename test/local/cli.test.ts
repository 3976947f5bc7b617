import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, Store } from '../../client/src/index.js';

describe('kcc-redis local (the CLI app developers run)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-cli-test-'));
    await writeFile(join(dir, 'cdk.json'), JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev'] }], aclProfile: 'hardened' } } }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts from the cdk.json config, prints env lines that work, and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/kcc-redis.ts', 'local', '--port', '0', '--dir', join(dir, 'local'), '--config', join(dir, 'cdk.json')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const lines: string[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (line.startsWith('kcc-redis local: ready on rediss://127.0.0.1:')) resolve();
      });
      void exited.then((code) => reject(new Error(`CLI exited (${code}) before ready:\n${lines.join('\n')}`)));
    });
    try {
      await ready;
      const env = Object.fromEntries(lines.filter((l) => l.startsWith('KCC_REDIS_')).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
      expect(Object.keys(env).sort()).toEqual(['KCC_REDIS_CA_FILE', 'KCC_REDIS_PASSWORD', 'KCC_REDIS_PREFIX', 'KCC_REDIS_URL', 'KCC_REDIS_USERNAME']);
      expect(env.KCC_REDIS_USERNAME).toBe('shop-dev');
      expect(lines.join('\n')).toContain('ACL profile "hardened"');
      const redis = await KccRedis.connect({ env });
      const store = new Store(redis);
      await store.set('hello', 'world');
      expect(await store.get('hello')).toBe('world');
      await redis.close();
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
