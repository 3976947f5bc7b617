import { createHash } from 'node:crypto';
import { ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { GetSecretValueCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { KccRedis, type RedisCredentials } from '../../../client/src/index.js';
import { parseRedisUserSecret } from '../../../client/src/contract/user-secret.js';
import { Store } from '../../../client/src/store.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { createRotationHandler } from '../../../infra/rotation/rotation-handler.js';
import { nextEvent, until } from '../../support/events.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { connectAs, useTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:CacheUsermyappprodSecret-AbCdEf';
const USER_ARN = 'arn:aws:elasticache:eu-west-1:123456789012:user:my-app-prod';
const ROTATION_TAG = 'kcc-redis';
const CLIENTS = 3;
const WORKERS_PER_CLIENT = 2;

const sha256 = (password: string) => createHash('sha256').update(password).digest('hex');

/** The password hashes Redis holds for `user` (ACL GETUSER … passwords). */
async function passwordHashes(server: LocalRedis, user: string): Promise<string[]> {
  const admin = await server.admin();
  try {
    const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[];
    return [...(reply[reply.indexOf('passwords') + 1] as string[])].sort();
  } finally {
    await admin.quit();
  }
}

async function killConnectionsOf(server: LocalRedis, user: string): Promise<void> {
  const admin = await server.admin();
  try {
    await admin.call('CLIENT', 'KILL', 'USER', user);
  } finally {
    await admin.quit();
  }
}

/**
 * The rotation function's four steps as Secrets Manager drives them, with the Secrets Manager and
 * ElastiCache control planes faked in memory, except that every ModifyUser lands on the real
 * redis-server's ACL user (ACL SETUSER through the local admin), while app instances keep working.
 */
describe('rotation rehearsal: the rotation function against a real redis-server, with clients running', () => {
  const server = useTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });

  it('switches every client to the new password with zero failed commands', async () => {
    const secretsManager = new FakeSecretsManager();
    const elastiCache = new FakeElastiCache();
    const clients: KccRedis[] = [];
    try {
      const oldPassword = server.users.get(USER)!.password;
      secretsManager.add(
        SECRET_ARN,
        JSON.stringify({ username: USER, password: oldPassword, keyPrefix: 'my-app-prod:', userArn: USER_ARN, replicationGroupId: 'kcc-redis' }),
        { rotationTag: ROTATION_TAG },
      );
      elastiCache.add(USER, USER_ARN, [oldPassword]);
      elastiCache.applyPasswords = (userId, passwords) => server.setPasswords(userId, passwords);

      const handlerLog: string[] = [];
      const clientLog: string[] = [];
      const handler = createRotationHandler({
        rotationTag: ROTATION_TAG,
        // The function polls DescribeUsers; here the user turns active when the ACL change is applied.
        sleep: () => elastiCache.settled(),
        log: (entry) => handlerLog.push(JSON.stringify(entry)),
      });

      // App instances read AWSCURRENT through the SDK, as the client's secretId path does.
      const secrets = new SecretsManagerClient({ region: 'eu-west-1' });
      let secretReads = 0;
      const readSecret = async (): Promise<RedisCredentials> => {
        secretReads++;
        const { username, password } = parseRedisUserSecret((await secrets.send(new GetSecretValueCommand({ SecretId: SECRET_ARN }))).SecretString);
        return { username, password };
      };
      for (let i = 0; i < CLIENTS; i++) {
        clients.push(
          await KccRedis.connect({
            url: server.url,
            tls: { ca: server.ca },
            credentialsProvider: readSecret,
            credentialRefreshMinIntervalMs: 20,
            logger: { warn: (m, c) => clientLog.push(m + JSON.stringify(c ?? {})), info: (m, c) => clientLog.push(m + JSON.stringify(c ?? {})) },
            env: {},
          }),
        );
      }
      expect(secretReads).toBe(CLIENTS);

      let ok = 0;
      const failures: unknown[] = [];
      let running = true;
      const worker = async (store: Store, name: string) => {
        for (let i = 0; running; i++) {
          try {
            await store.set(name, String(i));
            ok++;
          } catch (error) {
            failures.push(error);
          }
        }
      };
      const workers = clients.flatMap((client, c) =>
        Array.from({ length: WORKERS_PER_CLIENT }, (_, w) => worker(new Store(client), `c${c}w${w}`)),
      );
      const okAfter = async (count: number) => {
        const target = ok + count;
        await until(() => ok >= target || failures.length > 0, `${count} more successful commands`);
      };
      await okAfter(50);

      let pendingPassword = '';
      await secretsManager.rotate(SECRET_ARN, handler, async (step) => {
        if (step === 'createSecret') {
          pendingPassword = parseRedisUserSecret(secretsManager.value(SECRET_ARN, 'AWSPENDING')).password;
          expect(await passwordHashes(server, USER)).toEqual([sha256(oldPassword)]);
        }
        if (step === 'setSecret') {
          // setSecret returns once ModifyUser is accepted (testSecret waits for "active"); here the change lands on Redis.
          await elastiCache.settled();
          // The two-password window: Redis accepts both.
          expect(await passwordHashes(server, USER)).toEqual([sha256(oldPassword), sha256(pendingPassword)].sort());
          // Instances still hold the old password: a forced reconnect succeeds with it, no re-read needed.
          const reconnected = clients.map((client) => nextEvent(client, 'ready'));
          await killConnectionsOf(server, USER);
          await Promise.all(reconnected);
          expect(clients.map((client) => client.stats.authFailures)).toEqual(clients.map(() => 0));
          // And a new instance could already log in with the pending one.
          const probe = await connectAs(server, USER, { password: pendingPassword });
          expect(await probe.ping()).toBe('PONG');
          await probe.quit();
          await okAfter(50);
        }
        if (step === 'finishSecret') {
          expect(parseRedisUserSecret(secretsManager.value(SECRET_ARN)).password).toBe(pendingPassword);
          expect(await passwordHashes(server, USER)).toEqual([sha256(pendingPassword)]);
        }
      });
      const newPassword = pendingPassword;
      expect(elastiCache.mock.commandCalls(ModifyUserCommand).map((call) => call.args[0].input)).toEqual([
        { UserId: USER, Passwords: [oldPassword, newPassword] },
        { UserId: USER, Passwords: [newPassword] },
      ]);

      // Connections authenticated before the drop stay authenticated.
      await okAfter(50);
      expect(clients.map((client) => client.stats.credentialRefreshes)).toEqual(clients.map(() => 0));

      // Force every instance to reconnect: the old password is gone, so each gets WRONGPASS once,
      // re-reads AWSCURRENT once and authenticates with the new password.
      const refreshed = clients.map((client) => nextEvent(client, 'auth-failure'));
      const ready = clients.map((client) => nextEvent(client, 'ready'));
      await killConnectionsOf(server, USER);
      expect(await Promise.all(refreshed)).toEqual(clients.map(() => ['commands', true]));
      await Promise.all(ready);
      await okAfter(200);

      running = false;
      await Promise.all(workers);
      expect(failures).toEqual([]);
      expect(clients.map((client) => client.stats.credentialRefreshes)).toEqual(clients.map(() => 1));

      // Every instance now holds the new password: another forced reconnect needs no re-read.
      const readsBefore = secretReads;
      const authFailuresBefore = clients.map((client) => client.stats.authFailures);
      const readyAgain = clients.map((client) => nextEvent(client, 'ready'));
      await killConnectionsOf(server, USER);
      await Promise.all(readyAgain);
      for (const [i, client] of clients.entries()) {
        const store = new Store(client);
        await store.set('after-rotation', String(i));
        expect(await store.get('after-rotation')).toBe(String(i));
      }
      expect(clients.map((client) => client.stats.authFailures)).toEqual(authFailuresBefore);
      expect(secretReads).toBe(readsBefore);
      expect(await passwordHashes(server, USER)).toEqual([sha256(newPassword)]);

      // Neither the function nor the clients logged a password.
      expect(handlerLog.length).toBeGreaterThan(8);
      for (const line of [...handlerLog, ...clientLog]) {
        expect(line).not.toContain(oldPassword);
        expect(line).not.toContain(newPassword);
      }
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      secretsManager.restore();
      elastiCache.restore();
    }
  });
  it("Secrets Manager's configuration test (a schedule created or changed) passes and changes nothing, with clients running", async () => {
    const secretsManager = new FakeSecretsManager();
    const elastiCache = new FakeElastiCache();
    const clients: KccRedis[] = [];
    try {
      const password = server.users.get(USER)!.password;
      const handlerLog: string[] = [];
      const handler = createRotationHandler({ rotationTag: ROTATION_TAG, sleep: () => elastiCache.settled(), log: (entry) => handlerLog.push(JSON.stringify(entry)) });
      const secretString = JSON.stringify({ username: USER, password, keyPrefix: 'my-app-prod:', userArn: USER_ARN, replicationGroupId: 'kcc-redis' });
      secretsManager.add(SECRET_ARN, secretString, { rotationTag: ROTATION_TAG, rotationEnabled: false, rotationFunction: handler });
      elastiCache.add(USER, USER_ARN, [password]);
      elastiCache.applyPasswords = (userId, passwords) => server.setPasswords(userId, passwords);
      const before = await passwordHashes(server, USER);

      const secrets = new SecretsManagerClient({ region: 'eu-west-1' });
      const readSecret = async (): Promise<RedisCredentials> => parseRedisUserSecret((await secrets.send(new GetSecretValueCommand({ SecretId: SECRET_ARN }))).SecretString);
      clients.push(await KccRedis.connect({ url: server.url, tls: { ca: server.ca }, credentialsProvider: readSecret, env: {} }));
      const store = new Store(clients[0]!);

      await secrets.send(new RotateSecretCommand({ SecretId: SECRET_ARN, RotateImmediately: false, RotationRules: { ScheduleExpression: 'rate(30 days)' } }));
      await secretsManager.settled();
      expect(secretsManager.rotations(SECRET_ARN)).toMatchObject([{ kind: 'configuration test', succeeded: true }]);
      expect(secretsManager.versionId(SECRET_ARN, 'AWSPENDING')).toBeUndefined();
      expect(elastiCache.mock.commandCalls(ModifyUserCommand)).toHaveLength(0);
      expect(await passwordHashes(server, USER)).toEqual(before);

      // A forced reconnect still authenticates with the same password, without re-reading the secret.
      const ready = nextEvent(clients[0]!, 'ready');
      await killConnectionsOf(server, USER);
      await ready;
      await store.set('after-configuration-test', '1');
      expect(await store.get('after-configuration-test')).toBe('1');
      expect(clients[0]!.stats.authFailures).toBe(0);
      for (const line of handlerLog) expect(line).not.toContain(password);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      secretsManager.restore();
      elastiCache.restore();
    }
  });
});
