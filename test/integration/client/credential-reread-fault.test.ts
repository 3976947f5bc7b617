import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KccAuthError, type KccConnectionOptions, KccRedis, type RedisCredentials } from '../../../client/src/index.js';
import { Store } from '../../../client/src/store.js';
import { useTestRedis } from '../../support/redis.js';
import { until } from '../../support/events.js';
import { startWriteWorkers } from '../../support/write-workers.js';

const USER = 'my-app-prod';

/** What a Secrets Manager read that outlasted the SDK's retries throws. */
function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
}

describe('a failed credential re-read after a rotation (real redis-server, TLS, ACL users)', () => {
  const server = useTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });

  /** Rotates USER's password the way ElastiCache and Secrets Manager do; returns the new one. */
  async function rotate(secret: { current: RedisCredentials }, newPassword: string): Promise<void> {
    const oldPassword = secret.current.password;
    await server.setPasswords(USER, [oldPassword, newPassword]);
    secret.current = { username: USER, password: newPassword };
    await server.setPasswords(USER, [newPassword]);
  }

  /** Forces every connection of USER to reconnect, and so to authenticate again. */
  async function killConnections(): Promise<void> {
    const admin = await server.admin();
    await admin.call('CLIENT', 'KILL', 'USER', USER);
    await admin.quit();
  }

  /**
   * Connects with a credentials provider reading `secret`, of which the next read after `misbehaveNext()`
   * is `misbehaving()` instead; writes run from the start.
   */
  async function connectUnderLoad(misbehaving: () => Promise<RedisCredentials>, options: KccConnectionOptions) {
    const secret = { current: { username: USER, password: server.users.get(USER)!.password } };
    let armed = false;
    let reads = 0;
    const redis = await KccRedis.connect({
      url: server.url,
      tls: { ca: server.ca },
      env: {},
      heartbeat: false,
      ...options,
      credentialsProvider: async () => {
        reads++;
        if (!armed) return secret.current;
        armed = false;
        return misbehaving();
      },
      logger: { warn: () => {}, info: () => {} },
    });
    const store = new Store(redis);
    const workers = startWriteWorkers(store);
    await until(() => workers.ok >= 50, '50 writes before the rotation');
    return {
      redis,
      store,
      workers,
      reads: () => reads,
      /** Rotates the password, arms the misbehaving read, and makes every connection authenticate again. */
      async rotateAndKill(newPassword: string): Promise<void> {
        await rotate(secret, newPassword);
        armed = true;
        await killConnections();
      },
    };
  }

  it('one failed re-read costs an attempt, not the commands: the next read picks up the new password', async () => {
    // The first reconnect comes 250 to 500 ms after the kill: time to queue commands before its AUTH fails.
    const { redis, store, workers, reads, rotateAndKill } = await connectUnderLoad(async () => {
      throw throttled();
    }, { reconnectBaseDelayMs: 500 });
    try {
      await rotateAndKill('A'.repeat(32) + 'b'.repeat(32));
      // Commands sent while the connection waits to reconnect are the ones its failed AUTH rejects.
      await until(() => redis.client.status === 'reconnecting', 'the command connection waiting to reconnect');
      const probes = [0, 1, 2, 3].map((n) => store.set(`p${n}`, 'x').then(() => 'ok', (error: unknown) => String(error)));
      await workers.okAfter(300, '300 more writes after the connections were killed', 30_000);
      expect(await Promise.all(probes)).toEqual(['ok', 'ok', 'ok', 'ok']);
    } finally {
      await workers.stop();
    }
    expect(workers.failures).toEqual([]);
    expect(reads()).toBeGreaterThanOrEqual(3); // at start, the failed read, the one that found the new password
    expect(redis.stats.credentialRefreshes).toBe(1);
    await redis.close();
  });

  it('a re-read that never answers is given up after connectTimeoutMs: the next read picks up the new password, and commands resume', async () => {
    // A vault or network that black-holes the call: before the bound, every later re-read joined this one, for good.
    const hang = () => new Promise<RedisCredentials>(() => {});
    const { redis, workers, reads, rotateAndKill } = await connectUnderLoad(hang, { connectTimeoutMs: 1_500, credentialRefreshMinIntervalMs: 100 });
    try {
      await rotateAndKill('E'.repeat(32) + 'f'.repeat(32));
      await workers.okAfter(300, '300 more writes after the connections were killed', 30_000);
    } finally {
      await workers.stop();
    }
    expect(reads()).toBeGreaterThanOrEqual(3); // at start, the read that hung, the one that found the new password
    expect(redis.stats.credentialRefreshes).toBe(1);
    await redis.close();
  });

  it('re-reads that keep failing end in a KccAuthError naming the last read failure, with no password anywhere', async () => {
    const secret = { current: { username: USER, password: server.users.get(USER)!.password } };
    let failing = false;
    const redis = await KccRedis.connect({
      url: server.url,
      tls: { ca: server.ca },
      env: {},
      heartbeat: false,
      credentialRefreshMinIntervalMs: 20,
      credentialsProvider: async () => {
        if (failing) throw throttled();
        return secret.current;
      },
      logger: { warn: () => {}, info: () => {} },
    });
    const oldPassword = secret.current.password;
    const newPassword = 'C'.repeat(32) + 'd'.repeat(32);
    await rotate(secret, newPassword);
    failing = true;
    await killConnections();
    await until(() => redis.client.status === 'reconnecting', 'the command connection waiting to reconnect');
    const failure = await redis.run((r) => r.set(redis.key('k'), '1')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KccAuthError);
    expect((failure as Error).message).toMatch(/user "my-app-prod".*re-reading them failed \(ThrottlingException: Rate exceeded\)/);
    const dump = `${inspect(failure, { depth: 10 })}${JSON.stringify(failure)}${String((failure as Error).cause)}`;
    expect(dump).not.toContain(oldPassword);
    expect(dump).not.toContain(newPassword);
    // Once reads work again, so do commands.
    failing = false;
    expect(await redis.run((r) => r.set(redis.key('k'), '2'))).toBe('OK');
    await redis.close();
  });
});
