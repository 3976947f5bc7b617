import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningExample, startExample } from '../../../examples/fastify-app/start.js';
import { nextEvent } from '../../support/events.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('examples/fastify-app: two instances, one key ring, one logout', () => {
  let dir: string;
  let example: RunningExample;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-example-test-'));
    example = await startExample({ dir });
  });
  afterAll(async () => {
    await example?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('both instances serve the identical JWKS (body and ETag)', async () => {
    const [a, b] = await Promise.all(example.instances.map(({ url }) => fetch(`${url}/.well-known/jwks.json`)));
    expect([a!.status, b!.status]).toEqual([200, 200]);
    expect(a!.headers.get('etag')).toBe(b!.headers.get('etag'));
    const body = await a!.text();
    expect(await b!.text()).toBe(body);
    expect((JSON.parse(body) as { keys: unknown[] }).keys.length).toBeGreaterThanOrEqual(1);
  });

  it('a back-channel logout sent to A (by the demo IdP) is refused on B', async () => {
    const [a, b] = example.instances;
    const token = await example.idp.login();
    for (const { url } of [a, b]) expect((await fetch(`${url}/api/me`, { headers: bearer(token) })).status).toBe(200);
    const appliedOnB = nextEvent(b.app.kcc.revocations, 'applied');
    expect(await example.idp.logout(token)).toEqual({ status: 200, target: `${a.url}/backchannel-logout` });
    await appliedOnB;
    const refused = await fetch(`${b.url}/api/me`, { headers: bearer(token) });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'invalid_token', error_description: 'token revoked' });
  });

  it('the app\'s own logout on B is refused on A; other sessions are unaffected; no token is 401', async () => {
    const [a, b] = example.instances;
    const [token, other] = await Promise.all([example.idp.login(), example.idp.login()]);
    const appliedOnA = nextEvent(a.app.kcc.revocations, 'applied');
    expect((await fetch(`${b.url}/logout`, { method: 'POST', headers: bearer(token) })).status).toBe(204);
    await appliedOnA;
    expect((await fetch(`${a.url}/api/me`, { headers: bearer(token) })).status).toBe(401);
    expect((await fetch(`${a.url}/api/me`, { headers: bearer(other) })).status).toBe(200);
    expect((await fetch(`${a.url}/api/me`)).status).toBe(401);
  });

  // An attack review: the example checked only issuer and audience, and Keycloak's ID token (same
  // realm key, aud = this client) passed as a bearer token.
  it('refuses an ID token as a bearer token: only an access token (typ "Bearer") is accepted', async () => {
    const [a] = example.instances;
    const { accessToken, idToken } = await example.idp.tokens();
    expect((await fetch(`${a.url}/api/me`, { headers: bearer(accessToken) })).status).toBe(200);
    const refused = await fetch(`${a.url}/api/me`, { headers: bearer(idToken) });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'invalid_token' });
  });

  // An attack review: the example's /health was unauthenticated and sent all of health(): the active
  // kid, the last error, the connection's counters. It is the plugin's health route now.
  it('its /health is the plugin\'s health route: states only, no key id, error or counter', async () => {
    const [a] = example.instances;
    const response = await fetch(`${a.url}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = await response.text();
    expect(JSON.parse(body)).toEqual({
      status: 'ok',
      serving: true,
      keyRing: { status: 'ready', generation: expect.any(Number) },
      revocations: { status: 'current', stalenessSeconds: expect.any(Number), failOpen: false },
    });
    expect(body).not.toContain(a.app.kcc.keyRing.health().activeKid!);
  });

  it('prints what to try, with both instance URLs', () => {
    const text = example.instructions.join('\n');
    for (const { url } of example.instances) expect(text).toContain(`${url}/.well-known/jwks.json`);
    expect(text).toContain(`${example.idp.url}/demo/logout`);
  });
});

describe('npm run example (examples/fastify-app/run.ts as a process)', () => {
  it('starts, serves the same JWKS on both printed URLs, and stops cleanly on SIGINT (exit code 0)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kcc-example-run-'));
    const child = spawn(process.execPath, [...TSX_NODE_ARGS, 'examples/fastify-app/run.ts'], {
      cwd: ROOT,
      env: { ...process.env, KCC_EXAMPLE_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no instructions within 30 s; stderr: ${stderr}`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('Ctrl-C stops everything.')) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then(() => reject(new Error(`exited early; stderr: ${stderr}`)));
      });
      const urls = [/instance A {3}(\S+)/, /instance B {3}(\S+)/].map((pattern) => pattern.exec(stdout)![1]!);
      const bodies = await Promise.all(urls.map(async (url) => (await fetch(`${url}/.well-known/jwks.json`)).text()));
      expect(bodies[0]).toBe(bodies[1]);
      const bound = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.kill('SIGINT');
      const { code, signal } = await exited;
      clearTimeout(bound);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stdout).toContain('stopped\n');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
