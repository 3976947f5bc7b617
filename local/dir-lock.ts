import { link, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Name of the lock file in a local server's folder. */
export const LOCK_FILE = 'kcc-local.lock';

/** What a lock file says about its holder. */
export interface LockHolder {
  readonly pid: number;
  readonly startedAt: number;
  /** The holder's server, once it listens. */
  readonly url?: string;
}

/** The folder is in use by a running server: the message says by whom and what to do. */
export class LocalDirBusyError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    const where = holder.url ? ` serving ${holder.url}` : '';
    super(
      `${dir} is in use by another local server (pid ${holder.pid}${where}): two servers must not share one data folder and append-only file. ` +
        `Stop that one, or give this one its own folder (--dir <another folder>). If no such process runs, delete ${join(dir, LOCK_FILE)}.`,
    );
    this.name = 'LocalDirBusyError';
  }
}

/** A held lock on a local server's folder. */
export interface DirLock {
  /** Records the server's URL in the lock (shown to whoever is refused). */
  describe(url: string): Promise<void>;
  /** Releases the lock (removes the file if it is still ours). Safe to call twice. */
  release(): Promise<void>;
}

/** How often a taker tries before it gives up (each failed try waits a little: another taker is mid-step). */
const ATTEMPTS = 100;
const RETRY_MS = 10;
/** A takeover guard older than this was left by a process that died mid-takeover (a takeover takes microseconds). */
const STALE_GUARD_MS = 5_000;

/**
 * Takes the folder's lock for this process: `<dir>/kcc-local.lock` created atomically (a hard link of
 * a complete temporary file, so nobody ever reads a half-written lock). A lock whose process is gone
 * (a crash, SIGKILL) is stale and removed, but only under a takeover guard (`kcc-local.lock.takeover`,
 * itself created atomically): under it, the lock file is read again and removed only if it is still
 * stale. Nothing but removal happens under the guard and a live lock is only ever created where no
 * file is, so a live lock is never removed or moved, and of several takers exactly one creates the
 * next lock.
 *
 * @throws LocalDirBusyError when a live process holds it.
 */
export async function lockDir(dir: string): Promise<DirLock> {
  const lockFile = join(dir, LOCK_FILE);
  let holder: LockHolder = { pid: process.pid, startedAt: Date.now() };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (await createExclusive(lockFile, holder)) return heldLock(lockFile, () => holder, (next) => (holder = next));
    const current = await readHolder(lockFile);
    if (current === undefined) continue; // released meanwhile: try again
    // A live holder, this process included (a second server started from the same process), keeps it.
    if (isAlive(current.pid)) throw new LocalDirBusyError(dir, current);
    await removeIfStale(lockFile);
  }
  const last = await readHolder(lockFile);
  throw last ? new LocalDirBusyError(dir, last) : new Error(`could not take the lock ${lockFile}; try again`);
}

/** Removes the lock file if it is still stale, under the takeover guard; waits a little when another taker holds the guard. */
async function removeIfStale(lockFile: string): Promise<void> {
  const guard = `${lockFile}.takeover`;
  if (!(await createExclusive(guard, { pid: process.pid, startedAt: Date.now() }))) {
    const age = await stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_GUARD_MS) await unlink(guard).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    return;
  }
  try {
    const current = await readHolder(lockFile);
    if (current !== undefined && !isAlive(current.pid)) await unlink(lockFile).catch(() => undefined);
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

function heldLock(lockFile: string, holder: () => LockHolder, setHolder: (next: LockHolder) => void): DirLock {
  let released = false;
  return {
    async describe(url) {
      if (released) return;
      const next = { ...holder(), url };
      setHolder(next);
      const tmp = `${lockFile}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(next), { mode: 0o600 });
      await rename(tmp, lockFile);
    },
    async release() {
      if (released) return;
      released = true;
      const current = await readHolder(lockFile);
      if (current?.pid === process.pid && current.startedAt === holder().startedAt) await rm(lockFile, { force: true });
    },
  };
}

async function createExclusive(lockFile: string, holder: LockHolder): Promise<boolean> {
  const tmp = `${lockFile}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(holder), { mode: 0o600 });
  try {
    await link(tmp, lockFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || !Number.isSafeInteger(parsed.pid) || parsed.pid <= 0) return { pid: -1, startedAt: 0 };
    return { pid: parsed.pid, startedAt: Number(parsed.startedAt) || 0, url: typeof parsed.url === 'string' ? parsed.url : undefined };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { pid: -1, startedAt: 0 }; // junk: treated as stale
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Read-only check that no live process holds `dir`'s lock, so that a caller can report a busy folder
 * before anything else (e.g. before a port check). {@link lockDir} still decides.
 *
 * @throws LocalDirBusyError when a live process holds it.
 */
export async function assertDirNotLocked(dir: string): Promise<void> {
  const holder = await readHolder(join(dir, LOCK_FILE));
  if (holder && isAlive(holder.pid)) throw new LocalDirBusyError(dir, holder);
}
