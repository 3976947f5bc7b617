/**
 * `kcc-redis rotate-keys` racing another caller's rotation, for real: the CLI and an app instance (a
 * KeyRing of the client, in this process) against the redis-server of `kcc-redis local`. The instance's
 * ring write is held back (its command parked on its own connection) until the server shows the CLI
 * asking for the rotation lock, which the CLI does only once it has read the ring it rotates from.
 * Also covered: --immediate losing its compare-and-set ("NOT rotated", exit 2, nothing written by the
 * CLI). That takes another write between the CLI's read of the ring under its rotation lock and its
 * write, which only that lock expiring in between allows (30 s, the client's lockTtlMs, not a CLI
 * option). The test stands in for the expiry: the CLI runs in this process, so its connection is
 * caught as KccRedis.connect makes it (named kcc-redis-cli:…) and its ring write parked there; the
 * lock is deleted, as its expiry would, and the instance rotates before the CLI's write goes on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { KEY_RING_KEYS } from '../../../client/src/contract/index.js';
import { EXIT } from '../../../cli/exit-codes.js';
import { parseConfig } from '../../../infra/config.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { envFilePath, runLocal } from '../../../local/run-local.js';
import { readEnvFile, runCliInProcess } from '../../support/cli.js';
import { COMPARE_AND_SET } from '../../../client/src/store.js';
import { interceptScript } from '../../support/redis.js';

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

  /**
   * A hook for the ring's compare-and-set script (interceptScript) that holds a write to `ringKey`
   * until `release()`; `writeParked` resolves once one is held.
   */
  function parkRingWrite(ringKey: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let parked!: () => void;
    const writeParked = new Promise<void>((resolve) => (parked = resolve));
    const hold = async (keys: unknown[], _args: unknown[], send: () => Promise<unknown>) => {
      if (keys[0] === ringKey) {
        parked();
        await released;
      }
      return send();
    };
    return { hold, writeParked, release };
  }

  it('a scheduled rotation that loses to an immediate one says that key is active now; exit 0, nothing written by the CLI', async () => {
    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    const redis = await KccRedis.connect({ env, heartbeat: false });
    const ring = await KeyRing.start(redis, { env });
    try {
      const ringKey = redis.key(KEY_RING_KEYS.ring);
      const lockKey = redis.key(`lock:${KEY_RING_KEYS.lock}`);
      // The instance's rotation takes the lock, then its ring write waits for the CLI.
      const { hold, writeParked, release } = parkRingWrite(ringKey);
      interceptScript(redis, COMPARE_AND_SET, hold);
      const theirs = ring.rotate({ immediate: true });
      await writeParked;

      // The CLI asks for the lock only after reading the ring it rotates from (generation 1): the
      // instance's write, released then, comes after that read and before the CLI can take the lock.
      const cliLockRequests = await watchCommands('kcc-redis-cli:', lockKey);
      const cli = runCliInProcess(['rotate-keys', '--local-dir', dir, '--app', 'shop', '--env', 'dev', '--activation-delay-ms', '120000', '--yes']);
      await cliLockRequests.seen;
      release();
      const immediate = await theirs;
      expect(immediate.rotated).toBe(true);

      const result = await cli;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`shop-dev (endpoint 127.0.0.1:${server.port}): not rotated: another rotation made key ${immediate.kid} the active key (since `);
      // Generation 1 the first key, 2 the instance's rotation; nothing after it.
      expect(result.stdout).toMatch(/; ring generation 2\.$/);
      const after = await KeyRing.inspect(redis, { env });
      expect([after.state === 'verified' && after.activeKid, after.state === 'verified' && after.nextKid]).toEqual([immediate.kid, undefined]);
    } finally {
      await ring.close();
      await redis.close();
    }
  });

  it('--immediate whose compare-and-set loses (its lock expired before its write, another rotation wrote meanwhile) says NOT rotated and exits 2; the other ring stands', async () => {
    const env = await readEnvFile(envFilePath(dir, { app: 'shop', env: 'dev' }));
    const redis = await KccRedis.connect({ env, heartbeat: false });
    const ring = await KeyRing.start(redis, { env });
    const ringKey = redis.key(KEY_RING_KEYS.ring);
    const lockKey = redis.key(`lock:${KEY_RING_KEYS.lock}`);
    // The CLI's ring write (the compare-and-set script on the ring; its reads of the ring are scripts
    // too since 368b204) waits, on the CLI's own connection, until released.
    const { hold, writeParked, release } = parkRingWrite(ringKey);
    const cliConnections: string[] = [];
    const connect = KccRedis.connect.bind(KccRedis);
    const connectSpy = vi.spyOn(KccRedis, 'connect').mockImplementation(async (...args) => {
      const connected = await connect(...args);
      if (connected.config.connectionName.startsWith('kcc-redis-cli:')) {
        cliConnections.push(connected.config.connectionName);
        interceptScript(connected, COMPARE_AND_SET, hold);
      }
      return connected;
    });
    try {
      const cli = runCliInProcess(['rotate-keys', '--local-dir', dir, '--app', 'shop', '--env', 'dev', '--immediate', '--yes']);
      await Promise.race([writeParked, cli.then((r) => Promise.reject(new Error(`the CLI ended before its ring write (exit ${r.code}): ${r.stdout}${r.stderr}`)))]);
      expect(cliConnections).toHaveLength(1);

      // The CLI read the ring under its lock; the lock goes, as its 30 s TTL expiring would.
      expect(await admin.exists(lockKey)).toBe(1);
      await admin.del(lockKey);
      const theirs = await ring.rotate({ immediate: true });
      expect(theirs.rotated).toBe(true);
      const written = await admin.hgetall(ringKey);
      release();

      const result = await cli;
      expect(result.code).toBe(EXIT.failed);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`shop-dev (endpoint 127.0.0.1:${server.port}): NOT rotated: another rotation changed the ring while this one was written; key ${theirs.kid} is the ring's now (signing). This command changed nothing: check kcc-redis status and, if a compromised key still signs, run kcc-redis rotate-keys --app shop --env dev --local-dir ${dir} --immediate again.`);
      // The instance's ring as it wrote it: the CLI's write changed nothing.
      expect(await admin.hgetall(ringKey)).toEqual(written);
      const after = await KeyRing.inspect(redis, { env });
      expect([after.state === 'verified' && after.activeKid, after.state === 'verified' && after.nextKid]).toEqual([theirs.kid, undefined]);
    } finally {
      connectSpy.mockRestore();
      release(); // a CLI still parked (a failed expectation above) goes on, and closes its connection
      await ring.close();
      await redis.close();
    }
  });
});
