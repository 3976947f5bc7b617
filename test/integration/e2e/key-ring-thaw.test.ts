/**
 * A key ring frozen (SIGSTOP, as AWS Lambda freezes an execution environment) with the connection
 * settings docs/lambda.md gives (`socketTimeoutMs` 2 s), while another instance rotates at once, and
 * whose connections come out of the freeze silent (no reset: the node dropped them, or a NAT
 * forgot them). The catch-up of the first client assertion and JWKS after the thaw must outlast the
 * socket timeout that replaces the dead connection: with a fixed 2 s it ran out, and both carried the
 * key held before the freeze (a review of 975ebb0). Real redis-server (TLS, the app-env's ACL user)
 * behind a TCP proxy; the app in a child process (key-ring-thaw-app.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import { pause } from '../../../client/src/time-limit.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const USER = 'ringthaw-prod';
const KEK = 'key-ring-thaw-test-key-encryption-key-0123456789abcdef';
const APP = fileURLToPath(new URL('./key-ring-thaw-app.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Longer than the app's refreshIntervalMs (1 s) and a second: the ring's read is overdue at the thaw. */
const FREEZE_MS = 3_000;
const server = useTestRedis({ appEnvs: [{ app: 'ringthaw', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

describe('a key ring thawed with silent connections', () => {
  it('signs its first assertion and serves its first JWKS with the key an emergency rotation activated during the freeze', async () => {
    const proxy = await TcpProxy.start(server.port);
    const config = { url: proxy.url, ca: server.ca, username: USER, password: server.users.get(USER)!.password, keyEncryptionKey: KEK };
    const child: ChildProcess = spawn(process.execPath, [...TSX_NODE_ARGS, APP], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', KEY_RING_THAW_APP: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin!.on('error', () => undefined);
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    const line = async (prefix: string) => {
      await until(() => lines.some((l) => l.startsWith(prefix)), `the app's "${prefix}" line (so far:\n${lines.join('\n')})`, 60_000);
      return lines.find((l) => l.startsWith(prefix))!;
    };
    try {
      const held = (await line('ready ')).split(' ')[1]!;
      const other = closeLater(await KeyRing.start(closeLater(await KccRedis.connect(kccOptions(server, USER))), { keyEncryptionKey: KEK, env: {}, algorithm: 'ES256' }));
      child.kill('SIGSTOP');
      proxy.vanish(); // the app's connections drop every byte from now on; new connections pass
      const rotated = await other.rotate({ immediate: true });
      expect(rotated.kid).not.toBe(held);
      await pause(FREEZE_MS);
      child.stdin!.write('sign\n');
      child.kill('SIGCONT');
      expect((await line('signed ')).split(' ').slice(1), `held before the freeze: ${held}`).toEqual([rotated.kid, rotated.kid]);
    } finally {
      child.kill('SIGCONT');
      const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
      child.stdin!.write('exit\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await proxy.stop();
    }
  });
});
