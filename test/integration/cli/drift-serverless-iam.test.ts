/**
 * `kcc-redis drift` for the deployments beside the password-user replication group: a serverless
 * cache, app-envs with `auth: "iam"` or `"password+iam"`, the hardened profile in cluster mode.
 * The fake control plane (test/support/fake-elasticache.ts) is filled from the template the stack
 * synthesizes for the same config, so "as the stack creates it" means exactly that; each test then
 * changes one thing behind the config's back and drift must report it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplicationGroup } from '@aws-sdk/client-elasticache';
import { CredentialsProviderError } from '@smithy/core/config';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { appEnvIamUserName, appEnvUserId, defaultUserGroupId } from '../../../client/src/contract/naming.js';
import { runCliInProcess } from '../../support/cli.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { synth } from '../../support/synth.js';

vi.setConfig({ testTimeout: 120_000 });

const RG = 'kcc-redis';
const REGION = 'eu-west-1';
const env = { AWS_REGION: REGION };
const SHOP = { app: 'shop', env: 'dev' };

type Item = { resource: string; aspect: string; status: string; detail: string };
type Resource = { Type: string; Properties: Record<string, unknown> };

/** A `{ Ref: <logical id> }` of the template resolved to the resource's id property (what the API reports). */
function resolveRef(resources: Record<string, Resource>, value: unknown, idProperty: string): string {
  if (typeof value === 'string') return value;
  const ref = (value as { Ref?: string }).Ref;
  const target = ref ? resources[ref] : undefined;
  if (!target) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  return String(target.Properties[idProperty]);
}

/**
 * Fills `fake` with what CloudFormation creates from the template of `kcc`, as DescribeUsers,
 * DescribeUserGroups, DescribeReplicationGroups/DescribeCacheClusters and DescribeServerlessCaches
 * would report it (e.g. ClusterMode "enabled" → ClusterEnabled true; a serverless cache's
 * FullEngineVersion is its major version's first release).
 */
function deployAsSynthesized(fake: FakeElastiCache, kcc: Record<string, unknown>): void {
  const resources = synth(kcc).template.toJSON().Resources as Record<string, Resource>;
  for (const r of Object.values(resources)) {
    const p = r.Properties;
    if (r.Type === 'AWS::ElastiCache::User') {
      const type = (p.AuthenticationMode as { Type: 'password' | 'iam' }).Type;
      // The generated password is a dynamic reference in the template: a stand-in here, never compared.
      fake.add(String(p.UserId), `arn:aws:elasticache:${REGION}:123456789012:user:${String(p.UserId)}`, type === 'password' ? ['p'.repeat(64)] : [], String(p.UserName), String(p.AccessString)).authentication = type;
    }
  }
  const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);
  const [group] = ofType('AWS::ElastiCache::UserGroup');
  const [rg] = ofType('AWS::ElastiCache::ReplicationGroup');
  const [sc] = ofType('AWS::ElastiCache::ServerlessCache');
  fake.addUserGroup(String(group!.Properties.UserGroupId), group!.Properties.UserIds as string[], rg ? [RG] : []);
  if (rg) {
    const p = rg.Properties;
    const clusterMode = p.ClusterMode === 'enabled';
    const nodes = clusterMode ? [`${RG}-0001-001`, `${RG}-0002-001`] : [`${RG}-001`, `${RG}-002`];
    fake.addReplicationGroup({
      ReplicationGroupId: String(p.ReplicationGroupId),
      Status: 'available',
      Engine: String(p.Engine),
      ClusterEnabled: clusterMode,
      TransitEncryptionEnabled: p.TransitEncryptionEnabled === true,
      TransitEncryptionMode: p.TransitEncryptionMode as ReplicationGroup['TransitEncryptionMode'],
      AuthTokenEnabled: p.AuthToken !== undefined,
      UserGroupIds: (p.UserGroupIds as unknown[]).map((id) => resolveRef(resources, id, 'UserGroupId')),
      MemberClusters: nodes,
    }, `${String(p.EngineVersion)}.0`);
  }
  if (sc) {
    const p = sc.Properties;
    fake.serverlessCaches.set(String(p.ServerlessCacheName), {
      ServerlessCacheName: String(p.ServerlessCacheName),
      Status: 'available',
      Engine: String(p.Engine),
      MajorEngineVersion: String(p.MajorEngineVersion),
      FullEngineVersion: `${String(p.MajorEngineVersion)}.0`,
      UserGroupId: resolveRef(resources, p.UserGroupId, 'UserGroupId'),
    });
  }
}

