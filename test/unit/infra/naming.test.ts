import { describe, expect, it } from 'vitest';
import {
  accessPermissions,
  appEnvAccessString,
  appEnvIamUserName,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  storedAccessString,
  hashTag,
  identifierProblem,
  keyPrefix,
  keyPrefixOfUser,
} from '../../../client/src/contract/naming.js';

const myAppProd = { app: 'my-app', env: 'prod' };

describe('naming: names and prefixes', () => {
  it('builds user name, key prefix and hash tag from app and env', () => {
    expect(appEnvUserName(myAppProd)).toBe('my-app-prod');
    expect(keyPrefix(myAppProd)).toBe('my-app-prod:');
    expect(hashTag(myAppProd)).toBe('{my-app-prod}');
    expect(keyPrefixOfUser('my-app-prod')).toBe('my-app-prod:');
    expect(keyPrefixOfUser('default')).toBeUndefined();
  });

  it.each([
    ['My-app', 'must start with a lowercase letter'],
    ['1app', 'must start with a lowercase letter'],
    ['my--app', 'two consecutive hyphens'],
    ['my-app-', 'must not end with a hyphen'],
    ['my_app', 'must start with a lowercase letter and contain only'],
    ['', 'must not be empty'],
    ['a'.repeat(41), 'at most 40 characters'],
  ])('refuses identifier %j (%s)', (value, message) => {
    expect(identifierProblem(value)).toContain(message);
  });

  it('refuses an app-env whose combined user id breaks the rules', () => {
    expect(() => appEnvUserName({ app: 'a'.repeat(36), env: 'prod' })).toThrow(/at most 40 characters/);
    expect(() => keyPrefix({ app: 'my-app', env: 'Prod' })).toThrow(/must start with a lowercase letter/);
  });
});

describe('naming: access strings', () => {
  it('fills in the setup guide template exactly', () => {
    expect(appEnvAccessString(myAppProd)).toBe(
      'on clearselectors resetkeys ~my-app-prod:* resetchannels &my-app-prod:* -@all +@fast +@pubsub +@keyspace ' +
        '+@string +@read +@write +@scripting -@dangerous +client|setname +info',
    );
  });

  it('appends CLUSTER SLOTS in cluster mode and the denials in the hardened profile', () => {
    const guide = appEnvAccessString(myAppProd);
    expect(appEnvAccessString(myAppProd, { clusterMode: true })).toBe(`${guide} +cluster|slots`);
    expect(appEnvAccessString(myAppProd, { profile: 'hardened' })).toBe(
      `${guide} -scan -randomkey -dbsize -pubsub -@scripting +eval +evalsha -select -copy -move`,
    );
    // No MOVE in cluster mode: one database only, and ElastiCache Serverless refuses a string naming it.
    expect(appEnvAccessString(myAppProd, { profile: 'hardened', clusterMode: true })).toBe(
      `${guide} +cluster|slots -scan -randomkey -dbsize -pubsub -@scripting +eval +evalsha -select -copy`,
    );
  });

  it('builds the default user strings', () => {
    expect(defaultUserAccessString(true)).toBe('on ~* &* +@all');
    expect(defaultUserAccessString(false)).toBe('off ~* &* +@all');
  });

  it('compares permissions without the directives ElastiCache drops', () => {
    const stored = 'on ~my-app-prod:* &my-app-prod:* -@all +@fast +@pubsub +@keyspace +@string +@read +@write +@scripting -@dangerous +client|setname +info';
    expect(accessPermissions(appEnvAccessString(myAppProd))).toEqual(accessPermissions(stored));
    expect(accessPermissions(appEnvAccessString(myAppProd, { profile: 'hardened' }))).not.toEqual(accessPermissions(stored));
  });
});

describe('naming: per-stack ids and the stored access string', () => {
  it('puts the stack\'s namespace before user and user-group ids; user names stay <app>-<env>', () => {
    expect(appEnvUserId('kcc-redis', myAppProd)).toBe('kcc-redis-my-app-prod');
    expect(appEnvUserId('kcc-staging', myAppProd)).not.toBe(appEnvUserId('kcc-redis', myAppProd));
    expect(defaultAdminUserId('kcc-redis')).toBe('kcc-redis-admin');
    expect(defaultUserGroupId('kcc-redis')).toBe('kcc-redis-users');
    expect(() => appEnvUserId('a'.repeat(30), myAppProd)).toThrow(/ElastiCache id "a{30}-my-app-prod" must be at most 40 characters/);
  });

  it('names an IAM user (id = name) with the namespace and an -iam suffix, apart from the password user; its prefix stays <app>-<env>:', () => {
    expect(appEnvIamUserName('kcc-redis', myAppProd)).toBe('kcc-redis-my-app-prod-iam');
    expect(appEnvIamUserName('kcc-redis', myAppProd)).not.toBe(appEnvUserId('kcc-redis', myAppProd));
    expect(appEnvIamUserName('kcc-staging', myAppProd)).not.toBe(appEnvIamUserName('kcc-redis', myAppProd));
    expect(keyPrefixOfUser(appEnvIamUserName('kcc-redis', myAppProd))).not.toBe(keyPrefix(myAppProd));
    expect(() => appEnvIamUserName('a'.repeat(27), myAppProd)).toThrow(/ElastiCache id "a{27}-my-app-prod-iam" must be at most 40 characters/);
  });

  it('drops clearselectors and resetkeys, keeps resetchannels before the channel pattern (ElastiCache: acl-pubsub-default allchannels) and every permission in order', () => {
    expect(storedAccessString(appEnvAccessString(myAppProd))).toBe(
      'on ~my-app-prod:* resetchannels &my-app-prod:* -@all +@fast +@pubsub +@keyspace +@string +@read +@write +@scripting -@dangerous +client|setname +info',
    );
    const hardened = appEnvAccessString(myAppProd, { profile: 'hardened', clusterMode: true });
    expect(storedAccessString(hardened)).toBe(hardened.replace(' clearselectors resetkeys', ''));
    expect(storedAccessString(hardened)).toContain(' resetchannels &my-app-prod:* ');
    expect(accessPermissions(storedAccessString(hardened))).toEqual(accessPermissions(hardened));
    expect(storedAccessString('off ~* &* +@all')).toBe('off ~* &* +@all');
  });
});
