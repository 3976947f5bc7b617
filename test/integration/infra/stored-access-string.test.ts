import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { LOCAL_ADMIN_USER, type LocalRedis } from '../../../local/local-redis.js';
import { connectAs, startTestRedis } from '../../support/redis.js';

/**
 * The stack writes access strings as ElastiCache stores them (no clearselectors/resetkeys/
 * resetchannels). ElastiCache applies a user's whole string (ModifyUser's AccessString replaces it),
 * i.e. to a user without earlier keys, channels or selectors. This checks on a real server that the
 * stored form applied that way gives exactly the permissions of the guide's string applied onto a
 * user that had everything, so the directives' effect is kept.
 */
describe('stored access string (as ElastiCache keeps it) against the real server', () => {
  let server: LocalRedis;
  let admin: Redis;

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [{ app: 'my-app', env: 'prod' }] });
    admin = await connectAs(server, LOCAL_ADMIN_USER, { password: server.adminPassword });
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  /** ACL GETUSER without the password hashes, as a field → value map. */
  async function rules(user: string): Promise<Record<string, unknown>> {
    const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[];
    const fields: Record<string, unknown> = {};
    for (let i = 0; i < reply.length; i += 2) fields[String(reply[i])] = reply[i + 1];
    delete fields.passwords;
    return fields;
  }

  const variants = [
    ['guide', appEnvAccessString({ app: 'my-app', env: 'prod' })],
    ['hardened, cluster mode', appEnvAccessString({ app: 'my-app', env: 'prod' }, { profile: 'hardened', clusterMode: true })],
  ] as const;

  it.each(variants)('%s: the stored form on a fresh user equals the full string on a user that had every key and channel', async (_name, full) => {
    await admin.call('ACL', 'SETUSER', 'probe-full', 'reset', 'on', '~*', '&*', '+@all');
    await admin.call('ACL', 'SETUSER', 'probe-full', ...full.split(' '));
    await admin.call('ACL', 'SETUSER', 'probe-stored', 'reset');
    await admin.call('ACL', 'SETUSER', 'probe-stored', ...storedAccessString(full).split(' '));
    const [withDirectives, stored] = [await rules('probe-full'), await rules('probe-stored')];
    expect(stored).toEqual(withDirectives);
    expect(String(stored.keys)).toBe('~my-app-prod:*');
    expect(String(stored.channels)).toBe('&my-app-prod:*');
  });

  it('without a whole-string replacement the stored form would keep earlier keys (why the directives exist)', async () => {
    await admin.call('ACL', 'SETUSER', 'probe-incremental', 'reset', 'on', '~other-prod:*', '&other-prod:*');
    await admin.call('ACL', 'SETUSER', 'probe-incremental', ...storedAccessString(variants[0][1]).split(' '));
    const kept = await rules('probe-incremental');
    expect([String(kept.keys), String(kept.channels)]).toEqual(['~other-prod:* ~my-app-prod:*', '&other-prod:* &my-app-prod:*']);
  });
});
