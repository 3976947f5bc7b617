import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccAwsError, KccRedis } from '../../../client/src/index.js';
import { resolveKeyEncryptionKeys } from '../../../client/src/keyring/key-ring-options.js';
import { until } from '../../support/events.js';
import { TSX_NODE_ARGS } from '../../support/tsx.js';

const quiet = { info: () => {}, warn: () => {} };

/**
 * Secrets Manager and ElastiCache behind an endpoint that accepts connections and never answers (a
 * VPC endpoint or NAT gateway gone black-holes requests this way). The real AWS SDK sends the
 * requests over real HTTP: AWS_ENDPOINT_URL points every service at it, as the SDKs' documented
 * endpoint override does (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
 * Before the calls were bounded, each of these waited for as long as the socket stayed open.
 */
describe('an AWS API that never answers (a black-holed endpoint on loopback, the real AWS SDK)', () => {
  let server: Server;
  const open = new Set<Socket>();
  let closed = 0;
  const saved: Record<string, string | undefined> = {};
  const ENV = { AWS_ENDPOINT_URL: '', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', AWS_REGION: 'eu-west-1' };

  beforeAll(async () => {
    server = createServer((socket) => {
      open.add(socket);
      socket.resume();
      socket.on('close', () => {
        open.delete(socket);
        closed++;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    ENV.AWS_ENDPOINT_URL = `http://127.0.0.1:${port}`;
    for (const [name, value] of Object.entries(ENV)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  /**
   * Until every request the client sent has had its socket closed (by the client: the server never
   * closes one), and then no new one for a second and a half: without the abort, the client's destroy()
   * closes the socket all the same, and the SDK sends the request again on a new one (a retry that
   * outlives the failure).
   */
  async function requestsAbandoned(closedBefore: number): Promise<void> {
    await until(() => closed > closedBefore && open.size === 0, 'the client closing the request it gave up on');
    const accepted = closed + open.size;
    await sleep(1_500);
    expect({ opened: closed + open.size - accepted, open: open.size }).toEqual({ opened: 0, open: 0 });
  }

  it('connect with a secretId fails after connectTimeoutMs with a KccAwsError naming the secret, the service and the option, and closes the request', async () => {
    const before = closed;
    const failure = await KccRedis.connect({ secretId: 'kcc-redis/my-app-prod', region: 'eu-west-1', connectTimeoutMs: 800, env: {}, logger: quiet }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KccAwsError);
    expect((failure as Error).message).toMatch(/^could not read secret "kcc-redis\/my-app-prod": Secrets Manager did not answer within 800 ms \(connectTimeoutMs;.*\): check that it is reachable/);
    await requestsAbandoned(before);
  });

  it('connect with a replicationGroupId to discover fails the same way, naming ElastiCache', async () => {
    const before = closed;
    const failure = await KccRedis.connect({ replicationGroupId: 'kcc-redis', username: 'my-app-prod', password: 'p'.repeat(32), region: 'eu-west-1', connectTimeoutMs: 800, env: {}, logger: quiet }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KccAwsError);
    expect((failure as Error).message).toMatch(/^replication group "kcc-redis": ElastiCache did not answer within 800 ms \(connectTimeoutMs;/);
    await requestsAbandoned(before);
  });

  it('the key-encryption-key secret: the first read fails with the same error, and a key ring never starts on a read that hangs', async () => {
    const before = closed;
    const failure = await resolveKeyEncryptionKeys({ keyEncryptionKeySecretId: 'kcc-redis/my-app-prod/kek', env: {} }, quiet, undefined, 'eu-west-1', 800).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(KccAwsError);
    expect((failure as Error).message).toMatch(/^could not read secret "kcc-redis\/my-app-prod\/kek": Secrets Manager did not answer within 800 ms/);
    await requestsAbandoned(before);
  });

  /** Runs `body` (an ES module's statements) in a process of its own, with the client's sources imported as `client`. */
  async function runScript(body: string): Promise<{ code: number | string | null; stdout: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'kcc-silent-'));
    try {
      const script = join(dir, 'start.mts');
      await writeFile(script, `import * as client from ${JSON.stringify(resolve('client/src/index.ts'))};\nimport { resolveConnection } from ${JSON.stringify(resolve('client/src/resolve-options.ts'))};\n${body}\n`);
      return await new Promise((done) => {
        execFile(process.execPath, [...TSX_NODE_ARGS, script], { timeout: 60_000 }, (error, stdout) => done({ code: error ? (error.code ?? error.signal ?? null) : 0, stdout }));
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('a start whose credentialsProvider never answers, and holds nothing open, fails with the error: the process does not exit silently', async () => {
    // Nothing else keeps this process alive: before, the bound's timer did not either, so Node exited
    // (code 13, a top-level await never settled) with no error and no log line.
    const outcome = await runScript(
      `try { await client.KccRedis.connect({ url: 'rediss://127.0.0.1:1', keyPrefix: 'my-app-prod:', connectTimeoutMs: 300, env: {}, credentialsProvider: () => new Promise(() => {}) }); console.log('connected'); }\n` +
        `catch (error) { console.log(error.code, error.message); }`,
    );
    expect(outcome.stdout).toMatch(/^KCC_AWS_LOOKUP_FAILED credentialsProvider did not answer within 300 ms/);
    expect(outcome.code).toBe(0);
  });

  it('a re-read that never answers does not hold a process that is done: it ends, though the bound is an hour', async () => {
    // The bound of a re-read does not keep the process alive (a closing app would wait for it); only a start's does.
    const outcome = await runScript(
      `let calls = 0;\n` +
        `const resolved = await resolveConnection({ url: 'rediss://127.0.0.1:1', keyPrefix: 'my-app-prod:', connectTimeoutMs: 3_600_000, env: {}, credentialsProvider: () => (++calls === 1 ? Promise.resolve({ username: 'my-app-prod', password: 'p'.repeat(32) }) : new Promise(() => {})) });\n` +
        `void resolved.refreshCredentials().catch(() => {});\n` +
        `await new Promise((next) => setImmediate(next));\n` +
        `console.log('re-read under way', calls);`,
    );
    expect(outcome.stdout).toBe('re-read under way 2\n');
    expect(outcome.code).toBe(0);
  });
});
