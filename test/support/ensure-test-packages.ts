import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MINIMUM_MAJOR = 7;
const PACKAGES = 'redis-server openssl python3-botocore locales';
const INSTRUCTION = `the integration tests need redis-server (>= ${MINIMUM_MAJOR}), openssl, botocore for /usr/bin/python3 and the locale sources: run \`sudo apt-get install -y ${PACKAGES}\``;

/** The major version of the redis-server on PATH, or undefined when there is none. */
async function redisServerMajor(): Promise<number | undefined> {
  try {
    const { stdout } = await run('redis-server', ['--version'], { timeout: 10_000 });
    const match = /v=(\d+)\./.exec(stdout);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `file args…` exits 0. */
function succeeds(file: string, args: string[]): Promise<boolean> {
  return run(file, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );
}

/** The Debian packages of the prerequisites that are missing, and redis-server's major version. */
async function survey(): Promise<{ missing: string[]; major: number | undefined }> {
  const [major, openssl, botocore, locales] = await Promise.all([
    redisServerMajor(),
    // The throwaway CA and certificates of the local TLS servers.
    succeeds('openssl', ['version']),
    // The independent reference for the IAM token (test/support/botocore-iam-token.py).
    succeeds('/usr/bin/python3', ['-c', 'import botocore.auth']),
    // A server under a locale whose collation is not byte order (test/support/locale.ts).
    access('/usr/share/i18n/locales/en_US').then(() => true, () => false),
  ]);
  const missing = [
    ...(major === undefined ? ['redis-server'] : []),
    ...(openssl ? [] : ['openssl']),
    ...(botocore ? [] : ['python3-botocore']),
    ...(locales ? [] : ['locales']),
  ];
  return { missing, major };
}

/** How often, and how far apart, apt-get is tried again while another apt run holds its lock. */
const LOCK_ATTEMPTS = 30;
const LOCK_RETRY_MS = 10_000;

async function aptGet(args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
      return;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim() ?? '';
      // Another apt run (a second suite on the same machine): `apt-get update` does not wait for its lock.
      if (stderr.includes('Could not get lock') && attempt < LOCK_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
        continue;
      }
      const tail = stderr.split('\n').slice(-3).join(' | ');
      throw new Error(`\`apt-get ${args.join(' ')}\` failed while installing the test prerequisites: ${tail || (error as Error).message}. ${INSTRUCTION}`);
    }
  }
}

/**
 * vitest globalSetup of the integration tests: redis-server >= 7 on PATH, openssl, botocore for
 * /usr/bin/python3, and the locale sources (Debian's `locales`). What is missing is installed with
 * apt-get when this runs as root (CI, fresh containers); otherwise the run stops with a one-line
 * instruction. (The system redis service is not used: tests start their own servers.)
 */
export default async function ensureTestPackages(): Promise<void> {
  let { missing, major } = await survey();
  if (missing.length > 0 && process.getuid?.() === 0) {
    await aptGet(['update']);
    await aptGet(['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...missing]);
    ({ missing, major } = await survey());
  }
  if (missing.length > 0) throw new Error(`${INSTRUCTION} (missing: ${missing.join(', ')})`);
  if (major! < MINIMUM_MAJOR) {
    throw new Error(`the integration tests need redis-server ${MINIMUM_MAJOR} or later; the one first on PATH is ${major}.x: put a newer one first on PATH (Debian 12 and Ubuntu 24.04 package 7.x)`);
  }
}