describe('kcc-redis drift: serverless, IAM users, the hardened profile (ElastiCache API mocked)', () => {
  let dir: string;
  let fake: FakeElastiCache | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-drift-kinds-'));
  });
  afterEach(() => {
    fake?.restore();
    fake = undefined;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Deploys `kcc` into a new fake as the stack would, lets `change` alter it, and runs drift with --json. */
  async function drift(kcc: Record<string, unknown>, change: (fake: FakeElastiCache) => void = () => {}) {
    fake = new FakeElastiCache();
    deployAsSynthesized(fake, kcc);
    change(fake);
    const config = join(dir, `cdk-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(config, JSON.stringify({ context: { kcc } }));
    const result = await runCliInProcess(['drift', '--config', config, '--json'], { env });
    const items = result.stdout ? result.json<{ items: Item[] }>().items : [];
    return { code: result.code, stderr: result.stderr, items, drifted: items.filter((i) => i.status === 'drift').map((i) => `${i.resource}: ${i.aspect}: ${i.detail}`) };
  }

  const SERVERLESS = { deployment: 'serverless', apps: [{ name: 'shop', envs: ['dev'] }] };
  const IAM = { apps: [{ name: 'shop', envs: ['dev'], auth: 'iam' }] };
  const BOTH = { apps: [{ name: 'shop', envs: ['dev'], auth: 'password+iam' }] };
  const SERVERLESS_HARDENED_MIXED = {
    deployment: 'serverless',
    aclProfile: 'hardened',
    apps: [{ name: 'shop', envs: ['dev'], auth: 'iam' }, { name: 'blog', envs: ['dev'], auth: 'password+iam' }],
  };
  const CLUSTER_HARDENED = { shards: 2, aclProfile: 'hardened', apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'], auth: 'iam' }] };

  describe('no drift for a deployment exactly as the stack creates it', () => {
    it.each([
      ['a serverless cache', SERVERLESS],
      ['auth "iam"', IAM],
      ['auth "password+iam"', BOTH],
      ['a serverless cache, hardened profile, iam and password+iam app-envs', SERVERLESS_HARDENED_MIXED],
      ['a cluster-mode replication group with the hardened profile', CLUSTER_HARDENED],
    ])('%s', async (_name, kcc) => {
      const result = await drift(kcc);
      expect(result.stderr).toBe('');
      expect(result.drifted).toEqual([]);
      expect(result.code).toBe(0);
    });

    it('a serverless cache: its user group, engine and major version compared; TLS is always on', async () => {
      const { items } = await drift(SERVERLESS);
      expect(items.filter((i) => i.resource === `serverless cache ${RG}`).map((i) => [i.aspect, i.status, i.detail])).toEqual([
        ['transit encryption', 'ok', 'always enabled on a serverless cache'],
        ['user group', 'ok', `attached: ${defaultUserGroupId(RG)}`],
        ['engine', 'ok', 'valkey'],
        ['engine version', 'ok', '8 (8.0)'],
      ]);
      expect(items.some((i) => i.resource.startsWith('replication group'))).toBe(false);
    });

    it('an IAM user\'s access string is compared like the password user\'s', async () => {
      const iamId = appEnvIamUserName(RG, SHOP);
      const { items } = await drift(BOTH);
      expect(items.filter((i) => i.resource.endsWith(iamId)).map((i) => [i.resource, i.aspect, i.status])).toEqual([
        [`app IAM user ${iamId}`, 'access string', 'ok'],
      ]);
      expect(items.some((i) => i.resource === `app user ${appEnvUserId(RG, SHOP)}` && i.aspect === 'access string' && i.status === 'ok')).toBe(true);
    });
  });

  describe('real drift still found', () => {
    it('a serverless cache with another user group, engine and major version', async () => {
      const result = await drift(SERVERLESS, (f) => Object.assign(f.serverlessCaches.get(RG)!, { UserGroupId: 'someone-elses', Engine: 'redis', MajorEngineVersion: '7', FullEngineVersion: '7.1' }));
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([
        `serverless cache ${RG}: user group: attached: someone-elses (expected ${defaultUserGroupId(RG)})`,
        `serverless cache ${RG}: engine: redis (expected valkey)`,
        `serverless cache ${RG}: engine version: 7 (7.1); expected major version 8`,
      ]);
    });

    it('a serverless config and a replication group of that name: the deployment is of another kind', async () => {
      const result = await drift(SERVERLESS, (f) => {
        f.serverlessCaches.delete(RG);
        f.addReplicationGroup({ ReplicationGroupId: RG, Status: 'available', Engine: 'valkey', UserGroupIds: [defaultUserGroupId(RG)], MemberClusters: [`${RG}-001`] }, '8.1.0');
      });
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([
        `serverless cache ${RG}: exists: not found; a replication group "${RG}" (valkey) has that name: the config describes a serverless cache ("deployment": "serverless"; remove it if that group is the one)`,
      ]);
    });

    it('a serverless cache still being modified is a note, not drift', async () => {
      const result = await drift(SERVERLESS, (f) => Object.assign(f.serverlessCaches.get(RG)!, { Status: 'modifying' }));
      expect(result.code).toBe(0);
      expect(result.items).toContainEqual({ resource: `serverless cache ${RG}`, aspect: 'status', status: 'note', detail: 'modifying (not available): values may be changing' });
    });

    it('an IAM user whose access string was widened', async () => {
      const iamId = appEnvIamUserName(RG, SHOP);
      const result = await drift(IAM, (f) => (f.users.get(iamId)!.accessString += ' +@all'));
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([
        `app IAM user ${iamId}: access string: +@all: every command, also those a later engine or a module adds, where only the listed ones are expected; `
          + 'commands allowed that are not expected: acl bgrewriteaof bgsave client client|caching client|getname client|getredir client|help client|id client|info client|kill client|list … (53 more)',
      ]);
    });

    it('an IAM user switched to password authentication, and a password user switched to IAM', async () => {
      const iamId = appEnvIamUserName(RG, SHOP);
      const passwordId = appEnvUserId(RG, SHOP);
      const result = await drift(BOTH, (f) => {
        f.users.get(iamId)!.authentication = 'password';
        f.users.get(passwordId)!.authentication = 'iam';
      });
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([
        `app user ${passwordId}: authentication: iam (expected password)`,
        `app IAM user ${iamId}: authentication: password (expected iam)`,
      ]);
    });

    it('password+iam with the IAM user taken out of the group', async () => {
      const iamId = appEnvIamUserName(RG, SHOP);
      const result = await drift(BOTH, (f) => {
        const group = f.userGroups.get(defaultUserGroupId(RG))!;
        group.userIds = group.userIds.filter((id) => id !== iamId);
      });
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([`user group ${defaultUserGroupId(RG)}: members: missing: ${iamId}`]);
    });

    it('hardened cluster mode: an app user that lost a hardened denial', async () => {
      const id = appEnvUserId(RG, SHOP);
      const result = await drift(CLUSTER_HARDENED, (f) => {
        const user = f.users.get(id)!;
        user.accessString = user.accessString.replace(' -select ', ' ');
      });
      expect(result.code).toBe(1);
      expect(result.drifted).toEqual([`app user ${id}: access string: commands allowed that are not expected: select`]);
    });
  });

  describe('AWS out of reach: the cause and its fix, the permission only when one was denied', () => {
    async function failing(error: Error) {
      fake = new FakeElastiCache();
      deployAsSynthesized(fake, IAM);
      fake.failNext.set('DescribeReplicationGroups', error);
      const config = join(dir, 'cdk-failing.json');
      await writeFile(config, JSON.stringify({ context: { kcc: IAM } }));
      return runCliInProcess(['drift', '--config', config], { env: {} });
    }

    it('no region (the SDK\'s "Region is missing"): pass --region or set AWS_REGION', async () => {
      const result = await failing(new Error('Region is missing'));
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('kcc-redis drift: ElastiCache DescribeReplicationGroups failed: no AWS region: pass --region or set AWS_REGION');
    });

    it('no credentials (CredentialsProviderError): says so, not a permission', async () => {
      const result = await failing(new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false }));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ElastiCache DescribeReplicationGroups failed: no AWS credentials found: Could not load credentials from any providers');
      expect(result.stderr).not.toContain('the caller needs');
    });

    it.each(['AccessDenied', 'AccessDeniedException'])('a refused call (%s) names the permission', async (name) => {
      const result = await failing(Object.assign(new Error('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: elasticache:DescribeReplicationGroups'), { name }));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`ElastiCache DescribeReplicationGroups failed: ${name}: User: arn:aws:iam::123456789012:user/ops is not authorized`);
      expect(result.stderr).toContain('(the caller needs elasticache:DescribeReplicationGroups)');
    });

    it('another failure (throttling) is shown as AWS reported it, without a permission hint', async () => {
      const result = await failing(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('kcc-redis drift: ElastiCache DescribeReplicationGroups failed: ThrottlingException: Rate exceeded');
    });
  });
});
