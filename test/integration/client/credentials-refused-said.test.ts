/**
 * An on-call review: an instance left on a rotated-away password logged nothing where Redis refused
 * it (a counter and an event only); the stale warning came first, with no cause. It now says the
 * refusal at most once a minute, with what to check: the secret it reads and the rotation, or, with
 * fixed credentials, that a rotated password is never picked up. Real redis-server (TLS, ACL users).
 */
import { describe, expect, it } from 'vitest';
import { KccRedis } from '../../../client/src/index.js';
import { closeAfterEach } from '../../support/closing.js';
import { until } from '../../support/events.js';
import { kccOptions, useTestRedis } from '../../support/redis.js';
import { secretsIn } from '../../support/secret-scan.js';

const USER = 'refused-prod';
const server = useTestRedis({ appEnvs: [{ app: 'refused', env: 'prod' }], persistence: 'none' });
const closeLater = closeAfterEach();

/** Gives the user another password and drops its connections: they reconnect, and Redis refuses the old one. */
async function rotateAway(to: string): Promise<void> {
  const admin = await server.admin();
  try {
    await admin.call('ACL', 'SETUSER', USER, 'resetpass', `>${to}`);
    await admin.call('CLIENT', 'KILL', 'USER', USER);
  } finally {
    admin.disconnect();
  }
}

describe('Redis refusing the credentials, as the log tells it', () => {
  const original = () => server.users.get(USER)!.password;

  it.each([
    ['fixed credentials', false, /^Redis refused the commands connection's login as user "refused-prod"; the credentials were given as fixed values, so a rotated password is never picked up/],
    ['credentials re-read from their source, unchanged', true, /^Redis refused the commands connection's login as user "refused-prod", and re-reading the credentials gave the same: check that this instance reads the app-env's secret \(KCC_REDIS_SECRET_ID/],
  ])('%s: said once, with what to check, never the password', async (_name, reread, message) => {
    const warnings: string[] = [];
    const logger = { warn: (line: string) => void warnings.push(line), info: () => undefined };
    const password = original();
    const options = kccOptions(server, USER, { logger, heartbeat: false, reconnectBaseDelayMs: 20, reconnectMaxDelayMs: 50, credentialRefreshMinIntervalMs: 20 });
    const redis = closeLater(await KccRedis.connect(reread ? { ...options, password: undefined, credentialsProvider: async () => ({ username: USER, password }) } : options));
    const rotated = `rotated-away-${Date.now()}-0123456789abcdefghij`;
    try {
      await rotateAway(rotated);
      await until(() => warnings.some((line) => message.test(line)), 'the refusal said', 20_000);
      // Reconnecting every 50 ms or less meanwhile: said once.
      await until(() => redis.stats.authFailures >= 5, 'more refusals', 20_000);
      expect(warnings.filter((line) => line.startsWith('Redis refused'))).toHaveLength(1);
      expect(secretsIn(warnings, [password, rotated])).toEqual([]);
    } finally {
      const admin = await server.admin();
      await admin.call('ACL', 'SETUSER', USER, 'resetpass', `>${password}`).finally(() => admin.disconnect());
    }
  });
});
