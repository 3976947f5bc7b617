import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { LocalRedis } from '../../../local/local-redis.js';
import { useTestRedis } from '../../support/redis.js';
import { KEY_RING, USER } from './support.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/serve-once.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** How long the child may take to exit after its app closed: generous for a loaded 2-core machine, far below a hang. */
const EXIT_BOUND_MS = 15_000;

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the test had to kill it: it did not exit on its own within the bound. */
  readonly killed: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the fixture, GETs the JWKS once when it listens, and waits (bounded) for it to exit on its own. */
async function serveOnce(server: LocalRedis, mode: 'plugin-owned' | 'caller-owned'): Promise<Finished & { jwksStatus: number }> {
  const child: ChildProcess = spawn(process.execPath, [...TSX_NODE_ARGS, FIXTURE], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      FIXTURE_MODE: mode,
      KCC_REDIS_URL: server.url,
      KCC_REDIS_USERNAME: USER,
      KCC_REDIS_PASSWORD: server.users.get(USER)!.password,
      KCC_REDIS_CA_FILE: server.tls.caFile,
      KCC_KEYRING_KEK: KEY_RING.keyEncryptionKey,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let killed = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const kill = () => {
    killed = true;
    child.kill('SIGKILL');
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fixture did not listen within 30 s; stderr: ${stderr}`)), 30_000);
      child.stdout!.on('data', () => {
        const match = /listening (http:\/\/\S+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then(() => reject(new Error(`fixture exited before listening; stderr: ${stderr}`)));
    });
    const response = await fetch(`${url}/.well-known/jwks.json`);
    await response.arrayBuffer();
    const bound = setTimeout(kill, EXIT_BOUND_MS);
    const { code, signal } = await exited;
    clearTimeout(bound);
    return { code, signal, killed, stdout, stderr, jwksStatus: response.status };
  } catch (error) {
    kill();
    await exited;
    throw error;
  }
}

describe('onClose leaves no open handle: a process that registers the plugin, serves and closes exits on its own', () => {
  const server = useTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' });

  it('with the connection the plugin opened (from KCC_* environment variables)', async () => {
    const result = await serveOnce(server, 'plugin-owned');
    expect(result.jwksStatus).toBe(200);
    expect(result.killed, `still running ${EXIT_BOUND_MS} ms after closing; stderr: ${result.stderr}`).toBe(false);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stdout).toContain('closed\n');
  });

  it('with a connection the caller owns: still open after app.close(), and the process exits once the caller closes it', async () => {
    const result = await serveOnce(server, 'caller-owned');
    expect(result.jwksStatus).toBe(200);
    expect(result.killed, `still running ${EXIT_BOUND_MS} ms after closing; stderr: ${result.stderr}`).toBe(false);
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });
    expect(result.stdout).toContain('caller connection after close: ready\n');
  });
});
