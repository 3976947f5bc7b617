/**
 * An app frozen as AWS Lambda freezes an execution environment between invocations: its process is
 * SIGSTOPped (no timer fires, nothing is read), Redis closes its connections meanwhile (CLIENT KILL),
 * another instance logs a session out and rotates the signing key at once (an emergency rotation),
 * and the request that thaws it was sent while it was frozen, on a connection kept alive from the
 * invocation before (as Lambda hands the invocation over right after the thaw). Lambda itself does
 * not run here: what it does is taken from its documentation (docs/lambda.md).
 *
 * The freeze outlasts `maxStalenessMs` and the key ring's `refreshIntervalMs` (both shortened here;
 * on Lambda, the defaults and idle periods of minutes). Real redis-server (TLS, the app-env's ACL user),
 * the app in a child process (lambda-freeze-app.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing, Revocations } from '../../../client/src/index.js';
import { pause } from '../../../client/src/time-limit.js';
import { closeAfterEach } from '../../support/closing.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const USER = 'shop-prod';
const KEY_RING = { keyEncryptionKey: 'lambda-freeze-test-key-encryption-key-0123456789abcdef', env: {}, algorithm: 'ES256' as const };
/** Longer than the app's maxStalenessMs (1 s) and its key ring's refreshIntervalMs (1 s) plus a second. */
const FREEZE_MS = 3_000;
/** The plugin's JWKS route (its default path). */
const JWKS = '/.well-known/jwks.json';
const APP = fileURLToPath(new URL('./lambda-freeze-app.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const server = useTestRedis({ appEnvs: [{ app: 'shop', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

interface Response {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The app in its own process, and one kept-alive HTTP connection to it. */
class FrozenApp {
  readonly lines: string[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private constructor(
    private readonly child: ChildProcess,
    private readonly url: string,
  ) {}

  static async start(connectionName: string): Promise<FrozenApp> {
    const config = {
      url: server.url, ca: server.ca, username: USER, password: server.users.get(USER)!.password, connectionName,
      maxStalenessMs: 1_000, keyRing: { ...KEY_RING, refreshIntervalMs: 1_000 },
    };
    const child = spawn(process.execPath, [...TSX_NODE_ARGS, APP], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', LAMBDA_FREEZE_APP: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin!.on('error', () => undefined);
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the app did not start within 30 s:\n${lines.join('\n')}`)), 30_000);
      child.once('exit', (code) => reject(new Error(`the app exited (${code}) before ready:\n${lines.join('\n')}`)));
      const check = setInterval(() => {
        const ready = lines.find((line) => line.startsWith('ready '));
        if (!ready) return;
        clearInterval(check);
        clearTimeout(timer);
        resolve(ready.slice('ready '.length));
      }, 20);
    });
    const app = new FrozenApp(child, url);
    app.lines.push(...lines);
    return app;
  }

  /** Sends a GET on the kept-alive connection; `sent` resolves once it is handed to the OS, `response` with the answer. */
  get(path: string, headers: Record<string, string> = {}): { readonly sent: Promise<void>; readonly response: Promise<Response> } {
    let sent!: () => void;
    const handed = new Promise<void>((resolve) => (sent = resolve));
    const response = new Promise<Response>((resolve, reject) => {
      const req = request(`${this.url}${path}`, { agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
        res.on('error', reject);
      });
      req.on('finish', () => sent());
      req.on('error', reject);
      req.end();
    });
    return { sent: handed, response };
  }

  freeze(): void {
    this.child.kill('SIGSTOP');
  }

  thaw(): void {
    this.child.kill('SIGCONT');
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.thaw();
    const exited = new Promise<void>((resolve) => (this.child.exitCode !== null ? resolve() : this.child.once('exit', () => resolve())));
    this.child.stdin!.write('exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Closes every connection whose name starts with `name` (Redis closing idle clients while the environment is frozen). */
async function killConnections(name: string): Promise<number> {
  const admin = await server.admin();
  try {
    const list = (await admin.call('CLIENT', 'LIST')) as string;
    const ids = list.split('\n').filter((line) => line.includes(` name=${name}`)).map((line) => /id=(\d+)/.exec(line)![1]!);
    for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
    return ids.length;
  } finally {
    admin.disconnect();
  }
}

/** Another instance of the app-env, running all along. */
async function otherInstance(): Promise<{ readonly ring: KeyRing; readonly revocations: Revocations }> {
  const redis = closeLater(await KccRedis.connect(kccOptions(server, USER), ['subscriber', 'reader']));
  return { ring: closeLater(await KeyRing.start(redis, KEY_RING)), revocations: closeLater(await Revocations.start(redis)) };
}

describe('an app frozen between invocations (SIGSTOP, as AWS Lambda does), thawed by a request', () => {
  let app: FrozenApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const claims = (sid: string) => ({ 'x-test-claims': JSON.stringify({ sid, sub: 'alice', iat: Math.floor(Date.now() / 1000) - 5 }) });

  it('requireNotRevoked: the first request after the thaw is served (not 503), and a session logged out during the freeze is refused', async () => {
    app = await FrozenApp.start('lambda-app-revocations');
    const other = await otherInstance();
    expect((await app.get('/me', claims('a-session')).response).status).toBe(200);
    app.freeze();
    await other.revocations.revokeSession('logged-out-while-frozen');
    expect(await killConnections('lambda-app-revocations')).toBeGreaterThan(0);
    await pause(FREEZE_MS);
    const first = app.get('/me', claims('a-session'));
    await first.sent;
    app.thaw();
    const answer = await first.response;
    expect(answer, JSON.stringify(answer.body)).toMatchObject({ status: 200 });
    expect((await app.get('/me', claims('logged-out-while-frozen')).response).status).toBe(401);
  });

  it('clientAuth: the first client assertion after the thaw is signed with the key an emergency rotation activated during the freeze', async () => {
    app = await FrozenApp.start('lambda-app-key-ring');
    const other = await otherInstance();
    const before = other.ring.signingKey().kid;
    expect((await app.get('/assertion').response).body).toEqual({ kid: before });
    app.freeze();
    const rotated = await other.ring.rotate({ immediate: true });
    expect(other.ring.jwks().keys.map((key) => key.kid)).toEqual([rotated.kid]); // the key held by the frozen app is gone
    expect(await killConnections('lambda-app-key-ring')).toBeGreaterThan(0);
    await pause(FREEZE_MS);
    const first = app.get('/assertion');
    await first.sent;
    app.thaw();
    expect((await first.response).body.kid, `the kid of the first assertion after the thaw (held before the freeze: ${before})`).toBe(rotated.kid);
  });

  it('the JWKS route: the first set served after the thaw is the one an emergency rotation wrote during the freeze', async () => {
    app = await FrozenApp.start('lambda-app-jwks');
    const other = await otherInstance();
    const kids = (response: Response) => (response.body.keys as { kid: string }[]).map((key) => key.kid);
    const before = other.ring.signingKey().kid;
    expect(kids(await app.get(JWKS).response)).toContain(before);
    app.freeze();
    const rotated = await other.ring.rotate({ immediate: true });
    expect(await killConnections('lambda-app-jwks')).toBeGreaterThan(0);
    await pause(FREEZE_MS);
    const first = app.get(JWKS);
    await first.sent;
    app.thaw();
    expect(kids(await first.response), `the kids of the first JWKS after the thaw (held before the freeze: ${before})`).toEqual([rotated.kid]);
  });
});
