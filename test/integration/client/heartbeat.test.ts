/**
 * Instances announce themselves (heartbeat.ts) against the real redis-server with the stack's ACL
 * user: listed while alive, removed on close, dropped by the TTL when an instance goes silent, and
 * a reader that never trusts what it reads.
 */
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, listInstances } from '../../../client/src/index.js';
import { INSTANCE_ENTRY_PREFIX, INSTANCES_INDEX_NAME } from '../../../client/src/heartbeat.js';
import { CLIENT_VERSION } from '../../../client/src/version.js';
import { appEnvUserName } from '../../../client/src/contract/naming.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { untilAsync } from '../../support/events.js';
import { kccOptions, serverSentBytes, startTestRedis, withReadOnlyKeys } from '../../support/redis.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const APP_ENV = { app: 'beat', env: 'dev' };
const USER = appEnvUserName(APP_ENV);

describe('instance heartbeat (real redis-server, hardened ACL profile)', () => {
  let server: LocalRedis;
  let reader: KccRedis;
  const ids = async () => (await listInstances(reader)).instances.map((i) => i.instanceId).sort();

  beforeAll(async () => {
    // hardened: SCAN is denied, so listing must not need it.
    server = await startTestRedis({ appEnvs: [APP_ENV], aclProfile: 'hardened', persistence: 'none' });
    reader = await KccRedis.connect(kccOptions(server, USER, { heartbeat: false }));
  });
  afterAll(async () => {
    await reader?.close();
    await server?.stop();
  });

  it('lists every connected instance with its version, host and pid; a connection with heartbeat: false is not an instance', async () => {
    const a = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-a' }));
    const b = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-b' }));
    try {
      await untilAsync(async () => (await ids()).length === 2, 'both instances listed');
      expect(await ids()).toEqual(['instance-a', 'instance-b']);
      const { instances, unreadable, truncated } = await listInstances(reader);
      expect({ unreadable, truncated }).toEqual({ unreadable: 0, truncated: false });
      for (const instance of instances) {
        expect(instance).toMatchObject({ v: 1, version: CLIENT_VERSION, host: hostname(), pid: process.pid, intervalMs: 15_000 });
        expect(instance.silentForMs).toBeGreaterThanOrEqual(0);
        expect(instance.silentForMs).toBeLessThan(45_000);
      }
      expect(await ids()).not.toContain(reader.instanceId);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('removes the entry on close', async () => {
    const a = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'closing' }));
    await untilAsync(async () => (await ids()).includes('closing'), 'the instance listed');
    await a.close();
    expect(await ids()).not.toContain('closing');
    const admin = await server.admin();
    try {
      expect(await admin.exists(reader.key(`${INSTANCE_ENTRY_PREFIX}closing`))).toBe(0);
    } finally {
      await admin.quit();
    }
  });

  it('close() does not wait for a beat that hangs (a network that drops every byte): it gives up on the removal after 1 s', async () => {
    // Found on 2026-12-03 (a CI run): close() waited for the beat in flight without a bound, which
    // during an outage waits out ioredis's retries (a minute or more); the bound was only on the removal.
    const proxy = await TcpProxy.start(server.port);
    const stuck = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, instanceId: 'stuck', heartbeatIntervalMs: 100 }));
    try {
      await untilAsync(async () => (await ids()).includes('stuck'), 'the instance listed');
      proxy.blackhole();
      const written = stuck.stats.heartbeatsWritten;
      await new Promise((resolve) => setTimeout(resolve, 300)); // a beat starts, and never gets an answer
      expect(stuck.stats.heartbeatsWritten).toBe(written);
      await stuck.close(); // without the bound, this never resolves and the test times out
      await expect(stuck.run((r) => r.ping())).rejects.toThrow('connection is closed');
    } finally {
      await proxy.stop();
    }
  });

  it('drops an instance that went silent (its entry expires) and lists it again once it writes again', async () => {
    const proxy = await TcpProxy.start(server.port);
    const silent = await KccRedis.connect(kccOptions(server, USER, { url: proxy.url, instanceId: 'silent', heartbeatIntervalMs: 200, reconnectMaxDelayMs: 100 }));
    try {
      await untilAsync(async () => (await ids()).includes('silent'), 'the instance listed');
      proxy.cut(); // no close, no removal: as if the process froze or the network broke
      await untilAsync(async () => !(await ids()).includes('silent'), 'the silent instance dropped by the TTL');
      proxy.heal();
      await untilAsync(async () => (await ids()).includes('silent'), 'the instance listed again');
    } finally {
      proxy.heal();
      await silent.close();
      await proxy.stop();
    }
  });

  it('counts entries it cannot read (junk, a newer format, an id that does not match) instead of showing them', async () => {
    const admin = await server.admin();
    const index = reader.key(INSTANCES_INDEX_NAME);
    const far = Date.now() + 60_000;
    try {
      await admin.set(reader.key(`${INSTANCE_ENTRY_PREFIX}junk`), '\u001b[2J not json', 'PX', 60_000);
      await admin.set(reader.key(`${INSTANCE_ENTRY_PREFIX}future`), JSON.stringify({ v: 2, instanceId: 'future' }), 'PX', 60_000);
      const other = { v: 1, instanceId: 'someone-else', version: '9.9.9', host: 'h', pid: 1, startedAt: 1, lastSeenAt: 1, intervalMs: 1000 };
      await admin.set(reader.key(`${INSTANCE_ENTRY_PREFIX}mismatch`), JSON.stringify(other), 'PX', 60_000);
      await admin.zadd(index, far, 'junk', far, 'future', far, 'mismatch', far, 'gone');
      const listed = await listInstances(reader);
      expect(listed.instances).toEqual([]);
      expect(listed.unreadable).toBe(3); // 'gone' has no entry: expired, not unreadable
    } finally {
      await admin.del(index, ...['junk', 'future', 'mismatch'].map((id) => reader.key(`${INSTANCE_ENTRY_PREFIX}${id}`)));
      await admin.quit();
    }
  });

  it('hands over no id or entry larger than an instance writes (the app user can store 512 MB): counted as unreadable, the live ones listed', async () => {
    const admin = await server.admin();
    const index = reader.key(INSTANCES_INDEX_NAME);
    const far = Date.now() + 60_000;
    const huge = Buffer.alloc(8 * 1024 * 1024, 'x');
    const live = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-live' }));
    try {
      await untilAsync(async () => (await ids()).includes('instance-live'), 'the live instance listed');
      await admin.set(reader.key(`${INSTANCE_ENTRY_PREFIX}bloated`), huge, 'PX', 60_000);
      await admin.hset(reader.key(`${INSTANCE_ENTRY_PREFIX}a-hash`), 'f', 'v');
      await admin.zadd(index, far, 'bloated', far, huge, far, 'a-hash');
      const before = await serverSentBytes(server);
      const listed = await listInstances(reader);
      // Before, the listing pulled both 8 MB values (ZRANGE, GET) and failed on the hash (WRONGTYPE).
      expect((await serverSentBytes(server)) - before).toBeLessThan(1024 * 1024);
      expect(listed.instances.map((i) => i.instanceId)).toEqual(['instance-live']);
      expect(listed.unreadable).toBe(3);
    } finally {
      await live.close();
      await admin.del(index, ...['bloated', 'a-hash'].map((id) => reader.key(`${INSTANCE_ENTRY_PREFIX}${id}`)));
      await admin.quit();
    }
  });

  it('reads at most `limit` ids and says the list is truncated', async () => {
    const admin = await server.admin();
    const index = reader.key(INSTANCES_INDEX_NAME);
    try {
      await admin.zadd(index, Date.now() + 60_000, 'x1', Date.now() + 60_000, 'x2', Date.now() + 60_000, 'x3');
      expect((await listInstances(reader, { limit: 2 })).truncated).toBe(true);
      expect((await listInstances(reader, { limit: 3 })).truncated).toBe(false);
      // An id too long to hand over counts within the limit, in its place: unreadable, and the ids after the limit are not read.
      await admin.zadd(index, 1, 'y'.repeat(300));
      expect(await listInstances(reader, { limit: 2 })).toEqual({ instances: [], unreadable: 1, truncated: true });
    } finally {
      await admin.del(index);
      await admin.quit();
    }
  });
});

describe('instance listing for a user that may only read the keys (%R~; guide profile)', () => {
  let server: LocalRedis;
  afterAll(async () => {
    await server?.stop();
  });

  it('lists through EVAL_RO, as the old ZRANGE and GET did (Redis refuses EVAL on keys the user may not write)', async () => {
    server = await startTestRedis({ appEnvs: [APP_ENV], persistence: 'none' });
    const live = await KccRedis.connect(kccOptions(server, USER, { instanceId: 'instance-ro' }));
    const reader = await KccRedis.connect(kccOptions(server, USER, { heartbeat: false }));
    const admin = await server.admin();
    try {
      await untilAsync(async () => (await listInstances(reader)).instances.length === 1, 'the instance listed');
      const listed = await withReadOnlyKeys(admin, USER, () => listInstances(reader));
      expect(listed.instances.map((i) => i.instanceId)).toEqual(['instance-ro']);
    } finally {
      await admin.quit();
      await reader.close();
      await live.close();
    }
  });
});
