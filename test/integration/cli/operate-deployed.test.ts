/**
 * The operator commands against a deployed stack, with the AWS control plane mocked as the
 * ElastiCache and Secrets Manager API references describe it (test/support/fake-*.ts) and the data
 * plane real: a redis-server configured like the stack's ElastiCache, whose ACL follows the fake's
 * ModifyUser (through the local admin user, as ElastiCache applies a user's string on its nodes).
 * DescribeUsers returns each access string as that real server describes it (ElastiCache may return
 * "a simpler string … instead of the one provided", Clusters.RBAC): drift must compare by meaning.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeUsersCommand, ElastiCacheClient, ModifyUserCommand } from '@aws-sdk/client-elasticache';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KccRedis, KeyRing } from '../../../client/src/index.js';
import {
  type AppEnv,
  appEnvAccessString,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  keyPrefix,
  storedAccessString,
} from '../../../client/src/contract/naming.js';
import { APP_ENV_OUTPUT_VERSION, type AppEnvOutput } from '../../../infra/app-env-output.js';
import type { LocalRedis } from '../../../local/local-redis.js';
import { randomPassword } from '../../../local/local-util.js';
import { runCliInProcess } from '../../support/cli.js';
import { engineAccessString } from '../../support/engine-access-string.js';
import { nextEvent } from '../../support/events.js';
import { FakeElastiCache } from '../../support/fake-elasticache.js';
import { FakeSecretsManager } from '../../support/fake-secrets-manager.js';
import { kccOptions, startTestRedis } from '../../support/redis.js';

const RG = 'kcc-redis';
const APP_ENVS: AppEnv[] = [{ app: 'shop', env: 'dev' }, { app: 'blog', env: 'dev' }];
const REGION = 'eu-west-1';
const arn = (kind: string, name: string) => `arn:aws:secretsmanager:${REGION}:123456789012:secret:${kind}-${name}-AbCdEf`;

type Item = { resource: string; aspect: string; status: string; detail: string };
const drifted = (items: Item[]) => items.filter((i) => i.status === 'drift');

describe('kcc-redis check, drift, status, rotate-keys against a deployed stack (AWS APIs mocked, Redis real)', () => {
  let dir: string;
  let server: LocalRedis;
  let admin: Redis;
  let elastiCache: FakeElastiCache;
  let secrets: FakeSecretsManager;
  let env: Record<string, string>;
  let outputs: string;
  let config: string;
  const keks = new Map<string, string>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kcc-deployed-'));
    server = await startTestRedis({ appEnvs: APP_ENVS, persistence: 'none' });
    admin = await server.admin();
    config = join(dir, 'cdk.json');
    await writeFile(config, JSON.stringify({ context: { kcc: { apps: [{ name: 'shop', envs: ['dev'] }, { name: 'blog', envs: ['dev'] }] } } }));

    elastiCache = new FakeElastiCache();
    // ElastiCache applies a user's whole stored string on its nodes: here, on the real server, from
    // no selectors, keys or commands and every channel (acl-pubsub-default allchannels, ElastiCache's
    // default parameter groups, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html,
    // and fixed on serverless, https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/RedisConfiguration.html:
    // the stored string's own resetchannels must clear it, or the server refuses the string).
    elastiCache.applyAccessString = async (_userId, userName, accessString) => {
      await admin.call('ACL', 'SETUSER', userName, 'clearselectors', 'resetkeys', 'allchannels', '-@all', ...accessString.split(' '));
    };
    elastiCache.describeAccessString = (accessString) => engineAccessString(admin, accessString);
    elastiCache.add(defaultAdminUserId(RG), `arn:aws:elasticache:${REGION}:123456789012:user:${defaultAdminUserId(RG)}`, [randomPassword()], 'default', defaultUserAccessString(false));
    for (const appEnv of APP_ENVS) {
      const id = appEnvUserId(RG, appEnv);
      elastiCache.add(id, `arn:aws:elasticache:${REGION}:123456789012:user:${id}`, [server.users.get(appEnvUserName(appEnv))!.password], appEnvUserName(appEnv), storedAccessString(appEnvAccessString(appEnv)));
    }
    elastiCache.addUserGroup(defaultUserGroupId(RG), [defaultAdminUserId(RG), ...APP_ENVS.map((a) => appEnvUserId(RG, a))], [RG]);
    elastiCache.addReplicationGroup({
      ReplicationGroupId: RG,
      Status: 'available',
      Engine: 'valkey',
      ClusterEnabled: false,
      TransitEncryptionEnabled: true,
      TransitEncryptionMode: 'required',
      AuthTokenEnabled: false,
      UserGroupIds: [defaultUserGroupId(RG)],
      MemberClusters: [`${RG}-001`, `${RG}-002`],
      NodeGroups: [{ NodeGroupId: '0001', PrimaryEndpoint: { Address: '127.0.0.1', Port: server.port } }],
    }, '8.1.0');

    secrets = new FakeSecretsManager();
    const stackOutputs: Record<string, string> = { PrimaryEndpointAddress: '127.0.0.1', PrimaryEndpointPort: String(server.port), ReplicationGroupId: RG };
    for (const appEnv of APP_ENVS) {
      const name = appEnvUserName(appEnv);
      const user = server.users.get(name)!;
      secrets.add(arn('user', name), JSON.stringify({ username: name, password: user.password, keyPrefix: keyPrefix(appEnv), userArn: `arn:aws:elasticache:${REGION}:123456789012:user:${appEnvUserId(RG, appEnv)}`, replicationGroupId: RG }));
      const kek = randomPassword(64);
      keks.set(name, kek);
      secrets.add(arn('kek', name), JSON.stringify({ v: 1, kek, previous: [] }));
      const outputName = `AppEnv${name.replace(/(^|-)([a-z0-9])/g, (_m, _d: string, c: string) => c.toUpperCase())}`;
      const output: AppEnvOutput = {
        v: APP_ENV_OUTPUT_VERSION,
        keyPrefix: keyPrefix(appEnv),
        kekSecretArn: arn('kek', name),
        cache: { name: RG, kind: 'replication-group', clusterMode: false, region: REGION },
        password: { username: name, secretArn: arn('user', name) },
      };
      stackOutputs[outputName] = JSON.stringify(output);
    }
    outputs = join(dir, 'cdk-outputs.json');
    await writeFile(outputs, JSON.stringify({ KccRedis: stackOutputs }));
    // What a bastion or an app's container has: the region, and the CA (ElastiCache's certificates are publicly trusted; this server's are not).
    env = { AWS_REGION: REGION, KCC_REDIS_CA_FILE: server.tls.caFile };
  });
  afterAll(async () => {
    elastiCache?.restore();
    secrets?.restore();
    await admin?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('check passes for every app-env of the stack outputs (passwords from Secrets Manager) and for one --secret-id', async () => {
    const all = await runCliInProcess(['check', '--outputs', outputs, '--json'], { env });
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.json<{ appEnvs: { appEnv: string; source: string }[] }>().appEnvs.map((a) => [a.appEnv, a.source])).toEqual([
      ['shop-dev', `--outputs ${outputs} (KccRedis)`],
      ['blog-dev', `--outputs ${outputs} (KccRedis)`],
    ]);
    const one = await runCliInProcess(['check', '--secret-id', arn('user', 'shop-dev')], { env: { ...env, KCC_REDIS_URL: server.url } });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('All checks passed for 1 app-env.');
  });

  it('drift: none when the deployment is what the config creates', async () => {
    const result = await runCliInProcess(['drift', '--config', config, '--json'], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const items = result.json<{ items: Item[] }>().items;
    expect(drifted(items)).toEqual([]);
    expect(items.map((i) => `${i.resource}: ${i.aspect}`)).toEqual(expect.arrayContaining([
      'replication group kcc-redis: transit encryption', 'replication group kcc-redis: engine version', 'user group kcc-redis-users: members',
      'default user kcc-redis-admin: access string', 'app user kcc-redis-shop-dev: access string', 'app user kcc-redis-blog-dev: access string',
    ]));
  });

  it('drift: the engine\'s wording of an access string is not drift, a user still being modified is a note', async () => {
    const blogId = appEnvUserId(RG, APP_ENVS[1]!);
    const stored = storedAccessString(appEnvAccessString(APP_ENVS[1]!));
    const client = new ElastiCacheClient({ region: REGION });
    try {
      await client.send(new ModifyUserCommand({ UserId: blogId, AccessString: stored }));
      const result = await runCliInProcess(['drift', '--config', config, '--json'], { env });
      expect(result.code).toBe(0);
      const items = result.json<{ items: Item[] }>().items.filter((i) => i.resource === `app user ${blogId}`);
      expect(items.map((i) => [i.aspect, i.status])).toEqual([['access string', 'ok'], ['status', 'note']]);
      expect(items[1]!.detail).toBe('modifying: a change is being applied');
      // Redis 7.0 spells the categories out: the text DescribeUsers returned differs from ours, the meaning does not.
      expect(items[0]!.detail).not.toBe(stored);
      expect(items[0]!.detail).toContain('+@hash');
    } finally {
      await untilActive(client, blogId);
      client.destroy();
    }
  });

  /**
   * What an operator does after ModifyUser: waits until DescribeUsers reports the user `active` again
   * (ModifyUser answers `modifying`, and refuses the next change until then: InvalidUserState,
   * https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html).
   * `settled()` lets the fake finish applying on the real server first, so the polls need no sleep.
   */
  async function untilActive(client: ElastiCacheClient, userId: string): Promise<void> {
    await elastiCache.settled();
    for (let poll = 0; poll < 10; poll++) {
      if ((await client.send(new DescribeUsersCommand({ UserId: userId }))).Users?.[0]?.Status === 'active') return;
    }
    throw new Error(`user ${userId} still not active after 10 DescribeUsers calls`);
  }

  it('an access string widened behind our back (ModifyUser, applied on the nodes): check and drift report it and exit 1', async () => {
    const shopId = appEnvUserId(RG, APP_ENVS[0]!);
    const client = new ElastiCacheClient({ region: REGION });
    const modify = await client.send(new ModifyUserCommand({ UserId: shopId, AppendAccessString: '+@all' }));
    expect(modify.Status).toBe('modifying');
    await untilActive(client, shopId);
    try {
      const check = await runCliInProcess(['check', '--outputs', outputs, '--app', 'shop', '--env', 'dev'], { env });
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/shop-dev\s+refused: CONFIG GET\s+FAIL/);
      const drift = await runCliInProcess(['drift', '--config', config, '--json'], { env });
      expect(drift.code).toBe(1);
      expect(drifted(drift.json<{ items: Item[] }>().items)).toEqual([
        {
          resource: `app user ${shopId}`,
          aspect: 'access string',
          status: 'drift',
          detail: '+@all: every command, also those a later engine or a module adds, where only the listed ones are expected; '
            + 'commands allowed that are not expected: acl bgrewriteaof bgsave client client|caching client|getname client|getredir client|help client|id client|info client|kill client|list … (53 more)',
        },
      ]);
    } finally {
      await client.send(new ModifyUserCommand({ UserId: shopId, AccessString: storedAccessString(appEnvAccessString(APP_ENVS[0]!)) }));
      await untilActive(client, shopId);
      client.destroy();
    }
    expect((await runCliInProcess(['check', '--outputs', outputs], { env })).code).toBe(0);
    expect((await runCliInProcess(['drift', '--config', config], { env })).code).toBe(0);
  });

  it('drift: the built-in default user attached to the group, TLS "preferred", another engine version', async () => {
    elastiCache.add('default', `arn:aws:elasticache:${REGION}:123456789012:user:default`, [], 'default', 'on ~* +@all').authentication = 'no-password';
    const group = elastiCache.userGroups.get(defaultUserGroupId(RG))!;
    group.userIds.push('default');
    const rg = elastiCache.replicationGroups.get(RG)!;
    const saved = { ...rg };
    Object.assign(rg, { TransitEncryptionMode: 'preferred' });
    elastiCache.cacheClusters.set(`${RG}-001`, '7.2.4');
    try {
      const result = await runCliInProcess(['drift', '--config', config, '--json'], { env });
      expect(result.code).toBe(1);
      expect(drifted(result.json<{ items: Item[] }>().items).map((i) => `${i.resource}: ${i.aspect}: ${i.detail}`)).toEqual([
        'replication group kcc-redis: transit encryption: enabled true, mode preferred (expected required: TLS only)',
        'replication group kcc-redis: engine version: 7.2.4 (expected 8.1.x)',
        'user group kcc-redis-users: members: not in the config: default',
        // As the engine describes "on ~* +@all" where acl-pubsub-default is allchannels (ElastiCache's default): every channel.
        'user default: unexpected member: user name default without a password, access string "on ~* &* +@all"',
      ]);
    } finally {
      group.userIds.pop();
      elastiCache.users.delete('default');
      Object.assign(rg, saved);
      elastiCache.cacheClusters.set(`${RG}-001`, '8.1.0');
    }
  });

  it('drift: a serverless cache where the config describes a replication group', async () => {
    const rg = elastiCache.replicationGroups.get(RG)!;
    elastiCache.replicationGroups.delete(RG);
    elastiCache.serverlessCaches.set(RG, { ServerlessCacheName: RG, Engine: 'valkey', FullEngineVersion: '8.1', Status: 'available' });
    try {
      const result = await runCliInProcess(['drift', '--config', config, '--json'], { env });
      expect(result.code).toBe(1);
      expect(drifted(result.json<{ items: Item[] }>().items)[0]).toMatchObject({ resource: 'replication group kcc-redis', aspect: 'exists', detail: expect.stringContaining('a serverless cache "kcc-redis" (valkey 8.1) has that name') });
    } finally {
      elastiCache.serverlessCaches.delete(RG);
      elastiCache.replicationGroups.set(RG, rg);
    }
  });

  it('drift: a Describe* call AWS refuses is exit 2, naming the permission', async () => {
    const denied = Object.assign(new Error('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: elasticache:DescribeUserGroups'), { name: 'AccessDeniedException' });
    elastiCache.failNext.set('DescribeUserGroups', denied);
    const result = await runCliInProcess(['drift', '--config', config], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('ElastiCache DescribeUserGroups failed: AccessDeniedException');
    expect(result.stderr).toContain('(the caller needs elasticache:DescribeUserGroups)');
  });

  it('status and rotate-keys read the key-encryption key from its secret; a running instance follows the rotation', async () => {
    const name = 'shop-dev';
    const redis = await KccRedis.connect(kccOptions(server, name));
    const ring = await KeyRing.start(redis, { keyEncryptionKey: keks.get(name)!, env: {} });
    try {
      const status = await runCliInProcess(['status', '--outputs', outputs, '--app', 'shop', '--env', 'dev', '--json'], { env });
      expect(status.code).toBe(0);
      const shop = status.json<{ appEnvs: { keyRing: { state: string; verified: boolean; active: { kid: string } } ; instances: { instances: { instanceId: string }[] } }[] }>().appEnvs[0]!;
      expect(shop.keyRing).toMatchObject({ state: 'ok', verified: true, active: { kid: ring.health().activeKid } });
      expect(shop.instances.instances.map((i) => i.instanceId)).toEqual([redis.instanceId]);

      const changed = nextEvent<[{ activeKid: string }]>(ring, 'change');
      const rotate = await runCliInProcess(['rotate-keys', '--outputs', outputs, '--app', 'shop', '--env', 'dev', '--immediate', '--yes', '--json'], { env });
      expect(rotate.stderr).toBe('');
      expect(rotate.code).toBe(0);
      const [{ activeKid }] = await changed;
      expect(activeKid).toBe(rotate.json<{ kid: string }>().kid);
    } finally {
      await ring.close();
      await redis.close();
    }
  });

  it('status: a ring the key-encryption key cannot decrypt is degraded (exit 1)', async () => {
    const name = 'blog-dev';
    const redis = await KccRedis.connect(kccOptions(server, name, { heartbeat: false }));
    const ring = await KeyRing.start(redis, { keyEncryptionKey: randomPassword(64), env: {} }); // not the KEK in the secret
    try {
      const status = await runCliInProcess(['status', '--outputs', outputs, '--app', 'blog', '--env', 'dev', '--json'], { env });
      expect(status.code).toBe(1);
      expect(status.json<{ appEnvs: { keyRing: { state: string; problem: string } }[] }>().appEnvs[0]!.keyRing).toMatchObject({ state: 'degraded', problem: expect.stringMatching(/^the key-encryption key this command was given does not open the ring: first check that it is the one your instances use .*authenticated under key-encryption key \w+; this instance holds \w+ \(unknown-kek\)/) });
      const rotate = await runCliInProcess(['rotate-keys', '--outputs', outputs, '--app', 'blog', '--env', 'dev', '--activation-delay-ms', '120000', '--yes'], { env });
      expect(rotate.code).toBe(2);
      expect(rotate.stderr).toContain("blog-dev's key ring is refused");
    } finally {
      await ring.close();
      await admin.del(redis.key('keyring'), redis.key('keyring-events'));
      await redis.close();
    }
  });
});
