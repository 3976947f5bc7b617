/**
 * The ElastiCache fake lists in pages as the API reference documents each call, and `kcc-redis
 * drift` reads by id, so an account with more users and user groups than one page changes nothing:
 * - DescribeUsers, DescribeUserGroups: `MaxRecords`/`Marker`, no default documented (the fake: 100);
 * - DescribeServerlessCaches: `MaxResults` ("The default is 50") / `NextToken`;
 * - DescribeReplicationGroups: `MaxRecords` "Default: 100 Constraints: minimum 20; maximum 100".
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DescribeUsers.html,
 * API_DescribeUserGroups.html, API_DescribeServerlessCaches.html, API_DescribeReplicationGroups.html)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeReplicationGroupsCommand,
  DescribeServerlessCachesCommand,
  DescribeUserGroupsCommand,
  DescribeUsersCommand,
  ElastiCacheClient,
  InvalidParameterValueException,
  paginateDescribeServerlessCaches,
  paginateDescribeUserGroups,
  paginateDescribeUsers,
} from '@aws-sdk/client-elasticache';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AppEnv,
  appEnvAccessString,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  storedAccessString,
} from '../../../client/src/contract/naming.js';
import { runCliInProcess } from '../../support/cli.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';

const REGION = 'eu-west-1';
const arn = (id: string) => `arn:aws:elasticache:${REGION}:123456789012:user:${id}`;

/** Page sizes of every page a paginator fetched. */
async function pageSizes<T>(pages: AsyncIterable<T>, items: (page: T) => readonly unknown[] | undefined): Promise<number[]> {
  const sizes: number[] = [];
  for await (const page of pages) sizes.push(items(page)?.length ?? 0);
  return sizes;
}

describe('FakeElastiCache lists in pages, as the API reference documents', () => {
  let fake: FakeElastiCache;
  let client: ElastiCacheClient;
  beforeEach(() => {
    fake = new FakeElastiCache();
    client = new ElastiCacheClient({ region: REGION });
  });
  afterEach(() => {
    client.destroy();
    fake.restore();
  });

  it('DescribeUsers: 100 a page unless MaxRecords says otherwise, a Marker while more remain', async () => {
    for (let i = 0; i < 150; i++) fake.add(`u${i}`, arn(`u${i}`), ['p'.repeat(32)]);
    const first = await client.send(new DescribeUsersCommand({}));
    expect(first.Users).toHaveLength(100);
    expect(first.Marker).toBeDefined();
    const second = await client.send(new DescribeUsersCommand({ Marker: first.Marker }));
    expect(second.Users?.map((u) => u.UserId)).toEqual(Array.from({ length: 50 }, (_, i) => `u${i + 100}`));
    expect(second.Marker).toBeUndefined();
    expect(await pageSizes(paginateDescribeUsers({ client, pageSize: 40 }, {}), (p) => p.Users)).toEqual([40, 40, 40, 30]);
  });

  it('DescribeUserGroups: the same; by id, the one group', async () => {
    for (let i = 0; i < 120; i++) fake.addUserGroup(`g${i}`, []);
    const first = await client.send(new DescribeUserGroupsCommand({}));
    expect(first.UserGroups).toHaveLength(100);
    expect(first.Marker).toBeDefined();
    expect(await pageSizes(paginateDescribeUserGroups({ client }, {}), (p) => p.UserGroups)).toEqual([100, 20]);
    const one = await client.send(new DescribeUserGroupsCommand({ UserGroupId: 'g119' }));
    expect(one.UserGroups?.map((g) => g.UserGroupId)).toEqual(['g119']);
    expect(one.Marker).toBeUndefined();
  });

  it('DescribeServerlessCaches: 50 a page by default (MaxResults), a NextToken while more remain', async () => {
    for (let i = 0; i < 60; i++) fake.serverlessCaches.set(`c${i}`, { ServerlessCacheName: `c${i}`, Status: 'available' });
    const first = await client.send(new DescribeServerlessCachesCommand({}));
    expect(first.ServerlessCaches).toHaveLength(50);
    expect(first.NextToken).toBeDefined();
    expect(await pageSizes(paginateDescribeServerlessCaches({ client }, {}), (p) => p.ServerlessCaches)).toEqual([50, 10]);
    expect(await pageSizes(paginateDescribeServerlessCaches({ client, pageSize: 25 }, {}), (p) => p.ServerlessCaches)).toEqual([25, 25, 10]);
  });

  it('DescribeReplicationGroups: 100 a page by default; MaxRecords outside 20–100 is InvalidParameterValue', async () => {
    for (let i = 0; i < 101; i++) fake.addReplicationGroup({ ReplicationGroupId: `rg${i}`, Status: 'available' }, '8.1.0');
    const first = await client.send(new DescribeReplicationGroupsCommand({}));
    expect(first.ReplicationGroups).toHaveLength(100);
    expect((await client.send(new DescribeReplicationGroupsCommand({ Marker: first.Marker }))).ReplicationGroups?.map((g) => g.ReplicationGroupId)).toEqual(['rg100']);
    await expect(client.send(new DescribeReplicationGroupsCommand({ MaxRecords: 10 }))).rejects.toBeInstanceOf(InvalidParameterValueException);
    await expect(client.send(new DescribeReplicationGroupsCommand({ MaxRecords: 101 }))).rejects.toBeInstanceOf(InvalidParameterValueException);
  });
});

describe('kcc-redis drift in an account with more users and user groups than one page', () => {
  const RG = 'kcc-redis';
  const APP_ENV: AppEnv = { app: 'shop', env: 'dev' };
  let dir: string;
  let config: string;
  let fake: FakeElastiCache;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-drift-pages-'));
    config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev'] }] } } }));
  });
  afterEach(() => fake.restore());
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads its group and users by id (one page each): found past the first page of a listing, no drift', async () => {
    fake = new FakeElastiCache();
    // Others' users and groups first: a listing's first page (100) holds none of the deployment's.
    for (let i = 0; i < 150; i++) fake.add(`other-user-${i}`, arn(`other-user-${i}`), ['p'.repeat(32)]);
    for (let i = 0; i < 120; i++) fake.addUserGroup(`other-group-${i}`, [`other-user-${i}`]);
    const ids = [defaultAdminUserId(RG), appEnvUserId(RG, APP_ENV)];
    fake.add(ids[0]!, arn(ids[0]!), ['p'.repeat(64)], 'default', defaultUserAccessString(false));
    fake.add(ids[1]!, arn(ids[1]!), ['p'.repeat(64)], appEnvUserName(APP_ENV), storedAccessString(appEnvAccessString(APP_ENV)));
    fake.addUserGroup(defaultUserGroupId(RG), ids, [RG]);
    fake.addReplicationGroup({
      ReplicationGroupId: RG, Status: 'available', Engine: 'valkey', ClusterEnabled: false,
      TransitEncryptionEnabled: true, TransitEncryptionMode: 'required', AuthTokenEnabled: false,
      UserGroupIds: [defaultUserGroupId(RG)], MemberClusters: [`${RG}-001`],
    }, '8.1.0');

    const result = await runCliInProcess(['drift', '--config', config, '--json'], { env: { AWS_REGION: REGION } });
    expect(result.stderr).toBe('');
    const items = result.json<{ items: Array<{ status: string; resource: string; aspect: string }> }>().items;
    expect(items.filter((i) => i.status === 'drift')).toEqual([]);
    expect(items).toContainEqual(expect.objectContaining({ resource: `user group ${defaultUserGroupId(RG)}`, aspect: 'members', status: 'ok' }));
    expect(result.code).toBe(0);
  });
});
