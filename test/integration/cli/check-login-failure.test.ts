/**
 * `kcc-redis check`'s login probe says why the login failed: refused credentials only when the
 * server refused them. In cluster mode ioredis reports any node's failure as "Failed to refresh
 * slots cache", and the probe said "the credentials are refused" for a user that had logged in
 * but may not run CLUSTER SLOTS (an app-env of a stack deployed without clusterMode, given as a
 * cluster). Real redis-server (TLS, ACL users), the probe as check runs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UserProbe, probeUser } from '../../../cli/check/acl-probes.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { startTestRedis } from '../../support/redis.js';

const USER = 'login-prod';

describe("kcc-redis check: the login probe's reason", () => {
  let server: LocalRedis;
  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'login', env: 'prod' }], persistence: 'none' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  function probe(overrides: { password?: string; clusterMode?: boolean } = {}): UserProbe {
    return {
      endpoint: { host: '127.0.0.1', port: server.port, tls: { ca: server.ca, servername: 'localhost' }, clusterMode: overrides.clusterMode ?? false, connectTimeoutMs: 10_000 },
      username: USER,
      password: overrides.password ?? server.users.get(USER)!.password,
      keyPrefix: `${USER}:`,
      otherPrefixes: [],
    };
  }

  it('a wrong password: the credentials are refused', async () => {
    const [login] = await probeUser(probe({ password: 'not-the-password-0123456789' }));
    expect(login).toEqual({ probe: `log in as ${USER}`, status: 'fail', detail: expect.stringMatching(/^WRONGPASS .*: the credentials are refused$/) });
  });

  it('cluster mode with a user that may not run CLUSTER SLOTS: says so, not that the credentials are refused', async () => {
    const [login] = await probeUser(probe({ clusterMode: true }));
    expect(login).toMatchObject({ probe: `log in as ${USER}`, status: 'fail' });
    expect(login!.detail).toMatch(/^the user may not run CLUSTER SLOTS \(NOPERM [^)]*'cluster\|slots'[^)]*\), which cluster mode needs to find the nodes: its access string lacks \+cluster\|slots/);
  });

  it('cluster mode against a server with cluster mode disabled: says so', async () => {
    const admin = await server.admin();
    try {
      await admin.call('ACL', 'SETUSER', USER, '+cluster|slots');
      const [login] = await probeUser(probe({ clusterMode: true }));
      expect(login).toMatchObject({ probe: `log in as ${USER}`, status: 'fail', detail: expect.stringMatching(/^the server has cluster mode disabled \(ERR This instance has cluster support disabled\)/) });
    } finally {
      await admin.call('ACL', 'SETUSER', USER, '-cluster|slots');
      admin.disconnect();
    }
  });
});
