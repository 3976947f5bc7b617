/** The ElastiCache fake does what the API reference says of the calls the tests rely on. */
import { DescribeReplicationGroupsCommand, DescribeServerlessCachesCommand, DescribeUsersCommand, ElastiCacheClient, InvalidUserStateFault, ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeElastiCache } from '../../support/fake-elasticache.js';

describe('FakeElastiCache ModifyUser ("Changes user password(s) and/or access string")', () => {
  let current: FakeElastiCache | undefined;
  afterEach(() => current?.restore());

  /** A fake holding user u1 (one password, `+get`), recording the access strings it applies. */
  function withUser(): { fake: FakeElastiCache; applied: string[]; client: ElastiCacheClient } {
    const fake = (current = new FakeElastiCache());
    const applied: string[] = [];
    fake.applyAccessString = async (_id, _name, accessString) => {
      applied.push(accessString);
    };
    fake.add('u1', 'arn:aws:elasticache:eu-west-1:123456789012:user:u1', ['p'.repeat(32)], 'u1', 'on ~u1:* -@all +get');
    return { fake, applied, client: new ElastiCacheClient({ region: 'eu-west-1' }) };
  }

  it('passwords and an access string in one call: both are applied', async () => {
    const { fake, applied, client } = withUser();
    const reply = await client.send(new ModifyUserCommand({ UserId: 'u1', Passwords: ['q'.repeat(32)], AccessString: 'on ~u1:* -@all +get +set' }));
    expect(reply.Status).toBe('modifying');
    await fake.settled();
    const user = fake.users.get('u1')!;
    expect(user.passwords).toEqual(['q'.repeat(32)]);
    expect(user.accessString).toContain('+set');
    expect(applied).toHaveLength(1);
  });

  it('an access string alone: answers "modifying" (aws-cli modify-user.rst), refuses another change until the user is active again (InvalidUserState), then applies it', async () => {
    const { fake, applied, client } = withUser();
    const reply = await client.send(new ModifyUserCommand({ UserId: 'u1', AppendAccessString: '+set' }));
    expect(reply).toMatchObject({ Status: 'modifying', AccessString: 'on ~u1:* -@all +get +set' });
    await expect(client.send(new ModifyUserCommand({ UserId: 'u1', AccessString: 'on ~u1:* -@all' }))).rejects.toBeInstanceOf(InvalidUserStateFault);
    await fake.settled();
    const statuses: string[] = [];
    for (let poll = 0; poll < 5 && statuses.at(-1) !== 'active'; poll++) {
      statuses.push(String((await client.send(new DescribeUsersCommand({ UserId: 'u1' }))).Users?.[0]?.Status));
    }
    expect(statuses).toEqual(['modifying', 'active']);
    expect(applied).toEqual(['on ~u1:* -@all +get +set']);
    await client.send(new ModifyUserCommand({ UserId: 'u1', AccessString: 'on ~u1:* -@all' }));
  });
});

describe('FakeElastiCache DescribeUsers AccessString ("a simpler string may be used instead of the one provided")', () => {
  let current: FakeElastiCache | undefined;
  afterEach(() => current?.restore());

  it('returns the form describeAccessString gives (e.g. the engine\'s own description), in DescribeUsers and ModifyUser', async () => {
    const fake = (current = new FakeElastiCache());
    // User-Secrets-Manager.html: "off +get ~keys*" returned as "off ~keys* -@all +get".
    fake.describeAccessString = async (given) => (given === 'off +get ~keys*' ? 'off ~keys* -@all +get' : given);
    fake.add('u1', 'arn:aws:elasticache:eu-west-1:123456789012:user:u1', ['p'.repeat(32)], 'u1', 'off +get ~keys*');
    const client = new ElastiCacheClient({ region: 'eu-west-1' });
    expect((await client.send(new DescribeUsersCommand({ UserId: 'u1' }))).Users?.[0]?.AccessString).toBe('off ~keys* -@all +get');
    expect((await client.send(new DescribeUsersCommand({}))).Users?.[0]?.AccessString).toBe('off ~keys* -@all +get');
  });

  it('by default the string as given (modify-user.rst returns "on ~* +@all" as such)', async () => {
    const fake = (current = new FakeElastiCache());
    fake.add('u1', 'arn:aws:elasticache:eu-west-1:123456789012:user:u1', ['p'.repeat(32)], 'u1', 'on ~* +@all');
    const client = new ElastiCacheClient({ region: 'eu-west-1' });
    expect((await client.send(new DescribeUsersCommand({ UserId: 'u1' }))).Users?.[0]?.AccessString).toBe('on ~* +@all');
  });
});

describe('FakeElastiCache ids "stored as a lowercase string" (CreateReplicationGroup, CreateServerlessCache)', () => {
  let current: FakeElastiCache | undefined;
  afterEach(() => current?.restore());

  it('finds a replication group and a serverless cache by their lowercase id', async () => {
    const fake = (current = new FakeElastiCache());
    fake.addReplicationGroup({ ReplicationGroupId: 'kcc-redis', Status: 'available' }, '8.1.0');
    fake.serverlessCaches.set('kcc-sls', { ServerlessCacheName: 'kcc-sls', Status: 'available' });
    const client = new ElastiCacheClient({ region: 'eu-west-1' });
    expect((await client.send(new DescribeReplicationGroupsCommand({ ReplicationGroupId: 'kcc-redis' }))).ReplicationGroups?.[0]?.ReplicationGroupId).toBe('kcc-redis');
    expect((await client.send(new DescribeServerlessCachesCommand({ ServerlessCacheName: 'kcc-sls' }))).ServerlessCaches?.[0]?.ServerlessCacheName).toBe('kcc-sls');
  });
});
