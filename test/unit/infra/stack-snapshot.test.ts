import { describe, expect, it } from 'vitest';
import { synth } from '../../support/synth.js';

/** Asset hashes change with every aws-cdk-lib release; they are not what this tripwire guards. */
function maskAssetHashes(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}(\.zip|\.json)?/g, '<asset-hash>$1'));
}

describe('stack: tripwire', () => {
  it('the default stack template has not changed unexpectedly (review and update with `npx vitest -u`)', () => {
    expect(maskAssetHashes(synth().template.toJSON())).toMatchSnapshot();
  });
});

// A review of stack updates: a logical id that changes (a construct renamed in a refactor) replaces the
// resource. The caches, users and user groups have custom names, so that fails the deploy; a secret is
// replaced silently (a new password, a new key-encryption key: the ring in Redis unreadable). The ids
// of everything that holds data, in the configurations the default snapshot does not cover.
describe('stack: the logical ids of what holds data stay', () => {
  const STATEFUL = ['AWS::ElastiCache::ReplicationGroup', 'AWS::ElastiCache::ServerlessCache', 'AWS::ElastiCache::User', 'AWS::ElastiCache::UserGroup', 'AWS::SecretsManager::Secret'];
  const ids = (kcc: unknown) => {
    const resources = synth(kcc).template.toJSON().Resources as Record<string, { Type: string }>;
    return Object.entries(resources).filter(([, r]) => STATEFUL.includes(r.Type)).map(([id, r]) => `${r.Type} ${id}`).sort();
  };

  it('serverless, an app-env on IAM and one on a password', () => {
    expect(ids({ deployment: 'serverless', apps: [{ name: 'my-app', envs: ['prod'], auth: 'iam' }, { name: 'other', envs: ['prod'] }] })).toMatchInlineSnapshot(`
      [
        "AWS::ElastiCache::ServerlessCache Cache18F6EE16",
        "AWS::ElastiCache::User CacheDefaultUserE58206CD",
        "AWS::ElastiCache::User CacheIamUsermyappprodBC5EE44A",
        "AWS::ElastiCache::User CacheUserotherprodD83942A6",
        "AWS::ElastiCache::UserGroup CacheUserGroup978A79CF",
        "AWS::SecretsManager::Secret CacheDefaultUserSecret31F27671",
        "AWS::SecretsManager::Secret CacheKekmyappprodSecret8ACF44AB",
        "AWS::SecretsManager::Secret CacheKekotherprodSecretC9679CA8",
        "AWS::SecretsManager::Secret CacheUserotherprodSecret76470F75",
      ]
    `);
  });

  it('cluster mode (shards), two apps', () => {
    expect(ids({ apps: ['my-app', 'other'], shards: 2 })).toMatchInlineSnapshot(`
      [
        "AWS::ElastiCache::ReplicationGroup Cache18F6EE16",
        "AWS::ElastiCache::User CacheDefaultUserE58206CD",
        "AWS::ElastiCache::User CacheUsermyappdev563FE677",
        "AWS::ElastiCache::User CacheUsermyappprod78DDA173",
        "AWS::ElastiCache::User CacheUserotherdev36EC0F34",
        "AWS::ElastiCache::User CacheUserotherprodD83942A6",
        "AWS::ElastiCache::UserGroup CacheUserGroup978A79CF",
        "AWS::SecretsManager::Secret CacheDefaultUserSecret31F27671",
        "AWS::SecretsManager::Secret CacheKekmyappdevSecret9A4A0FF3",
        "AWS::SecretsManager::Secret CacheKekmyappprodSecret8ACF44AB",
        "AWS::SecretsManager::Secret CacheKekotherdevSecret114A175A",
        "AWS::SecretsManager::Secret CacheKekotherprodSecretC9679CA8",
        "AWS::SecretsManager::Secret CacheUsermyappdevSecretB5865A23",
        "AWS::SecretsManager::Secret CacheUsermyappprodSecret8B6D0237",
        "AWS::SecretsManager::Secret CacheUserotherdevSecret29BE5760",
        "AWS::SecretsManager::Secret CacheUserotherprodSecret76470F75",
      ]
    `);
  });
});
