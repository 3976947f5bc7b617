/**
 * `kcc-redis drift` and a user group with changes in flight (DescribeUserGroups' `PendingChanges`,
 * UserGroupPendingChanges: `UserIdsToAdd`, `UserIdsToRemove`,
 * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_UserGroupPendingChanges.html),
 * with the ElastiCache API mocked (test/support/fake-elasticache.ts): a pending change that takes the
 * group away from the config (a user it does not have joining, one it has leaving) is drift, named
 * as such; one on its way to the config is a note.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { FakeElastiCache, type FakeUserGroup } from '../../support/fake-elasticache.js';

const RG = 'kcc-redis';
const REGION = 'eu-west-1';
const APP_ENVS: AppEnv[] = [{ app: 'shop', env: 'dev' }, { app: 'blog', env: 'dev' }];
const GROUP = defaultUserGroupId(RG);
const SHOP_ID = appEnvUserId(RG, APP_ENVS[0]!);
const userArn = (id: string) => `arn:aws:elasticache:${REGION}:123456789012:user:${id}`;

type Item = { resource: string; aspect: string; status: string; detail: string };

describe('kcc-redis drift: pending changes of the user group (ElastiCache API mocked)', () => {
  let dir: string;
  let config: string;
  let fake: FakeElastiCache;
  let group: FakeUserGroup;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-drift-pending-'));
    config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] } } }));
  });
  /** A deployment as the config creates it: the default user, one user per app-env, the group, a replication group. */
  beforeEach(() => {
    fake = new FakeElastiCache();
    fake.add(defaultAdminUserId(RG), userArn(defaultAdminUserId(RG)), ['p'.repeat(64)], 'default', defaultUserAccessString(false));
    for (const appEnv of APP_ENVS) {
      const id = appEnvUserId(RG, appEnv);
      fake.add(id, userArn(id), ['p'.repeat(64)], appEnvUserName(appEnv), storedAccessString(appEnvAccessString(appEnv)));
    }
    // The built-in default user: on, no password, every command (what a deployment must never let in).
    fake.add('default', userArn('default'), [], 'default', 'on ~* +@all').authentication = 'no-password';
    group = fake.addUserGroup(GROUP, [defaultAdminUserId(RG), ...APP_ENVS.map((a) => appEnvUserId(RG, a))], [RG]);
    fake.addReplicationGroup({
      ReplicationGroupId: RG,
      Status: 'available',
      Engine: 'valkey',
      ClusterEnabled: false,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AuthTokenEnabled: false,
      UserGroupIds: [GROUP],
      MemberClusters: [`${RG}-001`],
    }, '8.1.0');
  });
  afterEach(() => fake.restore());
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function drift() {
    const result = await runCliInProcess(['drift', '--config', config, '--json'], { env: { AWS_REGION: REGION } });
    expect(result.stderr).toBe('');
    const items = result.json<{ items: Item[] }>().items;
    return { code: result.code, items, drifted: items.filter((i) => i.status === 'drift').map((i) => `${i.resource}: ${i.aspect}: ${i.detail}`) };
  }

  it('none pending: no drift (the default user exists but is not a member)', async () => {
    const result = await drift();
    expect(result.drifted).toEqual([]);
    expect(result.code).toBe(0);
  });

  it('"modifying", the built-in default user being added: drift naming it and what it is', async () => {
    Object.assign(group, { status: 'modifying', pendingChanges: { UserIdsToAdd: ['default'] } });
    const result = await drift();
    expect(result.code).toBe(1);
    expect(result.drifted).toEqual([
      `user group ${GROUP}: pending changes: being added, not in the config: default (user name default without a password, access string "on ~* +@all")`,
    ]);
    // Not a member yet: no "unexpected member" item; the status note lists the change.
    expect(result.items).toContainEqual({ resource: `user group ${GROUP}`, aspect: 'status', status: 'note', detail: 'modifying, pending: +default' });
  });

  it('an app user the config has being removed: drift', async () => {
    Object.assign(group, { status: 'modifying', pendingChanges: { UserIdsToRemove: [SHOP_ID] } });
    const result = await drift();
    expect(result.code).toBe(1);
    expect(result.drifted).toEqual([`user group ${GROUP}: pending changes: being removed, in the config: ${SHOP_ID}`]);
  });

  it('both at once, the joining user unknown to DescribeUsers: one item with both', async () => {
    Object.assign(group, { status: 'modifying', pendingChanges: { UserIdsToAdd: ['intruder'], UserIdsToRemove: [SHOP_ID] } });
    const result = await drift();
    expect(result.code).toBe(1);
    expect(result.drifted).toEqual([`user group ${GROUP}: pending changes: being added, not in the config: intruder; being removed, in the config: ${SHOP_ID}`]);
  });

  it('a change on its way to the config (an expected user being added back, a stranger being removed) is a note', async () => {
    group.userIds.splice(group.userIds.indexOf(SHOP_ID), 1, 'default');
    Object.assign(group, { status: 'modifying', pendingChanges: { UserIdsToAdd: [SHOP_ID], UserIdsToRemove: ['default'] } });
    const result = await drift();
    // The members differ from the config until the change is applied (drift as before); the change itself is not drift.
    expect(result.items.some((i) => i.aspect === 'pending changes')).toBe(false);
    expect(result.items).toContainEqual({ resource: `user group ${GROUP}`, aspect: 'status', status: 'note', detail: `modifying, pending: +${SHOP_ID} -default` });
    expect(result.drifted).toEqual([
      `user group ${GROUP}: members: not in the config: default; missing: ${SHOP_ID}`,
      'user default: unexpected member: user name default without a password, access string "on ~* +@all"',
    ]);
  });
});
