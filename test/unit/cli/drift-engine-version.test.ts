/**
 * `kcc-redis drift` evaluates access strings on the deployed engine's version: an engine describes a
 * user with the commands it has, so a spelled-out string an older engine printed means what was
 * given there, and the same text on a newer engine (which has more commands in those categories)
 * does not.
 */
import type { User } from '@aws-sdk/client-elasticache';
import { describe, expect, it } from 'vitest';
import { compareDeployment } from '../../../cli/drift/deployed-drift.js';
import type { DeployedState } from '../../../cli/drift/elasticache-state.js';
import type { ExpectedDeployment } from '../../../cli/drift/expected-deployment.js';

const GIVEN = 'on ~app::* -@all +@read';
// AWS's CreateUser example (aws/aws-cli awscli/examples/elasticache/create-user.rst): GIVEN returned
// with its categories spelled out, as a Redis 6.0 engine describes it. GEOSEARCHSTORE (since 6.2,
// @geo and @write) is not among the -rules: that engine did not have it.
const RETURNED_BY_6_0 = 'on ~app::* -@all +@read +@hash +@bitmap +@geo -setbit -bitfield -hset -hsetnx -hmset -hincrby -hincrbyfloat -hdel -bitop -geoadd -georadius -georadiusbymember';

const expected: ExpectedDeployment = {
  kind: 'replication-group',
  cacheName: 'kcc-redis',
  userGroupId: 'kcc-redis-users',
  users: [{ userId: 'kcc-redis-app', userName: 'app', accessString: GIVEN, authentication: 'password', role: 'app user' }],
  engine: 'redis',
  engineVersion: '6.0',
  clusterMode: false,
};

/** A replication group whose member cluster reports `engineVersion` (DescribeCacheClusters), its user's string as DescribeUsers returns it. */
function deployed(engineVersion: string | undefined, accessString: string): DeployedState {
  const user: User = { UserId: 'kcc-redis-app', UserName: 'app', Status: 'active', Engine: 'redis', AccessString: accessString, Authentication: { Type: 'password', PasswordCount: 1 } };
  return {
    replicationGroup: {
      ReplicationGroupId: 'kcc-redis', Status: 'available', Engine: 'redis', ClusterEnabled: false,
      TransitEncryptionEnabled: true, TransitEncryptionMode: 'required', AuthTokenEnabled: false,
      UserGroupIds: ['kcc-redis-users'], MemberClusters: ['kcc-redis-001'],
    },
    serverlessCache: undefined,
    engineVersion,
    userGroup: { UserGroupId: 'kcc-redis-users', Status: 'active', Engine: 'redis', UserIds: ['kcc-redis-app'], ReplicationGroups: ['kcc-redis'] },
    users: new Map([['kcc-redis-app', user]]),
  };
}

const accessItem = (state: DeployedState) => compareDeployment(expected, state).find((i) => i.aspect === 'access string');

describe('kcc-redis drift: access strings on the deployed engine version', () => {
  it('the form a Redis 6.0 engine printed, on a 6.0 cache: the same (no GEOSEARCHSTORE artifact)', () => {
    expect(accessItem(deployed('6.0.5', RETURNED_BY_6_0))).toEqual({ resource: 'app user kcc-redis-app', aspect: 'access string', status: 'ok', detail: RETURNED_BY_6_0 });
  });

  it('a real difference on that cache is still drift, and only it', () => {
    expect(accessItem(deployed('6.0.5', `${RETURNED_BY_6_0} +flushall`))).toMatchObject({ status: 'drift', detail: 'commands allowed that are not expected: flushall' });
  });

  it('the same text on an engine that has GEOSEARCHSTORE (6.2 and later) allows it: drift', () => {
    expect(accessItem(deployed('7.1.0', RETURNED_BY_6_0))).toMatchObject({ status: 'drift', detail: 'commands allowed that are not expected: geosearchstore' });
  });

  it('an unknown version (no member cluster found) is evaluated on the whole table', () => {
    expect(accessItem(deployed(undefined, RETURNED_BY_6_0))).toMatchObject({ status: 'drift', detail: 'commands allowed that are not expected: geosearchstore' });
  });
});
