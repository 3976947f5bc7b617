/**
 * `kcc-redis rotate-keys` racing another caller's rotation, for real: the CLI and an app instance (a
 * KeyRing of the client, in this process) against the redis-server of `kcc-redis local`. The instance's
 * ring write is held back (its command parked on its own connection) until the server shows the CLI
 * asking for the rotation lock, which the CLI does only once it has read the ring it rotates from.
 * Not covered: --immediate losing its compare-and-set ("NOT rotated"), which takes another write
 * between the CLI's read and its write under its own lock, so that lock expiring in between (30 s,
 * the client's lockTtlMs, not a CLI option); no order of real events forces that.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { KEY_RING_KEYS } from '../../../client/src/contract/index.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';
import { interceptCommand } from '../../support/redis.js';

const config = parseConfig({ apps: [{ name: 'shop', envs: ['dev'] }] });

describe('kcc-redis rotate-keys racing another rotation', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  let monitor: Redis | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-rotate-race-'));
    server = await runLocal({ config, port: 0, dir, print: () => undefined });
    admin = await server.admin();
  }, 90_000);
  afterEach(async () => {
    monitor?.disconnect();
    monitor = undefined;
  });
  afterAll(async () => {
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Watches the server (MONITOR) from now on; `seen` resolves when a connection whose name starts
   * with `namePrefix` sends a command naming `key`.
   */
  async function watchCommands(namePrefix: string, key: string): Promise<{ seen: Promise<void> }> {
    const watching = await admin.monitor();
    monitor = watching;
    const seen = new Promise<void>((resolve) => {
      watching.on('monitor', (_time: string, args: string[], source: string) => {
        if (!args.includes(key)) return;
        void (admin.call('CLIENT', 'LIST') as Promise<string>).then((list) => {
          if (list.split('\n').some((line) => line.includes(` addr=${source} `) && line.includes(` name=${namePrefix}`))) resolve();
        });
      });
    });
    return { seen };
  }

  it('a scheduled rotation that loses to an immediate one says that key is active now; exit 0, nothing written by the CLI', async () => {
    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    const redis = await KccRedis.connect({ env, heartbeat: false });
    const ring = await KeyRing.start(redis, { env });
    try {
      const ringKey = redis.key(KEY_RING_KEYS.ring);
      const lockKey = redis.key(`lock:${KEY_RING_KEYS.lock}`);
      // The instance's rotation takes the lock, then its ring write waits for the CLI.
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let parked!: () => void;
      const writeParked = new Promise<void>((resolve) => (parked = resolve));
      const hold = async (args: unknown[], send: () => Promise<unknown>) => {
        if (args[2] === ringKey) {
          parked();
          await released;
        }
        return send();
      };
      interceptCommand(redis, 'evalsha', hold);
      interceptCommand(redis, 'eval', hold);
      const theirs = ring.rotate({ immediate: true });
      await writeParked;

      // The CLI asks for the lock only after reading the ring it rotates from (generation 1): the
      // instance's write, released then, comes after that read and before the CLI can take the lock.
      const cliLockRequests = await watchCommands('kcc-redis-cli:', lockKey);
      const cli = runCliInProcess(['rotate-keys', '--local-dir', dir, '--app', 'shop', '--env', 'dev', '--yes']);
      await cliLockRequests.seen;
      release();
      const immediate = await theirs;
      expect(immediate.rotated).toBe(true);

      const result = await cli;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`shop-dev: not rotated: another rotation made key ${immediate.kid} the active key (since `);
      // Generation 1 the first key, 2 the instance's rotation; nothing after it.
      expect(result.stdout).toMatch(/; ring generation 2\.$/);
      const after = await KeyRing.inspect(redis, { env });
      expect([after.state === 'verified' && after.activeKid, after.state === 'verified' && after.nextKid]).toEqual([immediate.kid, undefined]);
    } finally {
      await ring.close();
      await redis.close();
    }
  });
});
