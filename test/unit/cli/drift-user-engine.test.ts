/**
 * Users and user groups of engine `valkey` or `redis`, as AWS lets them go together
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html): a Valkey cache takes
 * user groups of either engine; a `valkey` group holds `valkey` users and `redis` users with a
 * password or IAM; `valkey` users only go in `valkey` groups; a Redis OSS cache takes `redis` groups
 * only. CreateUser/CreateUserGroup take `Engine` ("The options are valkey or redis") and
 * DescribeUsers/DescribeUserGroups return it. `kcc-redis drift` reports none of the combinations AWS
 * accepts as drift (the stack creates users and group with the cache's engine; others may not).
 * `status` and `check` read no user or group engine: their one ElastiCache call, the client's
 * endpoint discovery (client/src/aws/elasticache-discovery.ts), is DescribeReplicationGroups by id,
 * for the endpoint and transit encryption.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeReplicationGroupsCommand, DescribeServerlessCachesCommand, DescribeUserGroupsCommand, DescribeUsersCommand, ElastiCacheClient } from '@aws-sdk/client-elasticache';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppEnv,
  appEnvAccessString,
  appEnvIamUserName,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  storedAccessString,
} from '../../../client/src/contract/naming.js';
import { runCliInProcess } from '../../support/cli.js';
import { FakeElastiCache, type UserEngine } from '../../support/fake-elasticache.js';

const REGION = 'eu-west-1';
const RG = 'kcc-redis';
const GROUP = defaultUserGroupId(RG);
const APP_ENV: AppEnv = { app: 'shop', env: 'dev' };
const arn = (id: string) => `arn:aws:elasticache:${REGION}:123456789012:user:${id}`;

let current: FakeElastiCache | undefined;
afterEach(() => {
  current?.restore();
  current = undefined;
});

/**
 * A replication group of `cacheEngine` as the config `{ apps: shop/dev password+iam }` creates it:
 * the default user, the app-env's password and IAM users (all of `userEngine`), the group of `groupEngine`.
 */
function deployment(cacheEngine: 'valkey' | 'redis', engineVersion: string, groupEngine: UserEngine, userEngine: UserEngine): FakeElastiCache {
  current?.restore();
  const fake = (current = new FakeElastiCache());
  const accessString = storedAccessString(appEnvAccessString(APP_ENV));
  const iamId = appEnvIamUserName(RG, APP_ENV);
  const users = [
    fake.add(defaultAdminUserId(RG), arn(defaultAdminUserId(RG)), ['p'.repeat(64)], 'default', defaultUserAccessString(false)),
    fake.add(appEnvUserId(RG, APP_ENV), arn(appEnvUserId(RG, APP_ENV)), ['p'.repeat(64)], appEnvUserName(APP_ENV), accessString),
    Object.assign(fake.add(iamId, arn(iamId), [], iamId, accessString), { authentication: 'iam' as const }),
  ];
  for (const user of users) user.engine = userEngine;
  fake.addUserGroup(GROUP, users.map((u) => u.userId), [RG], groupEngine);
  fake.addReplicationGroup({
    ReplicationGroupId: RG, Status: 'available', Engine: cacheEngine, ClusterEnabled: false,
    TransitEncryptionEnabled: true, TransitEncryptionMode: 'required', AuthTokenEnabled: false,
    UserGroupIds: [GROUP], MemberClusters: [`${RG}-001`],
  }, engineVersion);
  return fake;
}

