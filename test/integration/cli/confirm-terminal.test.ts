/**
 * The `[y/N]` question on a real terminal: the CLI runs under `script` (util-linux), which gives it a
 * pseudo-terminal, and the test types on it. Ctrl-D and Ctrl-C at the question decline, as `n` does:
 * exit 2, nothing changed (docs/operations.md, "Confirmation"). The CLI connects before it asks (its
 * checks that need Redis run first), so a real server answers; nothing is written to it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { namespacedKey } from '../../../client/src/contract/naming.js';
import { REVOCATION_KEYS } from '../../../client/src/revocation/revocation-keys.js';
import { asAdmin, useTestRedis } from '../../support/redis.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const QUESTION = 'Proceed? [y/N]';
const server = useTestRedis({ appEnvs: [{ app: 'shop', env: 'dev' }], persistence: 'none' });

/** Runs `kcc-redis <args>` on a pseudo-terminal, types `keys` once the question shows, and resolves with the exit code and what the terminal showed. */
function onTerminal(args: readonly string[], keys: string): Promise<{ code: number | null; screen: string }> {
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  const command = [process.execPath, ...TSX_NODE_ARGS, 'bin/kcc-redis.ts', ...args].map(quote).join(' ');
  const env = { PATH: process.env.PATH ?? '', KCC_REDIS_URL: server.url, KCC_REDIS_USERNAME: 'shop-dev', KCC_REDIS_PASSWORD: server.users.get('shop-dev')!.password, KCC_REDIS_CA_FILE: server.tls.caFile };
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let typed = false;
  const read = (chunk: Buffer) => {
    screen += chunk.toString('utf8');
    if (!typed && screen.includes(QUESTION)) {
      typed = true;
      child.stdin.end(keys);
    }
  };
  child.stdout.on('data', read);
  child.stderr.on('data', read);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, screen: screen.replace(/\r/g, '') }));
  });
}

describe('kcc-redis revoke: the confirmation question on a terminal', () => {
  it.each([
    ['Ctrl-D (end of input)', '\x04'],
    ['Ctrl-C', '\x03'],
    ['"n"', 'n\r'],
  ])('%s declines: exit 2, "not confirmed; nothing was changed"', async (_name, keys) => {
    const { code, screen } = await onTerminal(['revoke', '--app', 'shop', '--env', 'dev', '--sid', 'abc', '--session-max-lifetime-ms', '36000000'], keys);
    expect(screen).toContain(`revoke session "abc" in shop-dev (endpoint 127.0.0.1:${server.port})\n${QUESTION}`);
    expect(screen).toContain('kcc-redis revoke: not confirmed; nothing was changed');
    expect(code).toBe(2);
    await asAdmin(server, async (admin) => expect(await admin.exists(namespacedKey('shop-dev:', REVOCATION_KEYS.sessions), namespacedKey('shop-dev:', REVOCATION_KEYS.log))).toBe(0));
  });
});
