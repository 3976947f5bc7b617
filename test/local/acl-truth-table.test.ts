import { connect as plainConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRedis } from '../../infra/local/local-redis.js';
import { connectAs, startTestRedis } from '../support/redis.js';

const appEnvs = ['my-app', 'other-app'].flatMap((app) => ['prod', 'dev'].map((env) => ({ app, env })));
type Outcome = 'allowed' | 'denied';

/** Runs a command and classifies the reply: NOPERM (or an EXEC aborted by one) is "denied". */
async function outcome(client: Redis, args: (string | number)[]): Promise<Outcome> {
  const [command, ...rest] = args;
  try {
    if (command === 'MULTI-EXEC') {
      await client.multi().set('my-app-prod:tx', '1').exec();
    } else {
      await client.call(String(command), ...rest);
    }
    return 'allowed';
  } catch (error) {
    const message = (error as Error).message;
    if (/NOPERM/.test(message) || /EXECABORT/.test(message)) return 'denied';
    return 'allowed'; // the ACL let it through; the command itself failed for another reason
  }
}

const ownAllowed: [string, (string | number)[]][] = [
  ['SET own key', ['SET', 'my-app-prod:k', 'v']],
  ['GET own key', ['GET', 'my-app-prod:k']],
  ['EXPIRE own key', ['EXPIRE', 'my-app-prod:k', 60]],
  ['SET NX PX (lock)', ['SET', 'my-app-prod:lock', 'token', 'NX', 'PX', 1000]],
  ['DEL own key', ['DEL', 'my-app-prod:k']],
  ['PUBLISH own channel', ['PUBLISH', 'my-app-prod:bus', 'hi']],
  ['XADD own stream', ['XADD', 'my-app-prod:s', '*', 'f', 'v']],
  ['XREAD own stream', ['XREAD', 'COUNT', 1, 'STREAMS', 'my-app-prod:s', '0']],
  ['XTRIM own stream', ['XTRIM', 'my-app-prod:s', 'MAXLEN', 100]],
  ['EVAL on declared own keys', ['EVAL', "return redis.call('GET', KEYS[1])", 1, 'my-app-prod:{my-app-prod}:k']],
  ['HSET own hash', ['HSET', 'my-app-prod:{my-app-prod}:h', 'v', 1]],
  ['CLIENT SETNAME', ['CLIENT', 'SETNAME', 'kcc-test']],
  ['INFO', ['INFO', 'server']],
  ['PING', ['PING']],
];
const alwaysDenied: [string, (string | number)[]][] = [
  ["GET another app-env's key", ['GET', 'other-app-prod:k']],
  ["GET the same app's other env", ['GET', 'my-app-dev:k']],
  ["SET another app-env's key", ['SET', 'other-app-prod:k', 'v']],
  ["PUBLISH on another app-env's channel", ['PUBLISH', 'other-app-prod:bus', 'hi']],
  ['EVAL on a key outside the prefix', ['EVAL', "return redis.call('GET', KEYS[1])", 1, 'other-app-prod:k']],
  ['KEYS', ['KEYS', '*']],
  ['FLUSHALL', ['FLUSHALL']],
  ['FLUSHDB', ['FLUSHDB']],
  ['CONFIG GET', ['CONFIG', 'GET', '*']],
  ['ACL LIST', ['ACL', 'LIST']],
  ['CLIENT LIST', ['CLIENT', 'LIST']],
  ['MULTI … EXEC (use Lua instead)', ['MULTI-EXEC']],
  ['CLUSTER SLOTS outside cluster mode', ['CLUSTER', 'SLOTS']],
];
const hardenedOnlyDenied: [string, (string | number)[]][] = [
  ['SCAN without MATCH', ['SCAN', 0]],
  ['RANDOMKEY', ['RANDOMKEY']],
  ['DBSIZE', ['DBSIZE']],
  ['PUBSUB CHANNELS', ['PUBSUB', 'CHANNELS']],
  ['PUBSUB SHARDCHANNELS', ['PUBSUB', 'SHARDCHANNELS']],
  ['SCRIPT FLUSH', ['SCRIPT', 'FLUSH']],
  ['FUNCTION FLUSH', ['FUNCTION', 'FLUSH']],
];

