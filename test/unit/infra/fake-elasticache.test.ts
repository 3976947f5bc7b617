/** The ElastiCache fake does what the API reference says of the calls the tests rely on. */
import { ElastiCacheClient, ModifyUserCommand } from '@aws-sdk/client-elasticache';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeElastiCache } from '../../support/fake-elasticache.js';

describe('FakeElastiCache ModifyUser ("Changes user password(s) and/or access string")', () => {
  let fake: FakeElastiCache | undefined;
  afterEach(() => fake?.restore());

  it('passwords and an access string in one call: both are applied', async () => {
    fake = new FakeElastiCache();
    const applied: string[] = [];
    fake.applyAccessString = async (_id, _name, accessString) => {
      applied.push(accessString);
    };
    fake.add('u1', 'arn:aws:elasticache:eu-west-1:123456789012:user:u1', ['p'.repeat(32)], 'u1', 'on ~u1:* -@all +get');
    const client = new ElastiCacheClient({ region: 'eu-west-1' });
    const reply = await client.send(new ModifyUserCommand({ UserId: 'u1', Passwords: ['q'.repeat(32)], AccessString: 'on ~u1:* -@all +get +set' }));
    expect(reply.Status).toBe('modifying');
    await fake.settled();
    const user = fake.users.get('u1')!;
    expect(user.passwords).toEqual(['q'.repeat(32)]);
    expect(user.accessString).toContain('+set');
    expect(applied).toHaveLength(1);
  });
});
