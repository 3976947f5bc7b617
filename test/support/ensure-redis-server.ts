import { execFileSync } from 'node:child_process';

const MINIMUM_MAJOR = 7;

function redisServerMajor(): number | undefined {
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    const match = /v=(\d+)\./.exec(out);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * vitest globalSetup: the real-Redis tests need redis-server ≥ 7 on PATH. Installs it with apt-get
 * when missing and running as root (CI, fresh machines); otherwise stops with a one-line instruction.
 */
export default function ensureRedisServer(): void {
  let major = redisServerMajor();
  if (major === undefined && process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env });
    major = redisServerMajor();
  }
  if (major === undefined || major < MINIMUM_MAJOR) {
    throw new Error(`redis-server (>= ${MINIMUM_MAJOR}) is required on PATH for the tests: run \`sudo apt-get install -y redis-server\``);
  }
}
