/**
 * The local ElastiCache-like server itself, against the real redis-server: authentication (NOAUTH
 * before AUTH, default user off, WRONGPASS), TLS only, password rotation, and data surviving a crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppEnv, appEnvUserName, keyPrefix, namespacedKey } from '../../../client/src/contract/naming.js';
import { type LocalRedis, randomPassword } from '../../../local/local-redis.js';
import { rawCommand } from '../../support/raw-resp.js';
import { connectAs, startTestRedis } from '../../support/redis.js';

const APP_ENVS: AppEnv[] = ['my-app', 'other-app'].flatMap((app) => ['prod', 'dev'].map((env) => ({ app, env })));
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.';

describe('authentication and transport', () => {
  let server: LocalRedis;
  const USER = appEnvUserName(APP_ENVS[0]!);
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
  });
  afterAll(() => server?.stop());

  it('answers PING before AUTH with NOAUTH (raw RESP over TLS)', async () => {
    expect(await rawCommand(server, ['PING'])).toEqual({ line: '-NOAUTH Authentication required.' });
  });

  it('answers PING before AUTH with NOAUTH (ioredis without credentials)', async () => {
    const anonymous = await connectAs(server, USER, { anonymous: true });
    try {
      await expect(anonymous.ping()).rejects.toThrow(/^NOAUTH Authentication required/);
    } finally {
      anonymous.disconnect();
    }
  });

  it('refuses a plaintext connection to the TLS port: closed without any RESP reply', async () => {
    expect(await rawCommand(server, ['PING'], { plaintext: true })).toEqual({ closedWithoutReply: true });
  });

  it('does not let the default user log in, even with its password (it is off)', async () => {
    expect(await rawCommand(server, ['AUTH', 'default', server.defaultUserPassword])).toEqual({ line: WRONGPASS });
  });

  it('rejects a wrong password with WRONGPASS and accepts the right one', async () => {
    expect(await rawCommand(server, ['AUTH', USER, `${server.users.get(USER)!.password}x`])).toEqual({ line: WRONGPASS });
    expect(await rawCommand(server, ['AUTH', USER, server.users.get(USER)!.password])).toEqual({ line: '+OK' });
  });

  it('setPasswords: two passwords both work during a rotation; after removing the first only the second works', async () => {
    const first = server.users.get(USER)!.password;
    const second = randomPassword();
    await server.setPasswords(USER, [first, second]);
    expect(server.users.get(USER)!.password).toBe(second);
    expect(await rawCommand(server, ['AUTH', USER, first])).toEqual({ line: '+OK' });
    expect(await rawCommand(server, ['AUTH', USER, second])).toEqual({ line: '+OK' });
    await server.setPasswords(USER, [second]);
    expect(await rawCommand(server, ['AUTH', USER, first])).toEqual({ line: WRONGPASS });
    expect(await rawCommand(server, ['AUTH', USER, second])).toEqual({ line: '+OK' });
  });

  it('gives the same rules to a user from the ACL file and one made with ACL SETUSER', async () => {
    const admin = await server.admin();
    try {
      const copy = `${USER}-copy`;
      const accessString = server.users.get(USER)!.accessString;
      await admin.call('ACL', 'SETUSER', copy, ...accessString.split(' '), `>${randomPassword()}`);
      const rules = async (user: string) => {
        const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[];
        const fields = Object.fromEntries(Array.from({ length: reply.length / 2 }, (_, i) => [String(reply[2 * i]), reply[2 * i + 1]]));
        delete fields.passwords;
        return fields;
      };
      expect(await rules(copy)).toEqual(await rules(USER));
      await admin.call('ACL', 'DELUSER', copy);
    } finally {
      await admin.quit();
    }
  });
});

describe('persistence (AOF, appendfsync always)', () => {
  let server: LocalRedis;
  const appEnv = APP_ENVS[0]!;
  const USER = appEnvUserName(appEnv);
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [appEnv] });
  });
  afterAll(() => server?.stop());

  it('keeps a stream and rotated passwords across kill -9 and restart() on the same port', async () => {
    const stream = namespacedKey(keyPrefix(appEnv), 'events');
    const before = await connectAs(server, USER);
    for (let n = 0; n < 3; n++) await before.xadd(stream, '*', 'n', String(n));
    const entries = await before.xrange(stream, '-', '+');
    before.disconnect();
    const rotated = randomPassword();
    await server.setPasswords(USER, [rotated]);
    const { port, pid } = server;

    await server.kill();
    expect(server.pid).toBeUndefined();
    await server.restart();

    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);
    const after = await connectAs(server, USER, { password: rotated });
    try {
      expect(entries).toHaveLength(3);
      expect(await after.xrange(stream, '-', '+')).toEqual(entries);
    } finally {
      after.disconnect();
    }
  });
});
