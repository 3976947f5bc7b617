import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MINIMUM_MAJOR = 7;
const INSTRUCTION = `redis-server (>= ${MINIMUM_MAJOR}) and openssl are required: run \`sudo apt-get install -y redis-server openssl\``;

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

/** Whether the openssl CLI (throwaway CA and certificates for the local TLS servers) is on PATH. */
async function hasOpenssl(): Promise<boolean> {
  return run('openssl', ['version'], { timeout: 10_000 }).then(() => true, () => false);
}

async function aptGet(args: string[]): Promise<void> {
  try {
    await run('apt-get', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`\`apt-get ${args.join(' ')}\` failed while installing the test servers' packages: ${stderr || (error as Error).message}. ${INSTRUCTION}`);
  }
}

/**
 * vitest globalSetup: the real-Redis tests need redis-server >= 7 on PATH. When it is missing and
 * this runs as root (CI, fresh containers) it is installed with apt-get; otherwise the run stops
 * with a one-line instruction. (The system service is not used: tests start their own servers.)
 */
export default async function ensureRedisServer(): Promise<void> {
  let major = await redisServerMajor();
  let openssl = await hasOpenssl();
  const missing = [...(major === undefined ? ['redis-server'] : []), ...(openssl ? [] : ['openssl'])];
  if (missing.length > 0 && process.getuid?.() === 0) {
    await aptGet(['update']);
    await aptGet(['install', '-y', '--no-install-recommends', ...missing]);
    major = await redisServerMajor();
    openssl = await hasOpenssl();
  }
  if (major === undefined || !openssl) throw new Error(INSTRUCTION);
  if (major < MINIMUM_MAJOR) throw new Error(`${INSTRUCTION} (found redis-server ${major}.x on PATH)`);
}
