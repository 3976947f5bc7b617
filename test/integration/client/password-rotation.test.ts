import { describe, expect, it } from 'vitest';
import { KccRedis, type RedisCredentials } from '../../../client/src/index.js';
import { Store } from '../../../client/src/store.js';
import { useTestRedis } from '../../support/redis.js';
import { nextEvent } from '../../support/events.js';
import { startWriteWorkers } from '../../support/write-workers.js';

const USER = 'my-app-prod';

describe('password rotation (real redis-server, TLS, ACL users)', () => {
  const server = useTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });

  it('a rotated password causes zero failed commands; the client ends on the new password from the secret', async () => {
    const oldPassword = server.users.get(USER)!.password;
    const newPassword = 'N'.repeat(32) + 'n'.repeat(32);
    // The test's secret source: what Secrets Manager's AWSCURRENT would return.
    let secret: RedisCredentials = { username: USER, password: oldPassword };
    let secretReads = 0;
    const logged: string[] = [];
    const redis = await KccRedis.connect({
      url: server.url,
      tls: { ca: server.ca },
      credentialsProvider: async () => {
        secretReads++;
        return secret;
      },
      credentialRefreshMinIntervalMs: 20,
      logger: { warn: (m, c) => logged.push(m + JSON.stringify(c ?? {})), info: (m, c) => logged.push(m + JSON.stringify(c ?? {})) },
      env: {},
    });
    const store = new Store(redis);
    const workers = startWriteWorkers(store);
    const okAfter = (count: number) => workers.okAfter(count);

    await okAfter(50);
    // ElastiCache rotation: the user gets the new password beside the old, AWSCURRENT moves, the old is removed.
    await server.setPasswords(USER, [oldPassword, newPassword]);
    secret = { username: USER, password: newPassword };
    await server.setPasswords(USER, [newPassword]);
    await okAfter(50); // existing connections stay authenticated
    expect(secretReads).toBe(1);

    // Force every connection of the user to reconnect: they must authenticate again.
    const refreshed = nextEvent(redis, 'auth-failure');
    const admin = await server.admin();
    await admin.call('CLIENT', 'KILL', 'USER', USER);
    await admin.quit();
    expect(await refreshed).toEqual(['commands', true]);
    await okAfter(200);

    await workers.stop();
    expect(workers.failures).toEqual([]);
    expect(secretReads).toBe(2);
    expect(redis.stats.credentialRefreshes).toBe(1);
    // And the connection now in use authenticated with the new password (the old one no longer exists).
    const killedAgain = nextEvent(redis, 'ready');
    const admin2 = await server.admin();
    await admin2.call('CLIENT', 'KILL', 'USER', USER);
    await admin2.quit();
    await killedAgain;
    await store.set('after', 'ok');
    expect(await store.get('after')).toBe('ok');
    expect(redis.stats.authFailures).toBe(1);
    // The rotation was logged, without a password.
    expect(logged.some((line) => line.includes('credentials re-read'))).toBe(true);
    for (const line of logged) {
      expect(line).not.toContain(oldPassword);
      expect(line).not.toContain(newPassword);
    }
    await redis.close();
  });

  it('fixed credentials that Redis rejects fail at start with a clear error naming the user, not the password', async () => {
    const error = await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, username: USER, password: 'wrong-password', env: {} }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KCC_AUTH_FAILED' });
    expect(String((error as Error).message)).toMatch(/Redis rejected the credentials of user "my-app-prod" and they are fixed .* \(WRONGPASS\)/);
    expect(String((error as Error).message)).not.toContain('wrong-password');
    // A server on loopback is the local harness: the hint points at its env file, not at a secret id.
    expect(String((error as Error).message)).toMatch(/load the <app>-<env>\.env file that `kcc-redis local` wrote/);
    expect(String((error as Error).message)).not.toMatch(/secret/i);
  });
});