describe('FakeElastiCache: user and user group engines as set, in the combinations AWS accepts', () => {
  const client = () => new ElastiCacheClient({ region: REGION });

  it('DescribeUsers and DescribeUserGroups return the engine each was created with', async () => {
    deployment('valkey', '8.1.0', 'valkey', 'redis');
    const c = client();
    expect((await c.send(new DescribeUsersCommand({ UserId: appEnvUserId(RG, APP_ENV) }))).Users?.[0]?.Engine).toBe('redis');
    expect((await c.send(new DescribeUserGroupsCommand({ UserGroupId: GROUP }))).UserGroups?.[0]?.Engine).toBe('valkey');
    current!.users.get(appEnvUserId(RG, APP_ENV))!.engine = 'valkey';
    expect((await c.send(new DescribeUsersCommand({ UserId: appEnvUserId(RG, APP_ENV) }))).Users?.[0]?.Engine).toBe('valkey');
    c.destroy();
  });

  it('refuses what AWS refuses: a password-less user in a valkey group (also one being added), a valkey user in a redis group, a valkey group on a Redis OSS cache', async () => {
    const c = client();
    const fake = deployment('valkey', '8.1.0', 'valkey', 'valkey');
    fake.add('default', arn('default'), [], 'default', 'on ~* +@all').authentication = 'no-password';
    fake.userGroups.get(GROUP)!.pendingChanges = { UserIdsToAdd: ['default'] };
    await expect(c.send(new DescribeUserGroupsCommand({ UserGroupId: GROUP }))).rejects.toThrow(/holds default, a user without a password: AWS refuses it/);

    deployment('valkey', '8.1.0', 'redis', 'valkey');
    await expect(c.send(new DescribeUserGroupsCommand({ UserGroupId: GROUP }))).rejects.toThrow(/\(engine redis\) holds .*, a valkey user: AWS refuses it/);

    const redisCache = deployment('redis', '7.1.0', 'valkey', 'valkey');
    await expect(c.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: RG }))).rejects.toThrow(/\(engine redis\) has user group kcc-redis-users of engine valkey: AWS refuses it/);
    redisCache.serverlessCaches.set('sls', { ServerlessCacheName: 'sls', Engine: 'redis', UserGroupId: GROUP });
    await expect(c.send(new DescribeServerlessCachesCommand({ ServerlessCacheName: 'sls' }))).rejects.toThrow(/serverless cache sls \(engine redis\) has user group/);
    c.destroy();
  });

  it('a redis group on a valkey cache, and redis users with a password or IAM in a valkey group, are described', async () => {
    const c = client();
    deployment('valkey', '8.1.0', 'redis', 'redis');
    expect((await c.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: RG }))).ReplicationGroups).toHaveLength(1);
    expect((await c.send(new DescribeUserGroupsCommand({ UserGroupId: GROUP }))).UserGroups?.[0]?.UserIds).toHaveLength(3);
    deployment('valkey', '8.1.0', 'valkey', 'redis');
    expect((await c.send(new DescribeUserGroupsCommand({ UserGroupId: GROUP }))).UserGroups?.[0]?.UserIds).toHaveLength(3);
    c.destroy();
  });
});

describe('kcc-redis drift: the engine of users and user groups, where AWS accepts it, is no drift', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-drift-engine-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function drift(kcc: Record<string, unknown>) {
    const config = join(dir, `cdk-${String(kcc.engine ?? 'valkey')}.json`);
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev'], auth: 'password+iam' }], ...kcc } } }));
    const result = await runCliInProcess(['drift', '--config', config, '--json'], { env: { AWS_REGION: REGION } });
    expect(result.stderr).toBe('');
    const items = result.json<{ items: Array<{ resource: string; aspect: string; status: string; detail: string }> }>().items;
    return { code: result.code, drifted: items.filter((i) => i.status === 'drift').map((i) => `${i.resource}: ${i.aspect}: ${i.detail}`) };
  }

  it.each<[string, 'valkey' | 'redis', string, UserEngine, UserEngine]>([
    ['a valkey cache, a valkey group, valkey users (as the stack creates them)', 'valkey', '8.1.0', 'valkey', 'valkey'],
    ['a valkey cache, a valkey group, redis users with a password or IAM', 'valkey', '8.1.0', 'valkey', 'redis'],
    ['a valkey cache, a redis group, redis users', 'valkey', '8.1.0', 'redis', 'redis'],
    ['a Redis OSS cache, a redis group, redis users', 'redis', '7.1.0', 'redis', 'redis'],
  ])('%s', async (_name, cacheEngine, version, groupEngine, userEngine) => {
    deployment(cacheEngine, version, groupEngine, userEngine);
    const result = await drift(cacheEngine === 'redis' ? { engine: 'redis', engineVersion: '7.1' } : {});
    expect(result.drifted).toEqual([]);
    expect(result.code).toBe(0);
  });
});
