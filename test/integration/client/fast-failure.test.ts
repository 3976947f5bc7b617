/**
 * Failures that retrying cannot fix end the first connect with their reason instead of waiting out
 * connectTimeoutMs. The timeout here is far longer than the test's own: a test passes only through
 * the fast path (no timing is measured).
 */
import { type Server, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccConnectionError, KccRedis } from '../../../client/src/index.js';
import { appEnvUserName } from '../../../client/src/contract/naming.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { freePort } from '../../../local/local-util.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const APP_ENV = { app: 'fast', env: 'dev' };
const USER = appEnvUserName(APP_ENV);
const NEVER = 10 * 60_000;

async function connectError(promise: Promise<KccRedis>): Promise<KccConnectionError> {
  const outcome = await promise.then(async (redis) => {
    await redis.close();
    return new Error('connected');
  }, (error: unknown) => error);
  expect(outcome).toBeInstanceOf(KccConnectionError);
  return outcome as KccConnectionError;
}

describe('first connect: fail fast on what retrying cannot fix', () => {
  let server: LocalRedis;
  let plaintext: Server;
  let plaintextPort: number;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [APP_ENV], persistence: 'none' });
    // A plaintext "Redis" that answers anything with +PONG: a TLS client gets no handshake.
    plaintext = createServer((socket) => socket.on('data', () => socket.write('+PONG\r\n')).on('error', () => undefined));
    await new Promise<void>((resolve) => plaintext.listen(0, '127.0.0.1', resolve));
    plaintextPort = (plaintext.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => plaintext?.close(() => resolve()));
    await server?.stop();
  });

  it('an untrusted certificate (no CA given for the local CA) names the certificate error and the CA options', async () => {
    const error = await connectError(KccRedis.connect(kccOptions(server, USER, { tls: undefined, connectTimeoutMs: NEVER, heartbeat: false })));
    expect(error.message).toMatch(/^commands connection to 127\.0\.0\.1:\d+ failed: TLS: the server's certificate is not accepted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); trust the CA that signed it with tls\.caFile or KCC_REDIS_CA_FILE/);
  });

  it('a certificate for another host name says so', async () => {
    const error = await connectError(KccRedis.connect(kccOptions(server, USER, { tls: { ca: server.ca, servername: 'cache.example.com' }, connectTimeoutMs: NEVER, heartbeat: false })));
    expect(error.message).toContain("TLS: the server's certificate is not accepted (ERR_TLS_CERT_ALTNAME_INVALID)");
  });

  it('a port where nothing listens fails after a few refusals, not after the timeout', async () => {
    const port = await freePort();
    const error = await connectError(KccRedis.connect(kccOptions(server, USER, { url: `rediss://127.0.0.1:${port}`, connectTimeoutMs: NEVER, heartbeat: false })));
    expect(error.message).toBe(`commands connection to 127.0.0.1:${port} failed: connection refused 3 times in a row (nothing listens there): check the URL and port, and that Redis runs`);
  });

  it('a plaintext port behind rediss:// says TLS is missing', async () => {
    const error = await connectError(KccRedis.connect(kccOptions(server, USER, { url: `rediss://127.0.0.1:${plaintextPort}`, connectTimeoutMs: NEVER, heartbeat: false })));
    expect(error.message).toContain('TLS: the server did not answer with TLS (wrong version number); is this a plaintext port?');
  });

  // Cluster mode finds the nodes with CLUSTER SLOTS; ioredis reports its refusal only as "Failed to refresh slots cache", and tries again until the timeout.
  it('cluster mode with a user that may not run CLUSTER SLOTS (a stack deployed without clusterMode) names +cluster|slots and clusterMode', async () => {
    const error = await connectError(KccRedis.connect(kccOptions(server, USER, { clusterMode: true, connectTimeoutMs: NEVER, heartbeat: false })));
    expect(error.message).toMatch(/^commands connection to 127\.0\.0\.1:\d+ failed: the user may not run CLUSTER SLOTS \(NOPERM [^)]*'cluster\|slots'[^)]*\), which cluster mode needs to find the nodes: its access string lacks \+cluster\|slots, which the stack grants when deployed with clusterMode: true\. If the cache has cluster mode disabled, connect without clusterMode$/);
  });

  it('cluster mode against a server with cluster mode disabled says so', async () => {
    const admin = await server.admin();
    try {
      await admin.call('ACL', 'SETUSER', USER, '+cluster|slots');
      const error = await connectError(KccRedis.connect(kccOptions(server, USER, { clusterMode: true, connectTimeoutMs: NEVER, heartbeat: false })));
      expect(error.message).toMatch(/failed: the server has cluster mode disabled \(ERR This instance has cluster support disabled\): connect without clusterMode, or give the configuration endpoint of a cluster-mode-enabled cache$/);
    } finally {
      await admin.call('ACL', 'SETUSER', USER, '-cluster|slots');
      admin.disconnect();
    }
  });
});
