import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, type KccLogger } from '../../../client/src/index.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const USER = 'my-app-prod';

describe('connection behaviour (real redis-server, TLS)', () => {
  let server: LocalRedis;
  let redis: KccRedis;
  const logged: string[] = [];
  const logger: KccLogger = {
    warn: (message, context) => logged.push(message + JSON.stringify(context ?? {})),
    info: (message, context) => logged.push(message + JSON.stringify(context ?? {})),
  };
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }], persistence: 'none' });
    redis = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-7', logger }));
  });
  afterAll(async () => {
    await redis?.close();
    await server?.stop();
  });

  it('names its connection for CLIENT LIST', async () => {
    const admin = await server.admin();
    const list = String(await admin.call('CLIENT', 'LIST'));
    await admin.quit();
    expect(list).toContain('name=kcc:my-app-prod:instance-7:commands');
    expect(list).toMatch(/user=my-app-prod/);
  });

  it('surfaces NOPERM as an error and does not reconnect on it', async () => {
    const before = redis.stats.reconnects;
    await expect(redis.run((r) => r.get('other-app-prod:x'))).rejects.toThrow(/NOPERM/);
    await expect(redis.run((r) => r.eval("return redis.call('GET', KEYS[1])", 1, 'other-app-prod:x'))).rejects.toThrow(/NOPERM|No permissions/);
    await expect(redis.run((r) => r.eval('this is not lua', 0))).rejects.toThrow(/ERR/);
    expect(await redis.run((r) => r.ping())).toBe('PONG');
    expect(redis.stats.reconnects).toBe(before);
  });

  it('keeps keys in its namespace with one hash tag', () => {
    expect(redis.key('keyring')).toBe('my-app-prod:{my-app-prod}:keyring');
    expect(redis.channel('bus')).toBe('my-app-prod:bus');
  });
});
