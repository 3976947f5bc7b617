import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { appEnvAccessString, storedAccessString } from '../../../client/src/contract/naming.js';
import { LOCAL_ADMIN_USER, type LocalRedis } from '../../../local/local-redis.js';
import { randomPassword } from '../../../local/local-util.js';
import { connectAs, startTestRedis } from '../../support/redis.js';

const MY_APP = { app: 'my-app', env: 'prod' };
const variants = [
  ['guide', appEnvAccessString(MY_APP)],
  ['guide, cluster mode', appEnvAccessString(MY_APP, { clusterMode: true })],
  ['hardened', appEnvAccessString(MY_APP, { profile: 'hardened' })],
  ['hardened, cluster mode', appEnvAccessString(MY_APP, { profile: 'hardened', clusterMode: true })],
] as const;

/**
 * The stack writes access strings without clearselectors and resetkeys, with resetchannels kept
 * (storedAccessString). ElastiCache applies a user's whole string (ModifyUser's AccessString replaces
 * it), i.e. to a user without earlier keys or selectors, whose channels start as the node's
 * acl-pubsub-default: allchannels on ElastiCache (its parameter groups' default,
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html; fixed on
 * serverless, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RedisConfiguration.html), as
 * on the local stand-in. This checks on a real server that the stored form applied that way is
 * accepted and gives exactly the permissions of the guide's string applied onto a user that had
 * everything, and that the user then reaches its own channels only.
 */
describe('stored access string (as the stack writes it) against the real server', () => {
  let server: LocalRedis;
  let admin: Redis;

  beforeAll(async () => {
    server = await startTestRedis({ appEnvs: [MY_APP] });
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

  it('the server runs as ElastiCache does: acl-pubsub-default allchannels, so a pattern on a new user without resetchannels is refused', async () => {
    expect(await admin.call('CONFIG', 'GET', 'acl-pubsub-default')).toEqual(['acl-pubsub-default', 'allchannels']);
    await expect(admin.call('ACL', 'SETUSER', 'probe-no-reset', 'on', '~a:*', '&a:*', '-@all')).rejects.toThrow(
      /Adding a pattern after the \* pattern \(or the 'allchannels' flag\) is not valid.*Try 'resetchannels'/,
    );
    expect(await admin.call('ACL', 'GETUSER', 'probe-no-reset')).toBeNull();
  });

  it.each(variants)('%s: the stored form on a fresh user equals the full string on a user that had every key and channel', async (_name, full) => {
    await admin.call('ACL', 'SETUSER', 'probe-full', 'reset', 'on', '~*', '&*', '+@all');
    await admin.call('ACL', 'SETUSER', 'probe-full', ...full.split(' '));
    await admin.call('ACL', 'SETUSER', 'probe-stored', 'reset'); // channels: allchannels (reset applies acl-pubsub-default)
    await admin.call('ACL', 'SETUSER', 'probe-stored', ...storedAccessString(full).split(' '));
    const [withDirectives, stored] = [await rules('probe-full'), await rules('probe-stored')];
    expect(stored).toEqual(withDirectives);
    expect(String(stored.keys)).toBe('~my-app-prod:*');
    expect(String(stored.channels)).toBe('&my-app-prod:*');
  });

  it.each(variants)('%s: a new user with the stored form subscribes and publishes on its own channels, NOPERM on another app-env\'s', async (_name, full) => {
    const user = 'probe-tenant';
    const password = randomPassword();
    await admin.call('ACL', 'DELUSER', user);
    // As the stack's string reaches a node: the whole stored string on a user that starts from the defaults.
    expect(await admin.call('ACL', 'SETUSER', user, ...storedAccessString(full).split(' '), `>${password}`)).toBe('OK');
    const [subscriber, publisher] = [await connectAs(server, user, { password }), await connectAs(server, user, { password })];
    try {
      const own = 'my-app-prod:logout';
      const other = 'other-prod:logout';
      const received = new Promise<[string, string]>((resolve) => subscriber.once('message', (channel: string, message: string) => resolve([channel, message])));
      await subscriber.subscribe(own);
      expect(await publisher.publish(own, 'hello')).toBe(1);
      expect(await received).toEqual([own, 'hello']);

      await expect(publisher.publish(other, 'x')).rejects.toThrow(/NOPERM/);
      await expect(publisher.call('SUBSCRIBE', other)).rejects.toThrow(/NOPERM/);
      await expect(publisher.call('PSUBSCRIBE', 'other-prod:*')).rejects.toThrow(/NOPERM/);
      await expect(publisher.call('PSUBSCRIBE', '*')).rejects.toThrow(/NOPERM/);
      await expect(publisher.call('SSUBSCRIBE', other)).rejects.toThrow(/NOPERM/);
      await expect(publisher.call('SPUBLISH', other, 'x')).rejects.toThrow(/NOPERM/);
      await expect(subscriber.subscribe(other)).rejects.toThrow(/NOPERM/);
      expect(String((await rules(user)).channels)).toBe('&my-app-prod:*');
    } finally {
      subscriber.disconnect();
      publisher.disconnect();
      await admin.call('ACL', 'DELUSER', user);
    }
  });

  it('without a whole-string replacement the stored form would keep earlier keys (why clearselectors and resetkeys exist)', async () => {
    await admin.call('ACL', 'SETUSER', 'probe-incremental', 'reset', 'on', '~other-prod:*', 'resetchannels', '&other-prod:*');
    await admin.call('ACL', 'SETUSER', 'probe-incremental', ...storedAccessString(variants[0][1]).split(' '));
    const kept = await rules('probe-incremental');
    // The key pattern stays; the channel pattern does not: resetchannels is in the stored form.
    expect([String(kept.keys), String(kept.channels)]).toEqual(['~other-prod:* ~my-app-prod:*', '&my-app-prod:*']);
  });
});