describe.each(['guide', 'hardened'] as const)('ACL truth table: %s profile (real redis-server, TLS)', (profile) => {
  let server: LocalRedis;
  let client: Redis;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs, aclProfile: profile, persistence: 'none' });
    client = await connectAs(server, 'my-app-prod');
  });
  afterAll(async () => {
    await client?.quit();
    await server?.stop();
  });

  it.each(ownAllowed)('allows %s', async (_name, args) => {
    expect(await outcome(client, args)).toBe('allowed');
  });

  it.each(alwaysDenied)('denies %s', async (_name, args) => {
    expect(await outcome(client, args)).toBe('denied');
  });

  it.each(hardenedOnlyDenied)(`${profile === 'hardened' ? 'denies' : 'still allows (the reason for the hardened profile)'} %s`, async (_name, args) => {
    expect(await outcome(client, args)).toBe(profile === 'hardened' ? 'denied' : 'allowed');
  });

  it('allows SUBSCRIBE on its own channels and denies it on another app-env\'s', async () => {
    const subscriber = await connectAs(server, 'my-app-prod');
    try {
      await expect(subscriber.subscribe('my-app-prod:bus')).resolves.toBe(1);
      await expect(subscriber.subscribe('other-app-prod:bus')).rejects.toThrow(/NOPERM/);
    } finally {
      subscriber.disconnect();
    }
  });
});

describe('ACL truth table: cluster mode grant', () => {
  it('lets a cluster-mode user run CLUSTER SLOTS (ioredis topology discovery)', async () => {
    const server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }], clusterMode: true, persistence: 'none' });
    const client = await connectAs(server, 'my-app-prod');
    try {
      // A standalone server answers "cluster support disabled": the ACL let the command through.
      await expect(client.call('CLUSTER', 'SLOTS')).rejects.toThrow(/cluster support disabled/);
    } finally {
      await client.quit();
      await server.stop();
    }
  });
});

describe('authentication and transport', () => {
  let server: LocalRedis;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }], persistence: 'none' });
  });
  afterAll(() => server?.stop());

  /** Sends raw RESP over TLS without authenticating and returns the first reply line. */
  function rawTls(payload: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: server.host, port: server.port, ca: server.ca, servername: 'localhost' }, () => socket.write(payload));
      socket.once('data', (data) => {
        resolve(data.toString().split('\r\n')[0]!);
        socket.destroy();
      });
      socket.once('error', reject);
    });
  }

  it('answers PING before AUTH with NOAUTH', async () => {
    expect(await rawTls('PING\r\n')).toBe('-NOAUTH Authentication required.');
  });

  it('refuses a plaintext connection to the TLS port (no reply, connection closed)', async () => {
    const replies: string[] = [];
    await new Promise<void>((resolve) => {
      const socket = plainConnect({ host: server.host, port: server.port }, () => socket.write('PING\r\n'));
      socket.on('data', (data) => replies.push(data.toString()));
      socket.once('close', () => resolve());
      socket.once('error', () => undefined);
    });
    expect(replies.join('')).not.toContain('PONG');
    expect(replies.join('')).not.toContain('NOAUTH');
  });

  it('does not let the default user log in, even with its password', async () => {
    expect(await rawTls(`AUTH default ${server.defaultUserPassword}\r\n`)).toMatch(/^-WRONGPASS .*(disabled|invalid)/);
  });

  it('rejects a wrong password with WRONGPASS and accepts the right one', async () => {
    expect(await rawTls('AUTH my-app-prod not-the-password\r\n')).toMatch(/^-WRONGPASS/);
    expect(await rawTls(`AUTH my-app-prod ${server.users.get('my-app-prod')!.password}\r\n`)).toBe('+OK');
  });

  it('accepts both passwords during a rotation, and only the new one after', async () => {
    const oldPassword = server.users.get('my-app-prod')!.password;
    const newPassword = 'R'.repeat(64);
    await server.setPasswords('my-app-prod', [oldPassword, newPassword]);
    expect(await rawTls(`AUTH my-app-prod ${oldPassword}\r\n`)).toBe('+OK');
    expect(await rawTls(`AUTH my-app-prod ${newPassword}\r\n`)).toBe('+OK');
    await server.setPasswords('my-app-prod', [newPassword]);
    expect(await rawTls(`AUTH my-app-prod ${oldPassword}\r\n`)).toMatch(/^-WRONGPASS/);
    expect(await rawTls(`AUTH my-app-prod ${newPassword}\r\n`)).toBe('+OK');
  });
});
