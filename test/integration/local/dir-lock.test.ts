import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCK_FILE, LocalDirBusyError, lockDir } from '../../../local/dir-lock.js';
import { LocalRedis } from '../../../local/local-redis.js';

/** A pid that no process has any more: a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('the local folder lock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-lock-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('refuses a second holder while the first holds it, naming the holder and the fix; free again after release', async () => {
    const first = await lockDir(dir);
    await first.describe('rediss://127.0.0.1:7000');
    const refused = await lockDir(dir).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(LocalDirBusyError);
    expect((refused as Error).message).toBe(
      `${dir} is in use by another local server (pid ${process.pid} serving rediss://127.0.0.1:7000): two servers must not share one data folder and append-only file. ` +
        `Stop that one, or give this one its own folder (--dir <another folder>). If no such process runs, delete ${join(dir, LOCK_FILE)}.`,
    );
    await first.release();
    const again = await lockDir(dir);
    await again.release();
  });

  it('takes over a lock left by a process that died (crash, SIGKILL) and a junk lock file', async () => {
    for (const stale of [JSON.stringify({ pid: deadPid(), startedAt: 1 }), 'not json']) {
      await writeFile(join(dir, LOCK_FILE), stale);
      const lock = await lockDir(dir);
      expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
      await lock.release();
    }
  });

  it('of several takers of one stale lock at once, exactly one wins (every time, over many rounds)', async () => {
    for (let round = 0; round < 25; round++) {
      await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startedAt: 1 }));
      const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => lockDir(dir)));
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      expect(won, `round ${round}`).toHaveLength(1);
      for (const lost of outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')) expect(lost.reason).toBeInstanceOf(LocalDirBusyError);
      await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof lockDir>>>).value.release();
    }
  });

  it('a takeover guard left by a process that died mid-takeover does not block the folder for long', async () => {
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), startedAt: 1 }));
    const guard = join(dir, `${LOCK_FILE}.takeover`);
    await writeFile(guard, JSON.stringify({ pid: deadPid(), startedAt: 1 }));
    const old = new Date(Date.now() - 60_000);
    await utimes(guard, old, old);
    const lock = await lockDir(dir);
    expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it('LocalRedis holds its folder from start to stop: a second server on it is refused before it writes anything', async () => {
    const first = await LocalRedis.start({ dir, appEnvs: [{ app: 'lock', env: 'dev' }], persistence: 'none' });
    try {
      const config = await readFile(join(dir, 'redis.conf'), 'utf8');
      await expect(LocalRedis.start({ dir, appEnvs: [{ app: 'lock', env: 'dev' }], persistence: 'none' })).rejects.toBeInstanceOf(LocalDirBusyError);
      expect(await readFile(join(dir, 'redis.conf'), 'utf8')).toBe(config);
    } finally {
      await first.stop();
    }
    const second = await LocalRedis.start({ dir, appEnvs: [{ app: 'lock', env: 'dev' }], persistence: 'none' });
    await second.stop();
  });
});
